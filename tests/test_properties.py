"""Property tests: invariants of tiers and Pareto that must hold for any revenue distribution."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.pareto import pareto_curve, pareto_ranks, pareto_summary
from transforms.revenue_tiers import TIERS, assign_tiers, tier_summary

MONEY = pl.Decimal(38, 4)

revenues = st.lists(
    st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=60,
)
rules = st.sampled_from(["quantile", "revenue"])


def ranked_frame(values: list[Decimal]) -> pl.LazyFrame:
    frame = pl.LazyFrame(
        {
            "customer_id": [f"{i:05d}" for i in range(len(values))],
            "revenue": pl.Series(values, dtype=MONEY),
        }
    )
    return pareto_ranks(frame, class_a_share=Decimal("0.8"), class_b_share=Decimal("0.95"))


def tiered_frame(values: list[Decimal], rule: str) -> pl.DataFrame:
    return assign_tiers(
        ranked_frame(values),
        rule=rule,
        large_min_revenue=Decimal("1000000"),
        medium_min_revenue=Decimal("1000"),
    ).collect()


@settings(max_examples=60, deadline=None)
@given(values=revenues, rule=rules)
def test_every_customer_gets_exactly_one_tier(values: list[Decimal], rule: str) -> None:
    tiered = tiered_frame(values, rule)
    assert tiered.height == len(values)
    assert tiered["customer_id"].n_unique() == len(values)
    assert set(tiered["tier"].to_list()) <= set(TIERS)
    assert tiered["tier"].null_count() == 0


@settings(max_examples=60, deadline=None)
@given(values=revenues, rule=rules)
def test_tier_shares_sum_to_one_and_one_key_tier(values: list[Decimal], rule: str) -> None:
    summary = tier_summary(tiered_frame(values, rule).lazy()).collect()
    assert summary["tier"].to_list() == list(TIERS)
    assert summary["customers"].sum() == len(values)
    assert summary["revenue"].sum() == sum(values)
    assert summary["is_key_tier"].sum() == 1
    if sum(values) > 0:
        assert abs(summary["revenue_share"].sum() - 1.0) < 1e-9
    key_revenue = summary.filter("is_key_tier")["revenue"].item()
    assert key_revenue == summary["revenue"].max()  # exact decimals, not float shares


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
