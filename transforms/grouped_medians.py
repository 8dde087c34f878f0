"""Exact medians of a value over groups of rows that are measured one group at a time.

Produces `medians_over_groups(groups, value=..., by=...)`: for each value of `by`, the
median of `value` over the rows of every group, the very number polars' `median()`
gives over all the rows at once, while only counts come back from each group (the
groups' plans run where `transforms.purchases.group_runner` runs them: on Spark's
executors on the Spark engine). How: each group's count, least and greatest value
and distinct values per `by`; where the distinct values of a range are few (up to
`DISTINCT_LIMIT`, added up over the groups), the count of each value in it, and the
middle rank(s) read off; else a histogram of the range in `BINS` equal bins, and the
same again inside the bin that holds a middle rank. Each step is one pass over the
groups; a billion rows of money take two or three.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from transforms.purchases import group_runner

DISTINCT_LIMIT = 1_000_000  # values (with their counts) brought back at once
BINS = 4_096
_MAX_ZOOMS = 12  # equal bins halve a float's range 12 bits at a time: 64 bits in 6


def medians_over_groups(
    groups: Sequence[pl.LazyFrame], *, value: str, by: str
) -> dict[object, float | None]:
    """The median of Float64 `value` (nulls left out) for each value of `by` found in
    `groups`; None where a `by` value has no value."""
    plans = [
        group.filter(pl.col(value).is_not_null()).group_by(by).agg(**_facts(value))
        for group in groups
    ]
    facts = _added(plans, by, **_ADDED_FACTS)
    medians: dict[object, float | None] = {}
    for key, count, low, high, distinct in facts.iter_rows():
        rows = [group.filter(pl.col(by) == key).select(value) for group in groups]
        ranks = sorted({(count - 1) // 2, count // 2})
        found = _at_ranks(rows, value, ranks, low, high, distinct, below=0, zooms=0)
        # polars' own median of the middle value(s): the same rounding as over every row
        medians[key] = pl.Series(value, [found[rank] for rank in ranks], pl.Float64).median()  # type: ignore[assignment]
    return medians


def _at_ranks(
    groups: Sequence[pl.LazyFrame],
    value: str,
    ranks: list[int],
    low: float,
    high: float,
    distinct: int,
    *,
    below: int,
    zooms: int,
) -> dict[int, float]:
    """The value at each 0-based rank (among all the groups' values, sorted), for ranks
    whose value lies in [low, high]; `below` values lie under `low`."""
    if low == high:
        return dict.fromkeys(ranks, low)
    inside = pl.col(value).is_between(low, high)
    width = (high - low) / BINS
    if distinct <= DISTINCT_LIMIT or zooms >= _MAX_ZOOMS or not width > 0:
        counts = _added(
            [
                group.filter(inside).group_by(value).agg(n=pl.len().cast(pl.Int64))
                for group in groups
            ],
            value,
            n=pl.col("n").sum(),
        )
        ends = counts.select(value, last=pl.col("n").cum_sum() + below - 1)
        return {rank: ends.filter(pl.col("last") >= rank)[value][0] for rank in ranks}
    bin_of = ((pl.col(value) - low) / width).floor().clip(0, BINS - 1).cast(pl.Int64)
    bins = _added(
        [group.filter(inside).group_by(_bin=bin_of).agg(**_facts(value)) for group in groups],
        "_bin",
        **_ADDED_FACTS,
    ).with_columns(before=pl.col("n").cum_sum() - pl.col("n") + below)
    # The bin whose values hold each rank; its range is no other bin's (bins are
    # intervals of the values, in order).
    holding: dict[int, list[int]] = {}
    for rank in ranks:
        holding.setdefault(bins.filter(pl.col("before") <= rank).height - 1, []).append(rank)
    found: dict[int, float] = {}
    for place, held_ranks in sorted(holding.items()):
        held = bins.row(place, named=True)
        found |= _at_ranks(
            groups,
            value,
            held_ranks,
            held["lo"],
            held["hi"],
            held["distinct"],
            below=held["before"],
            zooms=zooms + 1,
        )
    return found


def _facts(value: str) -> dict[str, pl.Expr]:
    """A group's count, least and greatest value and distinct values (per key)."""
    return {
        "n": pl.len().cast(pl.Int64),
        "lo": pl.col(value).min(),
        "hi": pl.col(value).max(),
        "distinct": pl.col(value).n_unique().cast(pl.Int64),
    }


# The facts of many groups added up: counts summed, ranges widened. (The distinct values
# summed are at least the distinct values of all: a bound, which is what is needed.)
_ADDED_FACTS = {
    "n": pl.col("n").sum(),
    "lo": pl.col("lo").min(),
    "hi": pl.col("hi").max(),
    "distinct": pl.col("distinct").sum(),
}


def _added(plans: list[pl.LazyFrame], key: str, **sums: pl.Expr) -> pl.DataFrame:
    """Each plan's rows (one per `key`) run on the groups' runner and added up by `key`,
    in `key` order."""
    return (
        pl.concat(group_runner().collect(plans), how="vertical").group_by(key).agg(**sums).sort(key)
    )
