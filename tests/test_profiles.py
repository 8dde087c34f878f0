"""Best customers, attribute profiles, titles, persona card, lead scores and segment movement:
hand-computed cases, properties, and recovery of the profile planted in the sample data."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.settings import Settings
from pipeline.stages import choose_best_customers
from transforms.leads import conversion_auc, lead_scores
from transforms.persona_cards import representative_quote, top_values
from transforms.profiles import (
    attribute_profile,
    bands,
    best_customers,
    normalise_titles,
    persona_name,
    title_ladder,
    wilson_interval,
)
from transforms.transitions import segment_transitions

MONEY = pl.Decimal(38, 4)


def key_tier_customers() -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e", "f"],
            "tier": ["Large"] * 5 + ["Small"],
            "revenue": pl.Series([Decimal(v) for v in (500, 400, 300, 200, 100, 50)], dtype=MONEY),
            "tenure_days": [100, 900, 800, 50, 700, 999],
            "recency_days": [10, 400, 20, 5, 30, 1],
        }
    ).with_columns(  # the five Large customers bought only in the key tier; f never did
        key_tier_revenue=pl.when(pl.col("tier") == "Large")
        .then(pl.col("revenue"))
        .otherwise(pl.lit(0).cast(MONEY))
    )


def best_of(frame: pl.LazyFrame, **kwargs: object) -> tuple[list[str], str]:
    result = best_customers(frame, share=Decimal("0.4"), **kwargs).collect()  # type: ignore[arg-type]
    chosen = sorted(result.filter("is_best_customer")["customer_id"].to_list())
    return chosen, result["best_basis"][0]


def test_profit_goal_takes_the_most_profitable_of_the_key_tier() -> None:
    profit = pl.LazyFrame(
        {"customer_id": ["a", "b", "c", "d", "e", "f"], "gross_profit": [10, 90, 80, 70, 5, 999]}
    )
    # ceil(0.4 × 5 key-tier customers) = 2; f is Small, never chosen
    assert best_of(key_tier_customers(), goal="profit", profit=profit) == (
        ["b", "c"],
        "profit: gross profit",
    )


def test_best_customers_are_ranked_on_their_key_tier_sales_not_their_total() -> None:
    # g has the largest total (a Gold buyer) but only 150 of Small sales; the key tier is
    # Small: among its buyers, h (300 of Small sales) ranks first, then g
    frame = pl.LazyFrame(
        {
            "customer_id": ["g", "h", "i", "j"],
            "tier": ["Large", "Small", "Small", "Medium"],
            "revenue": pl.Series([Decimal(v) for v in (20_150, 300, 100, 900)], dtype=MONEY),
            "key_tier_revenue": pl.Series([Decimal(v) for v in (150, 300, 100, 0)], dtype=MONEY),
            "tenure_days": [1, 2, 3, 4],
            "recency_days": [1, 2, 3, 4],
        }
    )
    result = best_customers(frame, goal="profit", share=Decimal("0.5")).collect()
    # ceil(0.5 × 3 buyers of the key tier) = 2; j never bought in it
    assert sorted(result.filter("is_best_customer")["customer_id"]) == ["g", "h"]
    assert result.filter(pl.col("customer_id") == "j")["is_best_customer"].item() is False


def test_a_small_best_set_is_widened_in_rank_order_when_asked() -> None:
    # ceil(0.4 × 5) = 2, widened to 4 of the 5 key-tier buyers in rank order; never f
    chosen, _ = best_of(key_tier_customers(), goal="profit", min_customers=4)
    assert chosen == ["a", "b", "c", "d"]
    chosen, _ = best_of(key_tier_customers(), goal="profit", min_customers=30)
    assert chosen == ["a", "b", "c", "d", "e"]  # the whole key tier, no more


def test_profit_goal_without_costs_falls_back_to_revenue_and_says_so() -> None:
    chosen, basis = best_of(key_tier_customers(), goal="profit", profit=None)
    assert chosen == ["a", "b"]
    assert "fallback" in basis


def test_loyalty_goal_takes_the_longest_tenure_among_the_still_active() -> None:
    # b has the longest tenure but has not bought for 400 days: not active
    assert best_of(key_tier_customers(), goal="loyalty", active_days=365) == (
        ["c", "e"],
        "loyalty: tenure of customers active in the last 365 days",
    )


def test_growth_goal_takes_the_fastest_from_lead_to_first_order() -> None:
    lead_days = pl.LazyFrame({"customer_id": ["a", "c", "d"], "lead_to_order_days": [30, 3, 10]})
    chosen, basis = best_of(key_tier_customers(), goal="growth", lead_days=lead_days)
    assert (chosen, basis) == (["c", "d"], "growth: days from lead to first order")


def test_growth_goal_without_leads_falls_back_to_revenue() -> None:
    chosen, basis = best_of(key_tier_customers(), goal="growth", lead_days=None)
    assert chosen == ["a", "b"]
    assert basis.startswith("growth: key-tier sales (fallback")


def population(best: list[bool], industry: list[str | None]) -> pl.LazyFrame:
    return pl.LazyFrame({"is_best": best, "industry": industry})


def test_support_lift_and_privacy_guard_by_hand() -> None:
    # 10 best of 40: software is 8 of the best, 10 of all; retail 2 of the best, 30 of all
    best = [True] * 10 + [False] * 30
    industry = ["software"] * 8 + ["retail"] * 2 + ["software"] * 2 + ["retail"] * 28
    profile = attribute_profile(
        population(best, industry), attributes=["industry"], min_people=5
    ).collect()
    assert profile["value"].to_list() == ["software"]  # retail: only 2 best < k = 5, withheld
    row = profile.row(0, named=True)
    assert row["customers"] == 8
    assert row["support"] == pytest.approx(0.8)
    assert row["population_share"] == pytest.approx(10 / 40)
    assert row["lift"] == pytest.approx(0.8 / 0.25)
    interval = wilson_interval(pl.lit(8), pl.lit(10))  # Wilson 95%: 0.490–0.943
    low, high = pl.select(interval[0].alias("low"), interval[1].alias("high")).row(0)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert row["is_distinguishing"] is True


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.sampled_from(["a", "b", "c", None])), min_size=1, max_size=60
    )
)
def test_support_is_a_share_and_lift_is_support_over_population_share(
    rows: list[tuple[bool, str | None]],
) -> None:
    best, industry = (list(column) for column in zip(*rows, strict=True))
    profile = attribute_profile(population(best, industry), attributes=["industry"], min_people=1)
    frame = profile.collect()
    assert frame["support"].is_between(0, 1).all()
    for row in frame.iter_rows(named=True):
        assert row["lift"] == pytest.approx(row["support"] / row["population_share"])
        assert row["ci_low"] <= row["support"] <= row["ci_high"]


@pytest.mark.parametrize(
    ("title", "level", "role"),
    [
        ("Tổng giám đốc", "N", "executive"),
        ("CEO", "N", "executive"),
        ("Giám đốc Marketing", "N-1", "marketing"),
        ("Giám đốc Tài chính", "N-1", "finance"),
        ("Head of Procurement", "N-1", "procurement"),
        ("Trưởng phòng Kinh doanh", "N-2", "sales"),
        ("Marketing Manager", "N-2", "marketing"),
        ("Phó phòng Nhân sự", "N-3", "human resources"),
        ("Chuyên viên Mua hàng", "N-4", "procurement"),
        ("Nghệ sĩ", None, None),
    ],
)
def test_titles_are_normalised_to_level_below_the_ceo_and_role(
    title: str, level: str | None, role: str | None
) -> None:
    result = normalise_titles(pl.LazyFrame({"title": [title]})).collect()
    assert result.row(0, named=True) == {"title": title, "title_level": level, "title_role": role}


def test_a_level_given_in_the_data_wins_over_the_title() -> None:
    frame = pl.LazyFrame({"title": ["Giám đốc Marketing"], "level": ["n-2"]})
    assert normalise_titles(frame).collect()["title_level"].item() == "N-2"


def test_bands_are_half_open_and_the_last_is_open_ended() -> None:
    frame = pl.DataFrame({"n": [0, 1, 9, 10, 49, 50, 1000, None]})
    labels = frame.select(bands("n", [1, 10, 50]).alias("band"))["band"].to_list()
    assert labels == [None, "1-9", "1-9", "10-49", "10-49", "50+", "50+", None]


def test_persona_name_is_made_of_title_industry_and_city() -> None:
    target = pl.DataFrame(
        {
            "attribute": ["major", "title", "industry", "city", "region"],
            "value": ["Marketing", "Giám đốc Marketing", "Phần mềm", "TP HCM", "Miền Nam"],
            "lift": [3.0, 3.8, 3.9, 2.7, 2.3],
        }
    )
    assert persona_name(target) == "Giám đốc Marketing · Phần mềm · TP HCM"
    assert persona_name(target.clear()).startswith("Key-tier customers")


def test_feedback_top_values_with_shares() -> None:
    rows = pl.LazyFrame({"goal": ["grow", "grow", "save", None], "pain_point": ["x"] * 4})
    result = top_values(rows, fields=["goal", "pain_point", "motivation"]).collect()
    assert result.row(0) == ("grow (67%); save (33%)", "x (100%)", None)


def test_the_quote_is_a_real_answer_chosen_by_the_documented_rule() -> None:
    feedback = pl.LazyFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "goal": ["grow", "grow", "grow", "save", "grow"],
            "pain_point": ["silos", "silos", "silos", "silos", "price"],
            "score": [9, 5, 7, 7, 7],
            "created_at": [datetime(2026, 1, d) for d in (1, 2, 3, 4, 5)],
            "text": ["Great.", "Meh.", "Data in one place at last.", "Cheaper please.", "Costly."],
        }
    )
    # most frequent goal grow, pain point silos → a, b, c; median score 7 → c
    quote = representative_quote(feedback).collect()
    assert quote.row(0) == ("Data in one place at last.", "c")


def target_rows() -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "attribute": ["industry", "city", "title"],
            "value": ["software", "HCM", "CMO"],
            "lift": [math.e, math.e**2, 5.0],
            "source": ["company", "company", "buyer"],
        }
    )


def test_lead_fit_weights_matched_values_by_log_lift() -> None:
    leads = pl.LazyFrame(
        {
            "lead_id": ["1", "2", "3", "4"],
            "industry": ["software", "software", "retail", None],
            "city": ["HCM", "Hà Nội", "HCM", None],
            "converted_customer_id": ["c1", None, "c2", None],
        }
    )
    scores = lead_scores(leads, target_rows(), persona_id="P1", threshold=0.5).collect()
    # weights ln(e) = 1 and ln(e²) = 2; the buyer's title is not a lead attribute
    assert scores["fit_score"].to_list() == pytest.approx([1.0, 1 / 3, 2 / 3, 0.0])
    assert scores["is_target"].to_list() == [True, False, True, False]
    assert scores["matched_persona_id"].to_list() == ["P1", None, "P1", None]
    assert scores["matched_attributes"][0] == "city=HCM; industry=software"
    # AUC: converted fits 1 and 2/3 are both above unconverted 1/3 and 0
    auc = conversion_auc(scores.lazy(), leads).collect().row(0, named=True)
    assert auc == {"auc": 1.0, "converted": 2, "unconverted": 2}
    # leads that do not say which converted: no AUC, and no failure
    unlabelled = leads.drop("converted_customer_id")
    auc = conversion_auc(scores.lazy(), unlabelled).collect().row(0, named=True)
    assert auc == {"auc": None, "converted": None, "unconverted": None}


def test_segment_transitions_count_moves_new_and_lost_customers() -> None:
    before = pl.LazyFrame(
        {
            "customer_id": ["a", "b", "c"],
            "revenue": pl.Series([Decimal(1), Decimal(2), Decimal(4)], dtype=MONEY),
            "tier": ["Small", "Large", "Medium"],
        }
    )
    after = pl.LazyFrame(
        {
            "customer_id": ["a", "b", "d"],
            "revenue": pl.Series([Decimal(10), Decimal(20), Decimal(40)], dtype=MONEY),
            "tier": ["Large", "Large", "Small"],
        }
    )
    moves = segment_transitions(before, after, bases=[("tier", "tier")]).collect()
    assert moves.rows() == [
        ("tier", "(new)", "Small", 1, Decimal(40)),
        ("tier", "Large", "Large", 1, Decimal(20)),
        ("tier", "Medium", "(lost)", 1, Decimal(4)),
        ("tier", "Small", "Large", 1, Decimal(10)),
    ]
    # a first refresh has nothing to compare with: no rows, not everyone "(new)"
    first = segment_transitions(None, after, bases=[("tier", "tier")]).collect()
    assert first.is_empty()
    assert first.schema["revenue"] == MONEY


@pytest.mark.parametrize(
    ("title", "level"),
    [
        ("CEO", "N"),
        ("Marketing Manager", "N-1"),  # the method: a manager is N-1
        ("Trưởng phòng Kinh doanh", "N-1"),
        ("Team Lead", "N-2"),
        ("Trưởng nhóm bán hàng", "N-2"),
        ("Team member", "N-3"),
        ("Nhân viên kinh doanh", "N-3"),
    ],
)
def test_the_method_ladder_ceo_manager_lead_member(title: str, level: str) -> None:
    frame = pl.LazyFrame({"title": [title]})
    ladder = title_ladder("method")
    assert normalise_titles(frame, ladder).collect()["title_level"].item() == level


def test_a_ladder_of_ones_own_matches_whole_words_first_level_first() -> None:
    ladder = title_ladder(
        "default", {"N": ["chủ tịch", "president"], "N-1": ["vice president", "vp"]}
    )
    titles = pl.LazyFrame({"title": ["Chủ tịch HĐQT", "VP Sales", "Vice President", "MVP"]})
    levels = normalise_titles(titles, ladder).collect()["title_level"].to_list()
    # first level first: "vice president" holds "president", so it is N as configured
    assert levels == ["N", "N-1", "N", None]


def profit_goal_settings() -> Settings:
    """The profit goal, half of the candidates kept."""
    return Settings.model_validate(
        {
            "sources": {"orders": {"path": "x.csv"}},
            "personas": {"goal": "profit", "best_share": "0.5"},
        }
    )


def test_best_customers_by_profit_read_the_costed_key_tier_sales_in_one_pass() -> None:
    money = pl.Decimal(38, 2)
    # Purchases in two groups of whole customers: a's Large sales are 100 (costed, profit
    # 30) and 50 (no cost); b's are 80 with no cost at all; c's 60 (profit 45) and a
    # Medium sale (profit 999) that is not in the key tier; d bought only Medium.
    rows = [
        ("a", "Large", "100", True, "30"),
        ("a", "Large", "50", False, None),
        ("c", "Large", "60", True, "45"),
        ("c", "Medium", "500", True, "999"),
        ("b", "Large", "80", False, None),
        ("d", "Medium", "70", True, "20"),
    ]
    purchases = pl.LazyFrame(
        rows,
        schema=["customer_id", "sale_tier", "amount", "costed", "costed_profit"],
        orient="row",
    ).with_columns(pl.col("amount", "costed_profit").cast(money))
    groups = [
        purchases.filter(pl.col("customer_id").is_in(["a", "b"])),
        purchases.filter(pl.col("customer_id").is_in(["c", "d"])),
    ]
    customers = pl.LazyFrame(
        {"customer_id": ["a", "b", "c", "d"], "tenure_days": [10] * 4, "recency_days": [1] * 4}
    )
    settings_ = profit_goal_settings()
    found = (
        choose_best_customers(customers, groups, None, settings_, key_tier="Large")
        .sort("customer_id")
        .collect()
    )
    # By hand: key-tier sales a 150, b 80, c 60, d 0; gross profit of the costed ones:
    # a 30, c 45 (b has no cost: no profit; c's Medium profit is not the key tier's).
    assert found["key_tier_revenue"].to_list() == [
        Decimal("150"),
        Decimal("80"),
        Decimal("60"),
        Decimal("0"),
    ]
    assert found["gross_profit"].to_list() == [Decimal("30"), None, Decimal("45"), None]
    # Half of the three candidates, rounded up: the two by profit, c (45) then a (30).
    assert found["is_best_customer"].to_list() == [True, False, True, False]
    assert set(found["best_basis"]) == {"profit: gross profit"}


def test_best_customers_by_profit_fall_back_to_sales_when_no_sale_carries_a_cost() -> None:
    purchases = pl.LazyFrame(
        {
            "customer_id": ["a", "b"],
            "sale_tier": ["Large", "Large"],
            "amount": [Decimal("5"), Decimal("9")],
            "costed": [False, False],
            "costed_profit": [None, None],
        },
        schema_overrides={"amount": pl.Decimal(38, 2), "costed_profit": pl.Decimal(38, 2)},
    )
    customers = pl.LazyFrame(
        {"customer_id": ["a", "b"], "tenure_days": [1, 1], "recency_days": [1, 1]}
    )
    settings_ = profit_goal_settings()
    found = (
        choose_best_customers(customers, [purchases], None, settings_, key_tier="Large")
        .sort("customer_id")
        .collect()
    )
    assert "gross_profit" not in found.columns
    assert found["is_best_customer"].to_list() == [False, True]
    assert set(found["best_basis"]) == {
        "profit: key-tier sales (fallback: the orders carry no cost)"
    }
