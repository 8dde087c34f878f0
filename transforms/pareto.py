"""Marts: Pareto ranking of customers by revenue, its one-row summary and its curve.

Produces `pareto_ranks` (grain: one customer; adds pareto_rank,
cumulative_revenue, cumulative_share, pareto_class), `pareto_summary`
(grain: one refresh) and `pareto_curve` (grain: one whole percent of
customers, 0 to 100).

Definitions (the contract's): customers ranked by revenue, descending, ties
broken by customer_id; rank is 1-based. Class A is the shortest prefix whose
revenue reaches `class_a_share` of the total, B the next customers up to
`class_b_share`, C the rest. Cut points compare exact decimals, and counts
such as ceil(0.20 × customers) use exact fractions, never floats.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl


def _ratio(share: Decimal) -> tuple[int, int]:
    numerator, denominator = share.as_integer_ratio()
    return numerator, denominator


def ceil_share_of(count: pl.Expr, share: Decimal) -> pl.Expr:
    """ceil(share × count) in exact integer arithmetic."""
    numerator, denominator = _ratio(share)
    return (count.cast(pl.Int64) * numerator + (denominator - 1)) // denominator


def _reaches(cumulative: pl.Expr, total: pl.Expr, share: Decimal) -> pl.Expr:
    """cumulative >= share × total, exactly."""
    numerator, denominator = _ratio(share)
    return cumulative * denominator >= total * numerator


def pareto_ranks(
    metrics: pl.LazyFrame, *, class_a_share: Decimal, class_b_share: Decimal
) -> pl.LazyFrame:
    """Customers in Pareto order with rank, cumulative share and A/B/C class.

    Args:
        metrics: one row per customer with `customer_id` and exact `revenue`.
        class_a_share: revenue share that class A reaches (0.80).
        class_b_share: revenue share that classes A and B reach together (0.95).
    """
    total = pl.col("revenue").sum()
    cumulative = pl.col("revenue").cum_sum()
    before = cumulative - pl.col("revenue")  # revenue of the customers ranked above
    return metrics.sort(["revenue", "customer_id"], descending=[True, False]).with_columns(
        pareto_rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64),
        cumulative_revenue=cumulative,
        cumulative_share=_share(cumulative, total),
        pareto_class=pl.when(~_reaches(before, total, class_a_share))
        .then(pl.lit("A"))
        .when(~_reaches(before, total, class_b_share))
        .then(pl.lit("B"))
        .otherwise(pl.lit("C")),
    )


def _share(part: pl.Expr, whole: pl.Expr) -> pl.Expr:
    """part / whole as a float share; null when the whole is zero."""
    whole_float = whole.cast(pl.Float64)
    return pl.when(whole_float != 0).then(part.cast(pl.Float64) / whole_float)


def pareto_summary(ranked: pl.LazyFrame, *, top_share: Decimal) -> pl.LazyFrame:
    """One row: customers, revenue, the top share's revenue share, customers for class A, Gini.

    Args:
        ranked: the output of `pareto_ranks`.
        top_share: share of customers whose revenue share is reported (0.20).

    Returns:
        customers, revenue, top_share_customers (the share, e.g. 0.2),
        top_customers (ceil(top_share × customers)), top_share_revenue,
        customers_for_80pct (size of class A), gini (0 equal … 1 one
        customer has everything).
    """
    customers = pl.len().cast(pl.Int64)
    top_customers = ceil_share_of(pl.len(), top_share)
    # Gini from the ascending order: G = (2·Σ i·x_i − (n + 1)·Σx) / (n·Σx), i = 1..n, over
    # x = revenue clipped at 0: a customer whose refunds exceed its purchases holds none of
    # the revenue, so G stays in 0..1. Numerator and denominator are exact decimals; only
    # the final division is a float, so equal revenues give exactly 0.
    ascending_position = customers - pl.col("pareto_rank") + 1
    held = pl.when(pl.col("revenue") > 0).then(pl.col("revenue")).otherwise(0)
    weighted = (held * ascending_position).sum()
    held_total = held.sum()
    numerator = weighted * 2 - held_total * (customers + 1)
    denominator = held_total * customers
    gini = pl.when(held_total.cast(pl.Float64) > 0).then(
        numerator.cast(pl.Float64) / denominator.cast(pl.Float64)
    )
    total = pl.col("revenue").sum()
    return ranked.select(
        customers=customers,
        revenue=total,
        top_share_customers=pl.lit(float(top_share)),
        top_customers=top_customers,
        top_share_revenue=_share(
            pl.col("revenue").filter(pl.col("pareto_rank") <= top_customers).sum(), total
        ),
        customers_for_80pct=(pl.col("pareto_class") == "A").sum().cast(pl.Int64),
        gini=gini,
    )


def pareto_curve(ranked: pl.LazyFrame) -> pl.LazyFrame:
    """The Lorenz-style curve: for each whole percent of customers, their revenue share.

    Grain: one row per `customer_pct` from 0 to 100. The share at p% is the
    cumulative revenue share of the first ceil(p/100 × customers) customers
    in Pareto order (0 at 0%, 1 at 100%).
    """
    steps = pl.LazyFrame({"customer_pct": pl.int_range(0, 101, eager=True, dtype=pl.Int64)})
    counts = ranked.select(customers=pl.len().cast(pl.Int64), total=pl.col("revenue").sum())
    points = ranked.select("pareto_rank", "cumulative_revenue")
    return (
        steps.join(counts, how="cross")
        .with_columns(
            pareto_rank=(pl.col("customer_pct") * pl.col("customers") + 99) // 100,
        )
        .join(points, on="pareto_rank", how="left")
        .select(
            "customer_pct",
            cumulative_revenue_share=pl.when(pl.col("pareto_rank") == 0)
            .then(pl.lit(0.0))
            .otherwise(_share(pl.col("cumulative_revenue"), pl.col("total"))),
        )
        .sort("customer_pct")
    )
