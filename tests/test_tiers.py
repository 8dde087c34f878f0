"""Tiers by purchase size, the key tier from sales, near-equal tiers decided, profiles that
never learn noise: the method's worked examples and hand-made cases, computed by hand."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import read_view, without_prefect
from transforms.customer_metrics import customer_metrics, valid_order_lines
from transforms.key_tier import _second_order_days
from transforms.pareto import pareto_ranks
from transforms.persona_cards import purchase_habits, top_purchases
from transforms.profiles import controlled, scored_purchases, scored_values
from transforms.purchases import purchases_of_lines
from transforms.revenue_tiers import Tiering, TierRule, dominant_sale_tiers, tier_revenue
from transforms.size_bands import natural_bounds, roundest_between
from transforms.staging import stage_orders

AS_OF = date(2024, 6, 1)
MILLION = 1_000_000


def staged(rows: dict[str, list[str]]) -> pl.LazyFrame:
    frame = pl.DataFrame(rows, schema=dict.fromkeys(rows, pl.String))
    return stage_orders(frame.lazy().with_row_index("_row_number", offset=1), scale=4)


def tiering_of(
    orders: pl.LazyFrame,
    *,
    products: pl.LazyFrame | None = None,
    lead_days: pl.LazyFrame | None = None,
    **rule: object,
) -> Tiering:
    ranked = pareto_ranks(
        customer_metrics(orders, as_of=AS_OF),
        class_a_share=Decimal("0.8"),
        class_b_share=Decimal("0.95"),
    )
    lines = valid_order_lines(orders, as_of=AS_OF).collect().lazy()
    return tier_revenue(
        ranked, lines, TierRule(**rule), as_of=AS_OF, products=products, lead_days=lead_days
    )


def by_tier(tiering: Tiering, column: str) -> dict[str, object]:
    return dict(tiering.summary.select("tier", column).rows())


def domain_example() -> pl.LazyFrame:
    """The method's example: 20 Bronze (5M) + 3 Silver (10M) + 1 Gold (20M) sales."""
    prices = [5] * 20 + [10] * 3 + [20]
    return staged(
        {
            "customer_id": [f"{i:03d}" for i in range(24)],
            "order_id": [f"o{i}" for i in range(24)],
            "order_date": ["2024-03-01"] * 24,
            "amount": [str(p * MILLION) for p in prices],
        }
    )


# --- step 1: tiers by purchase size ----------------------------------------------------------


def test_the_default_rule_finds_the_method_example_by_order_value_small_100m_of_150m() -> None:
    tiering = tiering_of(domain_example())  # order_value, bounds derived from the data
    assert by_tier(tiering, "sales_revenue") == {
        "Large": Decimal(20 * MILLION),
        "Medium": Decimal(30 * MILLION),
        "Small": Decimal(100 * MILLION),
    }
    assert by_tier(tiering, "purchases") == {"Large": 1, "Medium": 3, "Small": 20}
    assert tiering.key_tier == "Small"
    assert tiering.decision.decided_by == "majority"
    assert by_tier(tiering, "is_majority") == {"Large": False, "Medium": False, "Small": True}
    # bounds published: the roundest numbers between the classes (5M | 10M | 20M)
    assert by_tier(tiering, "lower_bound") == {
        "Large": Decimal(20 * MILLION),
        "Medium": Decimal(10 * MILLION),
        "Small": None,
    }
    assert "natural breaks" in tiering.summary["bounds_basis"][0]


def test_quantity_per_purchase_1_to_5_6_to_20_21_up() -> None:
    orders = staged(
        {
            "customer_id": ["a", "b", "c", "d"],
            "order_id": ["1", "2", "3", "4"],
            "order_date": ["2024-01-01"] * 4,
            "quantity": ["5", "6", "20", "21"],
            "amount": ["50", "60", "200", "210"],
        }
    )
    tiering = tiering_of(orders, rule="quantity", medium_min_quantity=6, large_min_quantity=21)
    tiers = dict(tiering.customers.select("customer_id", "tier").collect().rows())
    assert tiers == {"a": "Small", "b": "Medium", "c": "Medium", "d": "Large"}
    assert by_tier(tiering, "sales_revenue") == {
        "Large": Decimal(210),
        "Medium": Decimal(260),
        "Small": Decimal(50),
    }
    assert by_tier(tiering, "lower_bound") == {"Large": 21, "Medium": 6, "Small": None}


def test_a_gold_and_five_bronze_customer_counts_in_both_tiers_sales() -> None:
    orders = staged(
        {
            "customer_id": ["g"] * 6 + ["x", "y"],
            "order_id": [f"g{i}" for i in range(6)] + ["x1", "y1"],
            "order_date": ["2024-02-01"] * 8,
            "amount": [str(20 * MILLION)] + [str(5 * MILLION)] * 5 + [str(10 * MILLION)] * 2,
        }
    )
    tiering = tiering_of(
        orders, medium_min_order_value=Decimal(10 * MILLION), large_min_order_value=20 * MILLION
    )
    assert by_tier(tiering, "buying_customers") == {"Large": 1, "Medium": 2, "Small": 1}
    assert by_tier(tiering, "sales_revenue") == {
        "Large": Decimal(20 * MILLION),
        "Medium": Decimal(20 * MILLION),
        "Small": Decimal(25 * MILLION),
    }
    customers = tiering.customers.collect()
    g = customers.filter(pl.col("customer_id") == "g").row(0, named=True)
    assert g["tier"] == "Small"  # 25M of Bronze beats 20M of Gold: its own tier
    assert by_tier(tiering, "customers") == {"Large": 0, "Medium": 2, "Small": 1}


def test_a_refund_counts_against_the_tier_of_its_size() -> None:
    orders = staged(
        {
            "customer_id": ["a", "a", "b"],
            "order_id": ["1", "2", "3"],
            "order_date": ["2024-01-01", "2024-01-05", "2024-01-01"],
            "amount": ["300", "-300", "50"],
        }
    )
    tiering = tiering_of(orders, medium_min_order_value=Decimal(100), large_min_order_value=200)
    assert by_tier(tiering, "sales_revenue")["Large"] == 0
    assert by_tier(tiering, "purchases") == {"Large": 1, "Medium": 0, "Small": 1}


def test_roundest_number_between_two_classes() -> None:
    assert roundest_between(Decimal(5_500_000), Decimal(9_500_000)) == Decimal(6_000_000)
    assert roundest_between(Decimal(5 * MILLION), Decimal(10 * MILLION)) == Decimal(10 * MILLION)
    assert roundest_between(Decimal("123.4"), Decimal("123.45")) == Decimal("123.41")
    assert roundest_between(Decimal(0), Decimal(7)) == Decimal(1)


def test_natural_bounds_recover_three_planted_price_clusters_of_unequal_sizes() -> None:
    rng = np.random.default_rng(7)
    # 600 small (~2M), 300 medium (~15M), 60 large (~120M) purchases, ±10% noise
    sizes = np.concatenate(
        [
            rng.uniform(1.8e6, 2.2e6, 600),
            rng.uniform(13.5e6, 16.5e6, 300),
            rng.uniform(108e6, 132e6, 60),
        ]
    )
    frame = pl.LazyFrame({"size": [Decimal(int(s)) for s in sizes]})
    bounds = natural_bounds(frame, basis="order value")
    assert bounds is not None
    assert Decimal("2.2e6") < bounds.medium_from <= Decimal("13.5e6")
    assert Decimal("16.5e6") < bounds.large_from <= Decimal("108e6")
    # the same on a continuous scale past the exact limit (binned), still three classes
    many = pl.LazyFrame(
        {"size": [Decimal(int(s)) + Decimal(i) / 100 for i, s in enumerate(np.tile(sizes, 3))]}
    )
    binned = natural_bounds(many, basis="order value")
    assert binned is not None and "log bins" in binned.derivation
    assert Decimal("2.2e6") < binned.medium_from <= Decimal("13.5e6")
    assert Decimal("16.5e6") < binned.large_from <= Decimal("108e6")


@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    groups=st.integers(2, 9),
    purchases=st.sampled_from([40, 1_500, 7_000]),
)
def test_natural_bounds_of_groups_are_those_of_all_the_purchases(
    seed: int, groups: int, purchases: int
) -> None:
    """Measured a group at a time (only counts per size, or per log bin, come back), the
    cut points and their derivation are those of every purchase at once, on the exact
    path (few distinct sizes) and the binned one (7,000 distinct), with empty groups
    and sizes of 0 or below among them."""
    rng = np.random.default_rng(seed)
    cents = np.concatenate(
        [
            rng.choice([-500, 0, 120, 950], purchases // 10),
            rng.lognormal(12, 1.5, purchases - purchases // 10).astype(np.int64),
        ]
    )
    if purchases == 1_500:  # few distinct sizes, many purchases: the exact path
        cents = rng.choice(cents[:300], purchases)
    sizes = pl.DataFrame({"size": [Decimal(int(c)) / 100 for c in cents]})
    place = rng.integers(0, groups + 1, purchases)  # group `groups` left empty most times
    parts = [sizes.filter(pl.Series(place == number)).lazy() for number in range(groups + 1)]
    whole = natural_bounds(sizes.lazy(), basis="order value")
    assert natural_bounds(parts, basis="order value") == whole
    assert whole is not None and ("log bins" in whole.derivation) == (purchases == 7_000)


# --- step 2: near-equal tiers decided ---------------------------------------------------------


def near_equal_orders() -> pl.LazyFrame:
    """Large 41M (2 purchases), Medium 43M (4), Small 40M (8): 33.1% / 34.7% / 32.3%.

    Small's four customers each bought twice (repeat 100%); Medium's purchases were paid
    on time, Large's and Small's late.
    """
    rows: dict[str, list[str]] = {
        k: [] for k in ("customer_id", "order_id", "order_date", "amount", "due_date", "paid_at")
    }

    def sale(customer: str, order: str, day: str, millions: int, paid: str) -> None:
        rows["customer_id"].append(customer)
        rows["order_id"].append(order)
        rows["order_date"].append(day)
        rows["amount"].append(str(millions * MILLION))
        rows["due_date"].append("2024-03-31")
        rows["paid_at"].append(paid)

    sale("L1", "l1", "2024-02-01", 20, "2024-04-15")
    sale("L2", "l2", "2024-02-01", 21, "2024-04-15")
    for i, millions in enumerate((12, 11, 10, 10)):
        sale(f"M{i}", f"m{i}", "2024-02-01", millions, "2024-03-01")
    for i in range(4):
        sale(f"S{i}", f"s{i}a", "2024-01-01", 5, "2024-04-20")
        sale(f"S{i}", f"s{i}b", "2024-01-20", 5, "2024-04-20")
    return staged(rows)


BANDS = {
    "medium_min_order_value": Decimal(10 * MILLION),
    "large_min_order_value": Decimal(20 * MILLION),
}


def test_near_equal_tiers_are_decided_by_repeat_rate() -> None:
    tiering = tiering_of(near_equal_orders(), preference="repeat_rate", **BANDS)
    assert by_tier(tiering, "repeat_rate") == {"Large": 0.0, "Medium": 0.0, "Small": 1.0}
    assert tiering.key_tier == "Small"
    assert tiering.decision.decided_by == "repeat_rate"
    assert tiering.decision.near_equal == ("Medium", "Large", "Small")
    assert "Small 100% bought again" in tiering.decision.reason
    assert tiering.summary["key_reason"].unique().to_list() == [tiering.decision.reason]
    assert not tiering.summary["is_majority"].any()


def test_near_equal_tiers_are_decided_by_paying_on_time() -> None:
    tiering = tiering_of(near_equal_orders(), preference="pays_on_time", **BANDS)
    assert by_tier(tiering, "paid_on_time_share") == {"Large": 0.0, "Medium": 1.0, "Small": 0.0}
    assert (tiering.key_tier, tiering.decision.decided_by) == ("Medium", "pays_on_time")
    assert "Medium 100% paid on time" in tiering.decision.reason


def test_near_equal_tiers_are_decided_by_the_fastest_deals() -> None:
    lead_days = pl.LazyFrame(
        {
            "customer_id": ["L1", "L2", "M0", "M1", "M2", "M3", "S0", "S1", "S2", "S3"],
            "lead_to_order_days": [40, 44, 30, 30, 31, 29, 2, 3, 4, 1],
        }
    )
    tiering = tiering_of(
        near_equal_orders(), preference="fastest_deals", lead_days=lead_days, **BANDS
    )
    assert by_tier(tiering, "deal_days") == {"Large": 42.0, "Medium": 30.0, "Small": 2.5}
    assert tiering.summary["deal_days_basis"][0] == "lead to first order"
    assert (tiering.key_tier, tiering.decision.decided_by) == ("Small", "fastest_deals")
    # without leads: days from first to second order, which only Small has: the fixed order
    without = tiering_of(near_equal_orders(), preference="fastest_deals", **BANDS)
    assert by_tier(without, "deal_days") == {"Large": None, "Medium": None, "Small": 19.0}
    assert (without.key_tier, without.decision.decided_by) == ("Large", "fixed order")
    assert "fastest_deals cannot decide" in without.decision.reason


def test_near_equal_tiers_are_decided_by_a_fixed_order() -> None:
    tiering = tiering_of(
        near_equal_orders(),
        preference="fixed",
        fixed_order=("Medium", "Small", "Large"),
        **BANDS,
    )
    assert (tiering.key_tier, tiering.decision.decided_by) == ("Medium", "fixed order")


def test_tiers_further_apart_than_the_margin_take_the_largest_sales() -> None:
    tiering = tiering_of(
        near_equal_orders(), preference="repeat_rate", near_equal_margin=0.005, **BANDS
    )
    assert (tiering.key_tier, tiering.decision.decided_by) == ("Medium", "largest sales")


def test_near_equal_tiers_re_cut_until_the_leader_passes_half() -> None:
    tiering = tiering_of(near_equal_orders(), recut=True, **BANDS)
    assert tiering.decision.decided_by == "re-cut"
    key = tiering.summary.filter("is_key_tier").row(0, named=True)
    assert key["tier"] == "Medium" and key["is_majority"]
    # Medium, the leader, takes Large's smallest purchase (20M): Large now starts at 21M
    assert by_tier(tiering, "lower_bound") == {
        "Large": Decimal(21 * MILLION),
        "Medium": Decimal(10 * MILLION),
        "Small": None,
    }
    assert key["sales_share"] == pytest.approx(63 / 124)
    assert "re-cut" in key["bounds_basis"]


def test_tiers_measured_over_groups_of_customers_equal_tiers_measured_whole() -> None:
    # A spilled refresh hands its purchases in groups of whole customers: the re-cut, the
    # sales, buyers and measures per tier add up the groups' (here L, M and S apart).
    orders = near_equal_orders()
    ranked = pareto_ranks(
        customer_metrics(orders, as_of=AS_OF),
        class_a_share=Decimal("0.8"),
        class_b_share=Decimal("0.95"),
    )
    lines = valid_order_lines(orders, as_of=AS_OF).collect().lazy()
    purchases = purchases_of_lines(lines).collect()
    groups = [purchases.filter(pl.col("customer_id").str.starts_with(g)).lazy() for g in "LMS"]
    rule = TierRule(recut=True, **BANDS)  # type: ignore[arg-type]
    whole = tier_revenue(ranked, lines, rule, as_of=AS_OF)
    split = tier_revenue(ranked, lines, rule, as_of=AS_OF, orders=groups)
    assert whole.decision.decided_by == "re-cut"
    assert split.decision == whole.decision
    assert split.summary.equals(whole.summary)
    assert (
        split.customers.collect()
        .sort("customer_id")
        .equals(whole.customers.collect().sort("customer_id"))
    )


# --- step 3 and the profiles ------------------------------------------------------------------


def test_noise_attributes_never_survive_a_small_best_set_but_the_planted_one_does() -> None:
    rng = np.random.default_rng(12)
    customers, best = 400, 25
    is_best = np.zeros(customers, dtype=bool)
    is_best[:best] = True
    columns: dict[str, object] = {"is_best": is_best}
    for i in range(60):  # pure noise: three values, uniform, independent of is_best
        columns[f"noise_{i:02d}"] = rng.choice(["a", "b", "c"], customers).tolist()
    industry = np.where(rng.random(customers) < 0.2, "Retail", "Other")
    industry[:best] = np.where(rng.random(best) < 0.8, "Retail", "Other")
    columns["industry"] = industry.tolist()
    population = pl.LazyFrame(columns)
    attributes = ["industry", *(f"noise_{i:02d}" for i in range(60))]
    tested = scored_values(population, attributes=attributes).collect()
    # without the control, noise passes support, lift and p < 0.05: the test can fail
    raw = tested.filter(
        pl.col("attribute").str.starts_with("noise")
        & (pl.col("support") >= 0.3)
        & (pl.col("lift") >= 1.2)
        & (pl.col("p_value") < 0.05)
    )
    assert raw.height > 0
    (profile,) = controlled(
        [tested], min_support=0.3, min_lift=1.2, min_people=5, false_discovery_rate=0.05
    )
    kept = profile.filter("is_distinguishing").select("attribute", "value").rows()
    assert kept == [("industry", "Retail")]


def test_a_tiny_best_set_is_flagged_in_the_card_the_notes_and_the_summary(
    orders_only: Path, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "refresh",
            "--config",
            str(orders_only),
            "--as-of",
            "2024-06-01",
        ],
        env=without_prefect(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "warning: too few best customers to profile (n = 1, minimum 30)" in result.stdout
    assert "Key tier " in result.stdout
    [(note,)] = read_view(orders_only.parent, "select profile_note from personas.persona_cards")
    assert note == "too few best customers to profile (n = 1, minimum 30)"
    [(notes,)] = read_view(orders_only.parent, "select notes from personas.refresh_runs")
    assert "persona P1: too few best customers to profile (n = 1" in notes
    assert "key tier " in notes


def test_what_best_customers_buy_and_how_they_behave_by_hand() -> None:
    orders = staged(
        {
            "customer_id": ["a", "a", "b", "c", "c", "c", "d", "d"],
            "order_id": [f"o{i}" for i in range(1, 9)],
            "order_date": ["2024-01-01"] * 8,
            "product_id": ["P1", "P2", "P1", "P2", "P2", "P3", "P1", "P1"],
            "amount": ["100", "50", "200", "10", "20", "30", "40", "40"],
        }
    )
    lines = valid_order_lines(orders, as_of=AS_OF)
    customers = pl.LazyFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "is_best": [True, True, False, False],
            "order_count": [2, 1, 3, 2],
        }
    )
    products = pl.LazyFrame({"product_id": ["P1", "P2", "P3"], "category": ["CRM", "ERP", "Web"]})
    scored = scored_purchases(customers, lines, products=products).collect()
    (purchased,) = controlled(
        [scored], min_support=0.3, min_lift=1.2, min_people=1, false_discovery_rate=0.05
    )
    # CRM: both best customers (100%) vs 3 of 4 customers: lift 1 / 0.75 = 1.33;
    # ERP: 1 of 2 best (50%) vs 2 of 4: lift 1.0; Web: no best customer bought it
    shares = {
        v: (n, s, p)
        for v, n, s, p in purchased.select(
            "value", "customers", "support", "population_share"
        ).rows()
    }
    assert shares == {"CRM": (2, 1.0, 0.75), "ERP": (1, 0.5, 0.5)}
    assert purchased["attribute"].unique().to_list() == ["category"]
    assert top_purchases(purchased) == "CRM (100%, lift 1.33); ERP (50%, lift 1.0)"
    habits = purchase_habits(purchases_of_lines(lines), customers).collect().row(0, named=True)
    assert habits == {
        "top_purchases": None,  # the card takes it from the purchase profile
        "best_repeat_rate": 0.5,  # a of a, b
        "others_repeat_rate": 1.0,  # c and d
        "best_median_order_value": 100.0,  # 100, 50, 200
        "others_median_order_value": 30.0,  # 10, 20, 30, 40, 40
    }


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(0, 6)), min_size=1, max_size=30
    )
)
def test_first_to_second_order_days_are_the_two_earliest_days_of_each_customer(
    orders: list[tuple[str, int]],
) -> None:
    # By hand: sort each customer's order days; with two orders or more, the second
    # earliest minus the earliest (0 when two orders share the first day).
    start = date(2024, 1, 1)
    frame = pl.LazyFrame(
        {
            "customer_id": [c for c, _ in orders],
            "order_day": [start + timedelta(days=d) for _, d in orders],
        }
    )
    found = dict(_second_order_days(frame).collect().iter_rows())
    days: dict[str, list[int]] = {}
    for customer, day in orders:
        days.setdefault(customer, []).append(day)
    expected = {c: sorted(d)[1] - sorted(d)[0] for c, d in days.items() if len(d) >= 2}
    assert found == expected


def test_each_customer_takes_the_tier_of_its_most_revenue_refunds_and_ties_included() -> None:
    money = pl.Decimal(38, 2)
    sales = pl.LazyFrame(
        {
            "customer_id": ["w", "w", "w", "t", "t", "n", "u", "g", "g"],
            "sale_tier": [
                "Medium",
                "Large",
                "Medium",
                "Small",
                "Medium",
                "Small",
                None,
                "Small",
                "Small",
            ],
            "amount": ["40", "100", "-70", "25.50", "25.50", "-10", "500", "3", "4"],
            "sale_basis": ["package B", "package A", "package C", "b2", "b1", "s", "x", "q", "p"],
        },
        schema_overrides={"amount": money},
    ).with_columns(pl.col("amount").cast(money))
    customers = pl.LazyFrame({"customer_id": ["g", "n", "t", "u", "w"]})
    found = dominant_sale_tiers(customers, [sales]).sort("customer_id").collect()
    reasons = dict(found.select("customer_id", "tier_reason").iter_rows())
    assert dict(found.select("customer_id", "tier").iter_rows()) == {
        "g": "Small",
        "n": "Small",
        "t": "Medium",  # 25.50 each: a tie goes to the larger tier
        "u": None,  # no tiered sale
        "w": "Large",  # Large 100 against Medium 40 - 70 = -30
    }
    # By hand: the leader's revenue, every tier bought (largest first), the leader's basis
    # (the least of its sales' bases).
    assert reasons["w"] == (
        "tier Large: most revenue (100.00) from Large sales; tiers bought: Large, Medium "
        "(package A)"
    )
    assert reasons["t"] == (
        "tier Medium: most revenue (25.50) from Medium sales; tiers bought: Medium, Small (b1)"
    )
    assert (
        reasons["n"]
        == "tier Small: most revenue (-10.00) from Small sales; tiers bought: Small (s)"
    )
    assert (
        reasons["g"] == "tier Small: most revenue (7.00) from Small sales; tiers bought: Small (p)"
    )
    assert reasons["u"] is None
