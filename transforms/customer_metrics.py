"""Intermediate layer: valid order lines, and one row of purchase metrics per customer.

Produces `valid_order_lines` (grain: one order line that counts, with its
signed amount, order key and order day) and `customer_metrics` (grain: one
customer who has at least one valid line up to `as_of`): revenue,
order_count, quantity, first_order_at, last_order_at, recency_days,
tenure_days, avg_order_value.

Definitions (the contract's): a line counts when it is dated on or before
`as_of` and is not cancelled. Refunds are negative lines, or lines with a
refund status, whose amount and quantity then count negative. An order is
an `order_id`; where a line has none, one customer's lines on one calendar
day are one order. Days are whole calendar days between dates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import polars as pl

from transforms.purchases import as_groups, group_runner, profit_of_purchases, purchases_of_lines

CANCELLED_STATUSES = ("cancelled", "canceled", "void", "voided")
REFUNDED_STATUSES = ("refunded", "refund", "returned", "return")


def is_refunded(status: pl.Expr) -> pl.Expr:
    """True where an order line's status marks a refund (false when there is none)."""
    return status.str.strip_chars().str.to_lowercase().is_in(REFUNDED_STATUSES).fill_null(False)


@dataclass(frozen=True)
class LineKinds:
    """What every order line of a source says about how its lines are read: whether each
    has an order id (then the id is its order's key), and which status texts it uses."""

    every_line_has_an_id: bool
    statuses: pl.Series


def line_kinds(orders: pl.LazyFrame | Sequence[pl.LazyFrame]) -> LineKinds:
    """The `LineKinds` of all of `orders` (staged order lines, or parts of them), in one
    pass over each part."""
    return kinds_of_parts(group_runner().collect([_kinds_of(part) for part in as_groups(orders)]))


def kinds_of_part(part: pl.DataFrame) -> pl.DataFrame:
    """What one part of the lines (held in memory) says of its lines: one row, for
    `kinds_of_parts` (validation finds it as it writes each bucket, saving a pass)."""
    return _kinds_of(part.lazy()).collect()


def kinds_of_parts(found: Sequence[pl.DataFrame]) -> LineKinds:
    """The `LineKinds` of all the lines from each part's row (`kinds_of_part`)."""
    rows = pl.concat(found)
    return LineKinds(
        bool(rows["every_line_has_an_id"].all()),
        rows["statuses"].explode().unique(maintain_order=True),
    )


def _kinds_of(part: pl.LazyFrame) -> pl.LazyFrame:
    return part.select(
        every_line_has_an_id=pl.col("order_id").is_not_null().all(),
        statuses=pl.col("status").unique().implode(),
    )


def valid_order_lines(
    orders: pl.LazyFrame, *, as_of: date, kinds: LineKinds | None = None
) -> pl.LazyFrame:
    """Order lines that count for revenue, with signed amounts and order keys.

    Args:
        orders: staged order lines (see `transforms.staging.stage_orders`).
        as_of: the refresh's reference date; later lines are ignored.
        kinds: the `line_kinds` of all the source's lines, when `orders` is a part of
            them (a bucket): its keys are then written as the whole source's are.

    Returns:
        The lines dated up to `as_of` and not cancelled, with `order_day`
        (Date), `order_key` (order_id, else the customer's day), `amount` and
        `quantity` negative for refund-status lines, and `cost` negative on every
        refund (a refund-status line or a negative amount): a refund gives its
        cost back, so amount − cost is the profit it takes away.
    """
    # Folding every line's text costs seconds on millions of lines: a status column holds
    # a handful of texts, so each is classified once, and the lines are looked up (the
    # staged lines are in memory: one quick pass).
    kinds = kinds or line_kinds(orders)
    texts = kinds.statuses.to_frame("status")
    status = pl.col("status").str.strip_chars().str.to_lowercase()
    refunded_texts = texts.filter(is_refunded(pl.col("status")))["status"]
    cancelled_texts = texts.filter(status.is_in(CANCELLED_STATUSES).fill_null(False))["status"]
    refunded = pl.col("status").is_in(refunded_texts.implode()).fill_null(False)
    cancelled = pl.col("status").is_in(cancelled_texts.implode()).fill_null(False)
    order_day = pl.col("order_date").dt.date()
    refund = refunded | (pl.col("amount") < 0).fill_null(False)
    # Writing every line's key as new text costs seconds on millions of lines: only when
    # some line has no order_id is the day its order, and the two kinds of key are told
    # apart by a prefix.
    order_key = (
        pl.col("order_id")
        if kinds.every_line_has_an_id
        else pl.coalesce(
            pl.lit("id:") + pl.col("order_id"), pl.lit("day:") + order_day.cast(pl.String)
        )
    )
    return orders.filter(~cancelled & (order_day <= as_of)).with_columns(
        order_day=order_day,
        order_key=order_key,
        amount=pl.when(refunded).then(-pl.col("amount").abs()).otherwise(pl.col("amount")),
        quantity=pl.when(refunded).then(-pl.col("quantity").abs()).otherwise(pl.col("quantity")),
        cost=pl.when(refund).then(-pl.col("cost").abs()).otherwise(pl.col("cost")),
    )


def gross_profit(lines: pl.LazyFrame) -> pl.LazyFrame:
    """Gross profit per customer: Σ (amount − cost) over the valid lines that carry a cost.

    Grain: one customer with at least one costed line. `lines` are valid order lines
    (`valid_order_lines`): a refund's amount and cost are both negative there, so it
    subtracts its amount and gives its cost back.
    """
    return profit_of_purchases(purchases_of_lines(lines))


def customer_metrics(orders: pl.LazyFrame, *, as_of: date) -> pl.LazyFrame:
    """One row per customer with valid lines up to `as_of`: revenue, orders, recency, tenure.

    Args:
        orders: staged order lines.
        as_of: the refresh's reference date.

    Returns:
        customer_id, revenue (exact decimal), order_count, quantity (null
        when the source has no quantities), first_order_at, last_order_at,
        recency_days, tenure_days, avg_order_value (revenue / order_count,
        rounded to the money scale), sorted by customer_id.
    """
    return metrics_of_purchases(
        purchases_of_lines(valid_order_lines(orders, as_of=as_of)), as_of=as_of
    )


def metrics_of_purchases(purchases: pl.LazyFrame, *, as_of: date) -> pl.LazyFrame:
    """`customer_metrics` from the valid lines summed per purchase (`purchases_of_lines`,
    grouped by customer and order): an order is one row, so a customer's orders are its
    rows, and every other metric is a sum, a minimum or a maximum of them."""
    money = purchases.collect_schema()["amount"]
    metrics = purchases.group_by("customer_id").agg(
        revenue=pl.col("amount").sum(),
        order_count=pl.len().cast(pl.Int64),
        quantity=pl.when(pl.col("quantity_given").any()).then(pl.col("quantity").sum()),
        first_order_at=pl.col("first_order_at").min(),
        last_order_at=pl.col("last_order_at").max(),
    )
    as_of_date = pl.lit(as_of, dtype=pl.Date)
    return metrics.with_columns(
        recency_days=(as_of_date - pl.col("last_order_at").dt.date()).dt.total_days(),
        tenure_days=(as_of_date - pl.col("first_order_at").dt.date()).dt.total_days(),
        avg_order_value=(pl.col("revenue") / pl.col("order_count")).cast(money),
    ).sort("customer_id")
