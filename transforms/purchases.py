"""Intermediate layer: the valid order lines summed once per purchase.

Produces `purchases_of_lines` (grain: one purchase, a customer's order: one
`customer_id`, `order_key`; or finer, by the keys a caller names): amount (the
signed sum), quantity (the sum) and whether any line gave one, the size of the
purchase in quantity (`quantity_size`, each line's quantity as an exact whole
number, as the quantity tier rule compares it), the first and last order
timestamp, the first order day, the latest due date and payment, and the gross
profit of the lines that carry a cost (`costed_profit`, with `costed`).

`GroupRunner` says where the plans of many groups run (`groups_run_by`): in this
process, or, on the Spark engine, on its executors (`engines.spark_groups`);
`per_customer`, `summed_over_groups` and the spilled `Keep` and `Regroup` send
their groups' plans there.

Every measure a refresh takes of purchases (customer metrics, the tier bounds
and sales, the key tier's measures, the best customers' sales and profit, the
persona's habits) is a sum, a count, a minimum or a maximum of the purchase's
lines, so each reads these rows instead of grouping millions of lines again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Protocol, runtime_checkable

import polars as pl

# Where frames of one row per purchase are kept while later plans read it: in memory by
# default; a caller with many millions of purchases passes one that writes them to disk
# and returns a scan.
Keep = Callable[[Sequence[pl.LazyFrame]], tuple[pl.LazyFrame, ...]]
# How frames of one row per purchase (summed a bucket of lines at a time) are regrouped
# so that each group holds every purchase of its customers: one group in memory by
# default; a spilled refresh writes them to disk by a hash of the customer.
Regroup = Callable[[Sequence[pl.LazyFrame]], tuple[pl.LazyFrame, ...]]


class GroupRunner(Protocol):
    """Where the plans of a refresh's groups (buckets of lines, groups of customers) run:
    each plan reads its own group only, so they may run anywhere, in any order."""

    def collect(self, plans: Sequence[pl.LazyFrame]) -> list[pl.DataFrame]:
        """Each plan's rows, in the order of `plans`."""
        ...

    def run(self, tasks: Sequence[Callable[[], object]]) -> None:
        """Each task run once (tasks that write a group's rows to disk)."""
        ...


@runtime_checkable
class Shuffles(Protocol):
    """A `GroupRunner` with a shuffle of its own (Spark's), which regroups rows by a key
    without a file per part and group."""

    def regroup(self, frames: Sequence[pl.LazyFrame], *, key: pl.Expr, target: Path) -> None:
        """Each of `frames` run, and its rows written by `key` (named, in 0..n-1) to
        `target/<key name>=<key>/0.ipc`: a group's rows in the order of `frames`, each
        frame's in its own order."""
        ...


class InThisProcess:
    """The plans run here, one after another."""

    def collect(self, plans: Sequence[pl.LazyFrame]) -> list[pl.DataFrame]:
        return [plan.collect() for plan in plans]

    def run(self, tasks: Sequence[Callable[[], object]]) -> None:
        for task in tasks:
            task()


_runner: ContextVar[GroupRunner | None] = ContextVar("group_runner", default=None)


@contextmanager
def groups_run_by(runner: GroupRunner | None) -> Iterator[None]:
    """Within the block, the plans of many groups run on `runner` (a Spark refresh's
    executors; None: this process); one group's plan stays lazy for its caller."""
    token = _runner.set(runner)
    try:
        yield
    finally:
        _runner.reset(token)


def group_runner() -> GroupRunner:
    """The runner of the block (`groups_run_by`); this process by default."""
    return _runner.get() or InThisProcess()


def in_memory(frame: pl.LazyFrame) -> pl.LazyFrame:
    """`frame` computed once and held in memory."""
    # The in-memory engine: new columns are added beside the input's own, which are
    # shared, not copied (the streaming engine would write every column anew).
    return frame.collect(engine="in-memory").lazy()


def kept_in_memory(frames: Sequence[pl.LazyFrame]) -> tuple[pl.LazyFrame, ...]:
    """The `Keep` of a refresh held in memory: each frame computed once and held."""
    return tuple(in_memory(frame) for frame in frames)


def as_one_group(frames: Sequence[pl.LazyFrame]) -> tuple[pl.LazyFrame, ...]:
    """The `Regroup` of a refresh held in memory: every frame computed, all one group."""
    return (pl.concat([in_memory(frame) for frame in frames], how="vertical"),)


def as_groups(frames: pl.LazyFrame | Sequence[pl.LazyFrame]) -> Sequence[pl.LazyFrame]:
    """One frame as one group; groups as they are."""
    return [frames] if isinstance(frames, pl.LazyFrame) else frames


def per_customer(
    groups: Sequence[pl.LazyFrame], measure: Callable[[pl.LazyFrame], pl.LazyFrame]
) -> pl.LazyFrame:
    """`measure` of each group of whole customers in turn, stacked.

    `measure` must give rows that depend on one customer's rows only (one row per
    customer, or per customer and tier): then the groups' rows are the rows of all, and
    the memory a measure takes is one group's, not every purchase's.
    """
    if len(groups) == 1:
        return measure(groups[0])
    found = group_runner().collect([measure(group) for group in groups])
    return pl.concat(found, how="vertical").lazy()


def summed_over_groups(
    groups: Sequence[pl.LazyFrame],
    totals: Callable[[pl.LazyFrame], pl.LazyFrame],
    *,
    by: str | Sequence[str],
) -> pl.LazyFrame:
    """`totals` (counts and sums per `by`) of each group of whole customers in turn, added
    up: a customer is in one group only, so even its distinct customers add up."""
    if len(groups) == 1:
        return totals(groups[0])
    found = pl.concat(group_runner().collect([totals(group) for group in groups]), how="vertical")
    keys = [by] if isinstance(by, str) else list(by)
    return found.lazy().group_by(keys).agg(pl.exclude(keys).sum())


SIZE = pl.Decimal(38, 0)  # quantities compared with bounds as exact decimals
PURCHASE_KEY = ("customer_id", "order_key")


def purchases_of_lines(
    lines: pl.LazyFrame, *, by: Sequence[str] = PURCHASE_KEY, extra: Sequence[pl.Expr] = ()
) -> pl.LazyFrame:
    """One row per purchase of `lines` (valid order lines), grouped `by` its keys.

    Args:
        lines: valid order lines (`transforms.customer_metrics.valid_order_lines`).
        by: the purchase's keys: a customer's order, or finer (a tier, a line).
        extra: further aggregations the caller needs (e.g. the sale basis).
    """
    return lines.group_by(*by).agg(
        *extra,
        amount=pl.col("amount").sum(),
        quantity=pl.col("quantity").sum(),
        quantity_given=pl.col("quantity").is_not_null().any(),
        quantity_size=pl.col("quantity").cast(SIZE).sum(),
        first_order_at=pl.col("order_date").min(),
        last_order_at=pl.col("order_date").max(),
        order_day=pl.col("order_day").min(),
        due_date=pl.col("due_date").max(),
        paid_at=pl.col("paid_at").max(),
        costed=pl.col("cost").is_not_null().any(),
        # A line without a cost has a null difference, which the sum leaves out: the
        # profit of the costed lines only, as `gross_profit` counts it.
        costed_profit=(pl.col("amount") - pl.col("cost")).sum(),
    )


# How two parts of one purchase (its lines summed in different buckets) make the whole:
# every measure above is a sum, a minimum, a maximum or an "any" of its lines.
PARTS_MERGE: dict[str, str] = {
    "amount": "sum",
    "quantity": "sum",
    "quantity_given": "any",
    "quantity_size": "sum",
    "first_order_at": "min",
    "last_order_at": "max",
    "order_day": "min",
    "due_date": "max",
    "paid_at": "max",
    "costed": "any",
    "costed_profit": "sum",
}


def purchases_in_parts(
    parts: Sequence[pl.LazyFrame], *, whole: bool, regroup: Regroup = as_one_group
) -> tuple[pl.LazyFrame, ...]:
    """`purchases_of_lines` of all the valid lines in `parts` (buckets of them), summed
    one part at a time and regrouped by customer: the memory of one part's purchases,
    not of every line's.

    Args:
        parts: valid order lines, a bucket each.
        whole: every purchase's lines are in one part (the buckets were cut by order id
            or customer); else a purchase may come out of two parts summed in part (a
            customer merged from two records whose lines without an order id were
            bucketed apart), and the parts are merged into the whole by `PARTS_MERGE`.
        regroup: how the parts' purchases are regrouped (see `Regroup`).

    Returns:
        Groups of purchases, each holding every purchase of its customers.
    """
    groups = regroup([purchases_of_lines(part) for part in parts])
    return groups if whole else tuple(_parts_merged(group) for group in groups)


def _parts_merged(group: pl.LazyFrame) -> pl.LazyFrame:
    """One group's purchases with the parts of a purchase merged (they share a group:
    they share a customer)."""
    found = group.collect()
    split = pl.struct(*PURCHASE_KEY).is_duplicated()
    if not found.select(split.any()).item():
        return found.lazy()
    merged = (
        found.filter(split)
        .group_by(*PURCHASE_KEY)
        .agg(getattr(pl.col(name), how)() for name, how in PARTS_MERGE.items())
    )
    return pl.concat([found.filter(~split), merged.select(found.columns)]).lazy()


# A customer's gross profit as aggregations of its purchases (`purchases_of_lines` rows),
# for one grouping by customer with other measures: Σ (amount − cost) over the lines that
# carry a cost, and whether any does (a customer with none has no gross profit).
PROFIT_OF_PURCHASES = {
    "gross_profit": pl.col("costed_profit").filter(pl.col("costed")).sum(),
    "costed": pl.col("costed").any(),
}


def profit_of_purchases(purchases: pl.LazyFrame) -> pl.LazyFrame:
    """Gross profit per customer from `purchases_of_lines` rows: Σ (amount − cost) over
    the lines that carry a cost (grain: one customer with at least one such line)."""
    return (
        purchases.group_by("customer_id").agg(**PROFIT_OF_PURCHASES).filter("costed").drop("costed")
    )
