"""Property tests: invariants of tiers and Pareto that must hold for any revenue distribution."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from itertools import pairwise

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.customer_metrics import customer_metrics, valid_order_lines
from transforms.pareto import pareto_curve, pareto_ranks, pareto_summary
from transforms.revenue_tiers import TIERS, Tiering, TierRule, tier_revenue
from transforms.staging import stage_orders

MONEY = pl.Decimal(38, 4)

revenues = st.lists(
    st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=60,
)
AS_OF = date(2024, 6, 1)
# order lines: (customer, order, amount, quantity); refunds are negative amounts
order_lines = st.lists(
    st.tuples(
        st.integers(0, 12),
        st.integers(0, 30),
        st.decimals(min_value=-500, max_value=10**9, places=2, allow_nan=False),
        st.integers(1, 40),
    ),
    min_size=1,
    max_size=80,
)
rules = st.sampled_from(["order_value", "quantity", "quantile", "revenue"])
preferences = st.sampled_from(["fastest_deals", "repeat_rate", "fixed", "pays_on_time"])


def ranked_frame(values: list[Decimal]) -> pl.LazyFrame:
    frame = pl.LazyFrame(
        {
            "customer_id": [f"{i:05d}" for i in range(len(values))],
            "revenue": pl.Series(values, dtype=MONEY),
        }
    )
    return pareto_ranks(frame, class_a_share=Decimal("0.8"), class_b_share=Decimal("0.95"))


def tiering_of(
    lines: list[tuple[int, int, Decimal, int]], rule: str, preference: str = "fastest_deals"
) -> Tiering:
    raw = pl.DataFrame(
        {
            "customer_id": [f"c{c:02d}" for c, *_ in lines],
            "order_id": [f"o{o:02d}" for _, o, *_ in lines],
            "order_date": [f"2024-01-{1 + o % 28:02d}" for _, o, *_ in lines],
            "amount": [str(a) for _, _, a, _ in lines],
            "quantity": [str(q) for *_, q in lines],
        }
    )
    staged = stage_orders(raw.lazy().with_row_index("_row_number", offset=1), scale=4)
    valid = valid_order_lines(staged, as_of=AS_OF).collect().lazy()
    ranked = pareto_ranks(
        customer_metrics(staged, as_of=AS_OF),
        class_a_share=Decimal("0.8"),
        class_b_share=Decimal("0.95"),
    )
    rule_settings = TierRule(
        rule=rule,
        large_min_revenue=Decimal("1000000"),
        medium_min_revenue=Decimal("1000"),
        preference=preference,
    )
    return tier_revenue(ranked, valid, rule_settings, as_of=AS_OF)


@settings(max_examples=60, deadline=None)
@given(lines=order_lines, rule=rules)
def test_every_customer_gets_exactly_one_tier_the_one_bringing_it_most(
    lines: list[tuple[int, int, Decimal, int]], rule: str
) -> None:
    tiering = tiering_of(lines, rule)
    customers = tiering.customers.collect()
    assert customers.height == len({c for c, *_ in lines})
    assert customers["tier"].null_count() == 0
    assert set(customers["tier"]) <= set(TIERS)
    if rule in ("order_value", "quantity"):
        by_tier = (
            tiering.purchases.group_by("customer_id", "sale_tier")
            .agg(pl.col("amount").sum())
            .collect()
        )
        for customer, tier in customers.select("customer_id", "tier").iter_rows():
            own = by_tier.filter(pl.col("customer_id") == customer)
            assert own.filter(pl.col("sale_tier") == tier)["amount"].item() == own["amount"].max()


@settings(max_examples=60, deadline=None)
@given(lines=order_lines, rule=rules, preference=preferences)
def test_sales_add_up_to_revenue_and_one_key_tier(
    lines: list[tuple[int, int, Decimal, int]], rule: str, preference: str
) -> None:
    tiering = tiering_of(lines, rule, preference)
    summary = tiering.summary
    total = sum((a for _, _, a, _ in lines), Decimal(0))
    assert summary["tier"].to_list() == list(TIERS)
    assert summary["sales_revenue"].sum() == total  # exact decimals
    assert summary["customers"].sum() == len({c for c, *_ in lines})
    assert summary["is_key_tier"].sum() == 1
    assert (summary["buying_customers"] <= summary["customers"].sum()).all()
    if total > 0:
        assert abs(summary["sales_share"].sum() - 1.0) < 1e-9
        key = summary.filter("is_key_tier").row(0, named=True)
        top = summary["sales_share"].max()
        if key["decided_by"] in ("majority", "largest sales"):
            assert key["sales_revenue"] == summary["sales_revenue"].max()
        else:  # a preference decided between near-equal tiers: within the margin of the top
            assert top - key["sales_share"] <= 0.05 + 1e-12
        assert key["is_majority"] == (key["sales_share"] > 0.5)


@settings(max_examples=60, deadline=None)
@given(values=revenues)
def test_pareto_curve_never_falls_and_ends_at_one(values: list[Decimal]) -> None:
    curve = pareto_curve(ranked_frame(values)).collect()
    shares = curve["cumulative_revenue_share"]
    assert curve["customer_pct"].to_list() == list(range(101))
    if sum(values) > 0:
        assert all(b >= a - 1e-12 for a, b in pairwise(shares))
        assert abs(shares[-1] - 1.0) < 1e-9


@settings(max_examples=60, deadline=None)
@given(values=revenues)
def test_pareto_classes_are_contiguous_and_class_a_reaches_80_percent(
    values: list[Decimal],
) -> None:
    ranked = ranked_frame(values).collect()
    classes = ranked["pareto_class"].to_list()
    assert classes == sorted(classes)  # A… then B… then C…
    assert ranked["pareto_rank"].to_list() == list(range(1, len(values) + 1))
    total = sum(values)
    if total > 0:
        a_revenue = ranked.filter(pl.col("pareto_class") == "A")["revenue"].sum()
        assert a_revenue * 5 >= total * 4
        summary = pareto_summary(ranked.lazy(), top_share=Decimal("0.2")).collect()
        assert 0 <= summary["gini"].item() <= 1
        assert summary["customers_for_80pct"].item() == classes.count("A")
