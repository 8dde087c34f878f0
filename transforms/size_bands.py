"""Bounds of the Large / Medium / Small tiers on a purchase size, derived from the data.

Produces `SizeBounds` (two cut points on a size: Medium from `medium_from`,
Large from `large_from`, with what the size measures and how the cut points
were found) and `natural_bounds`, which derives them when none are configured.

Derivation (documented in the README, "Tiers"): the purchases' sizes (only
those above 0) are split into three classes by Fisher's natural breaks on the
logarithm of the size: the two cut points minimise the spread of log-size
inside the classes, weighted by the number of purchases. Logarithms because
purchase sizes are multiplicative (package prices 5M / 10M / 20M are evenly
spaced on it). Past 2,000 distinct sizes the sizes are binned into 1,000
equal-width log bins first, so the derivation costs one grouped pass over the
purchases at any size. Each published cut point is the roundest number
between the largest size of the lower class and the smallest of the upper
one (e.g. 6,000,000 between 5,500,000 and 9,500,000). With fewer than three
distinct sizes the classes are filled from the top: two sizes make Large and
Medium, one makes Large.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

import numpy as np
import polars as pl

from transforms.purchases import as_groups, group_runner

EXACT_LIMIT = 2_000  # distinct sizes clustered one by one; more are binned
LOG_BINS = 1_000


@dataclass(frozen=True)
class SizeBounds:
    """Cut points on a size: size >= large_from is Large, >= medium_from Medium, else Small."""

    basis: str  # what the size is: "order value", "quantity per purchase", "customer revenue"
    medium_from: Decimal
    large_from: Decimal
    derivation: str  # "configured", or how the data gave them

    def moved(self, *, medium_from: Decimal, large_from: Decimal, why: str) -> SizeBounds:
        """The same bounds with other cut points (a re-cut), saying why."""
        return replace(self, medium_from=medium_from, large_from=large_from, derivation=why)

    def describe(self) -> str:
        """One line for reasons and run notes."""
        return (
            f"{self.basis}: Large from {self.large_from:,}, Medium from {self.medium_from:,} "
            f"({self.derivation})"
        )


def tier_of(size: pl.Expr, bounds: SizeBounds) -> pl.Expr:
    """Large / Medium / Small of a size by the bounds (null size: Small)."""
    return (
        pl.when(size >= pl.lit(bounds.large_from))
        .then(pl.lit("Large"))
        .when(size >= pl.lit(bounds.medium_from))
        .then(pl.lit("Medium"))
        .otherwise(pl.lit("Small"))
    )


def roundest_between(low: Decimal, high: Decimal) -> Decimal:
    """The number with the fewest significant digits in (low, high]; `low` < `high`."""
    exponent = high.adjusted()
    while True:
        step = Decimal(1).scaleb(exponent)
        candidate = ((low // step) + 1) * step
        if candidate <= high:
            return candidate.normalize() if candidate == candidate.to_integral() else candidate
        exponent -= 1


def natural_bounds(
    sizes: pl.LazyFrame | Sequence[pl.LazyFrame], *, basis: str
) -> SizeBounds | None:
    """Derive the cut points from the sizes (column `size`, one row per purchase), given
    whole or in groups (each measured where the groups' plans run, `transforms.
    purchases.group_runner`: only counts per size or per bin come back).

    Returns None when no purchase has a size above 0 (every purchase is then Small).
    """
    groups = as_groups(sizes)
    if len(groups) > 1:
        return _bounds_of_table(*_grouped_table(groups), basis=basis)
    positive = groups[0].filter(pl.col("size") > 0)
    distinct = positive.select(pl.col("size").n_unique()).collect().item()
    if not distinct:
        return None
    log = pl.col("size").cast(pl.Float64).log10()
    if distinct <= EXACT_LIMIT:
        points = positive.group_by("size").agg(weight=pl.len(), low=pl.col("size").min())
        points = points.with_columns(point=log, high=pl.col("size"))
    else:
        span = positive.select(lo=log.min(), hi=log.max()).collect()
        lo, hi = span["lo"].item(), span["hi"].item()
        width = (hi - lo) / LOG_BINS or 1.0
        bin_index = ((log - lo) / width).floor().clip(0, LOG_BINS - 1).cast(pl.Int64)
        points = (
            positive.with_columns(_bin=bin_index, _log=log)
            .group_by("_bin")
            .agg(
                weight=pl.len(),
                point=pl.col("_log").mean(),
                low=pl.col("size").min(),
                high=pl.col("size").max(),
            )
        )
    table = points.sort("low").select("weight", "point", "low", "high").collect()
    return _bounds_of_table(table, distinct, basis=basis)


def _grouped_table(groups: Sequence[pl.LazyFrame]) -> tuple[pl.DataFrame, int]:
    """The weighted points of the sizes of many groups (as `natural_bounds` makes them of
    one) and the number of distinct sizes (EXACT_LIMIT + 1 standing for more): each
    group's distinct sizes counted (up to EXACT_LIMIT + 1 of them) and its least and
    greatest log-size, in one pass; past EXACT_LIMIT distinct sizes in all, each
    group's log bins (count, sum of log-sizes, least and greatest size) in a second,
    added up here."""
    positive = [group.filter(pl.col("size") > 0) for group in groups]
    log = pl.col("size").cast(pl.Float64).log10()
    found = group_runner().collect(
        [
            *(
                group.group_by("size").agg(weight=pl.len().cast(pl.Int64)).head(EXACT_LIMIT + 1)
                for group in positive
            ),
            *(group.select(lo=log.min(), hi=log.max()) for group in positive),
        ]
    )
    sizes, spans = found[: len(groups)], pl.concat(found[len(groups) :], how="vertical")
    merged = pl.concat(sizes, how="vertical").group_by("size").agg(pl.col("weight").sum())
    if all(part.height <= EXACT_LIMIT for part in sizes) and merged.height <= EXACT_LIMIT:
        table = merged.select("weight", point=log, low=pl.col("size"), high=pl.col("size")).sort(
            "low"
        )
        return table, merged.height
    lo, hi = spans["lo"].min(), spans["hi"].max()
    width = (hi - lo) / LOG_BINS or 1.0  # type: ignore[operator]
    bin_index = ((log - lo) / width).floor().clip(0, LOG_BINS - 1).cast(pl.Int64)
    bins = group_runner().collect(
        [
            group.with_columns(_bin=bin_index, _log=log)
            .group_by("_bin")
            .agg(
                weight=pl.len().cast(pl.Int64),
                logs=pl.col("_log").sum(),
                low=pl.col("size").min(),
                high=pl.col("size").max(),
            )
            for group in positive
        ]
    )
    table = (
        pl.concat(bins, how="vertical")
        .group_by("_bin")
        .agg(
            pl.col("weight").sum(),
            pl.col("logs").sum(),
            pl.col("low").min(),
            pl.col("high").max(),
        )
        .select("weight", point=pl.col("logs") / pl.col("weight"), low="low", high="high")
        .sort("low")
    )
    return table, EXACT_LIMIT + 1


def _bounds_of_table(table: pl.DataFrame, distinct: int, *, basis: str) -> SizeBounds | None:
    """The cut points of the weighted points of `table` (sorted by size), from `distinct`
    sizes (None: no size above 0)."""
    if not distinct:
        return None
    weights = table["weight"].to_numpy().astype(np.float64)
    points = table["point"].to_numpy().astype(np.float64)
    lows, highs = table["low"].to_list(), table["high"].to_list()
    described = f"natural breaks of the {basis} of {int(weights.sum()):,} purchases" + (
        "" if distinct <= EXACT_LIMIT else f", binned into {table.height:,} log bins"
    )
    if len(points) == 1:
        top = Decimal(lows[0])
        return SizeBounds(basis, top, top, described + "; one size: Large")
    if len(points) == 2:
        medium, large = Decimal(lows[0]), Decimal(lows[1])
        return SizeBounds(basis, medium, roundest_between(Decimal(highs[0]), large), described)
    first, second = _two_cuts(points, weights)
    return SizeBounds(
        basis,
        roundest_between(Decimal(highs[first - 1]), Decimal(lows[first])),
        roundest_between(Decimal(highs[second - 1]), Decimal(lows[second])),
        described,
    )


def _two_cuts(points: np.ndarray, weights: np.ndarray) -> tuple[int, int]:
    """Fisher's optimal split of sorted weighted points into three classes.

    Returns (a, b): the classes are points[:a], points[a:b], points[b:], minimising
    the summed weighted squared deviation from each class's mean. Exact, O(n²) for
    n points (n <= EXACT_LIMIT); ties go to the first split found, so the result
    does not depend on anything but the points.
    """
    n = len(points)
    w = np.concatenate([[0.0], np.cumsum(weights)])
    s1 = np.concatenate([[0.0], np.cumsum(weights * points)])
    s2 = np.concatenate([[0.0], np.cumsum(weights * points**2)])

    def cost(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        total = w[j] - w[i]
        with np.errstate(invalid="ignore", divide="ignore"):
            spread = s2[j] - s2[i] - np.where(total > 0, (s1[j] - s1[i]) ** 2 / total, 0.0)
        return np.maximum(spread, 0.0)

    a = np.arange(1, n - 1)[:, None]
    b = np.arange(2, n)[None, :]
    total = cost(np.zeros_like(a), a) + cost(a, b) + cost(b, np.full_like(b, n))
    total = np.where(b > a, total, np.inf)
    flat = int(np.argmin(total))
    row, column = divmod(flat, total.shape[1])
    return int(a[row, 0]), int(b[0, column])
