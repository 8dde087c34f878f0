"""The key revenue tier: the tier whose sales bring the most, decided and explained.

Produces `tier_measures` (grain: one tier; the figures a preference is measured
by: deal_days, paid_on_time_share, repeat_rate) and `decide_key_tier` (the
key tier with `decided_by` and a `reason` naming the measured values).

Rule (README, "The key tier"):
- a tier with more than 50% of sales revenue is the key tier (majority);
- otherwise the tier with the largest sales is, unless others are within
  `margin` (0.05 = 5 points) of it: then the near-equal tiers are compared on
  the configured preference, measured from the data:
  fastest_deals (smallest median deal_days), pays_on_time (largest
  paid_on_time_share), repeat_rate (largest repeat_rate), or fixed (the
  configured order). A preference with no data for a candidate falls back to
  the fixed order and says so; equal measures go to the fixed order too.

Measures, per tier:
- deal_days: median days from lead creation to first order of the tier's own
  customers (leads that name the customer they became); when no lead does,
  median days between a customer's first and second order (customers with two);
- paid_on_time_share: of the tier's purchases with a due date, the share paid on
  or before it (unpaid and due before as_of is late; unpaid and not yet due is
  not counted); null without `due_date` / `paid_at` in the orders;
- repeat_rate: share of the tier's own customers with two orders or more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import polars as pl

from transforms.purchases import as_groups, per_customer, summed_over_groups

PREFERENCES = ("fastest_deals", "pays_on_time", "repeat_rate", "fixed")
# preference -> (measure column, smaller is better, how the value reads)
_MEASURES = {
    "fastest_deals": ("deal_days", True, "median {:.0f} days"),
    "pays_on_time": ("paid_on_time_share", False, "{:.0%} paid on time"),
    "repeat_rate": ("repeat_rate", False, "{:.0%} bought again"),
}


@dataclass(frozen=True)
class KeyTierDecision:
    """Which tier is key, what decided it, and the sentence that says so."""

    key_tier: str
    decided_by: str  # majority | largest sales | <preference> | fixed order | re-cut
    reason: str
    near_equal: tuple[str, ...] = ()  # the tiers compared when sales were near-equal


def tier_measures(
    tier_orders: pl.LazyFrame | Sequence[pl.LazyFrame],
    orders: Sequence[pl.LazyFrame],
    customers: pl.LazyFrame,
    *,
    as_of: date,
    lead_days: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """deal_days, deal_days_basis, paid_on_time_share and repeat_rate per tier.

    Args:
        tier_orders: one row per order and tier it was sold in (grain: sale_tier,
            customer_id, order_key), with the latest `due_date` and `paid_at` of its lines,
            or groups of them (each counted in turn).
        orders: one row per order (grain: customer_id, order_key) with `order_day`, in
            groups each holding whole customers.
        customers: one row per customer with its own `tier` and `order_count`.
        as_of: unpaid purchases due before it are late.
        lead_days: customer_id, lead_to_order_days; None without leads.
    """
    own = customers.select("customer_id", "tier", "order_count")
    basis = "first to second order"
    if lead_days is not None and lead_days.select(pl.len()).collect().item():
        basis = "lead to first order"
        days = lead_days.select("customer_id", days="lead_to_order_days")
    else:  # measured only when no lead gives the days: a pass over every order
        days = per_customer(orders, _second_order_days)
    deals = (
        own.join(days, on="customer_id", how="inner")
        .group_by("tier")
        .agg(deal_days=pl.col("days").cast(pl.Float64).median())
    )
    repeat = own.group_by("tier").agg(
        repeat_rate=(pl.col("order_count") >= 2).cast(pl.Float64).mean()
    )
    due, paid = pl.col("due_date").dt.date(), pl.col("paid_at").dt.date()
    on_time = paid <= due
    late = (paid > due) | (paid.is_null() & (due < pl.lit(as_of)))
    paying = summed_over_groups(
        as_groups(tier_orders),
        lambda group: (
            group.filter(due.is_not_null())
            .group_by(tier="sale_tier")
            .agg(on_time=on_time.sum(), late=late.sum())
        ),
        by="tier",
    ).select(
        "tier",
        paid_on_time_share=pl.when((pl.col("on_time") + pl.col("late")) > 0).then(
            pl.col("on_time") / (pl.col("on_time") + pl.col("late"))
        ),
    )
    tiers = pl.LazyFrame({"tier": ["Large", "Medium", "Small"]})
    return (
        tiers.join(deals, on="tier", how="left")
        .join(paying, on="tier", how="left")
        .join(repeat, on="tier", how="left")
        .with_columns(deal_days_basis=pl.lit(basis))
        .select(
            "tier",
            "deal_days",
            "deal_days_basis",
            pl.col("paid_on_time_share").cast(pl.Float64),
            pl.col("repeat_rate").fill_null(0.0),
        )
    )


def _second_order_days(orders: pl.LazyFrame) -> pl.LazyFrame:
    """customer_id, days: days from a customer's first order to its second (`orders`: one
    row per order, with its first `order_day`)."""
    # The second order's day is the first day again when two orders share it, else the
    # earliest later day: three aggregations of one grouping, no ranking of the orders
    # within their customer (a third less time on millions of orders).
    day = pl.col("order_day")
    first = day.min()
    return (
        orders.group_by("customer_id")
        .agg(
            first=first,
            on_first=(day == first).sum(),
            next=day.filter(day > first).min(),
            orders=pl.len(),
        )
        .filter(pl.col("orders") >= 2)
        .select(
            "customer_id",
            days=(
                pl.when(pl.col("on_first") >= 2).then(pl.col("first")).otherwise(pl.col("next"))
                - pl.col("first")
            ).dt.total_days(),
        )
    )


def decide_key_tier(
    summary: pl.DataFrame,
    *,
    margin: float,
    preference: str,
    fixed_order: Sequence[str],
) -> KeyTierDecision:
    """The key tier from `summary` (tier, sales_revenue, sales_share and the measures)."""
    rank = {tier: position for position, tier in enumerate(fixed_order)}
    rows = sorted(
        summary.select("tier", "sales_revenue", "sales_share").rows(),
        key=lambda row: (-row[1], rank[row[0]]),
    )
    top_tier, _, top_share = rows[0]
    shares = ", ".join(f"{tier} {_pct(share)}" for tier, _, share in rows)
    if top_share is None:  # no revenue: nothing to compare
        return KeyTierDecision(top_tier, "fixed order", f"no sales revenue; {top_tier} by order")
    if top_share > 0.5:
        return KeyTierDecision(
            top_tier, "majority", f"{top_tier} brings {_pct(top_share)} of sales ({shares})"
        )
    near = tuple(
        tier for tier, _, share in rows if share is not None and top_share - share <= margin
    )
    if len(near) == 1:
        runner = rows[1]
        return KeyTierDecision(
            top_tier,
            "largest sales",
            f"{top_tier} brings the most sales, {_pct(top_share)}, no majority; next "
            f"{runner[0]} {_pct(runner[2])}, more than {_points(margin)} behind ({shares})",
        )
    opening = f"no tier passes 50% and {', '.join(near)} are within {_points(margin)} ({shares}); "
    if preference == "fixed":
        chosen = min(near, key=rank.__getitem__)
        return KeyTierDecision(
            chosen, "fixed order", opening + f"{chosen} first in the configured order", near
        )
    column, smaller, shown = _MEASURES[preference]
    measured = dict(summary.select("tier", column).rows())
    values = [measured[tier] for tier in near]
    readings = ", ".join(
        f"{tier} {shown.format(value) if value is not None else 'no data'}"
        for tier, value in zip(near, values, strict=True)
    )
    if any(value is None for value in values):
        chosen = min(near, key=rank.__getitem__)
        return KeyTierDecision(
            chosen,
            "fixed order",
            opening + f"{preference} cannot decide ({readings}): {chosen} first in the "
            "configured order",
            near,
        )
    sign = 1 if smaller else -1
    chosen = min(near, key=lambda tier: (sign * measured[tier], rank[tier]))
    return KeyTierDecision(
        chosen, preference, opening + f"decided by {preference}: {readings}", near
    )


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.1%}"


def _points(margin: float) -> str:
    return f"{margin * 100:g} points"
