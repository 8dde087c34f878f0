"""Marts: RFM scores (1–5) and the named RFM segment of every customer.

Produces `rfm_scores` (grain: one customer; adds r_score, f_score, m_score,
fm_score, rfm_segment, rfm_reason).

Scoring (the default): a customer's score on a measure is
1 + ⌊5 × (share of customers with a strictly worse value)⌋, where worse is
a longer recency, fewer orders, less revenue. Customers with equal values
therefore get equal scores, every customer gets a score from 1 to 5, and
nothing breaks when quantile edges collapse (most customers bought once: they
all share the lowest F score, and the next order count jumps straight to a
higher score instead of leaving customers unscored). `fm_score` is the
rounded-up mean of F and M. The segment is the first rule of the segment map
whose R and FM ranges contain the customer's scores; the default map covers
all 25 combinations with the usual eleven names, so no customer is left
unlabelled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from schemas.reasons import as_part
from transforms.purchases import Regroup, as_groups, as_one_group, per_customer


@dataclass(frozen=True)
class RfmRule:
    """A named RFM segment: R score and FM score ranges, both inclusive."""

    name: str
    r: tuple[int, int]
    fm: tuple[int, int]


# The usual RFM grid on R and FM, first match wins; together they cover all 25 cells.
DEFAULT_SEGMENT_MAP: tuple[RfmRule, ...] = (
    RfmRule("Champions", (5, 5), (4, 5)),
    RfmRule("Loyal", (3, 4), (4, 5)),
    RfmRule("Potential Loyalist", (4, 5), (2, 3)),
    RfmRule("New", (5, 5), (1, 1)),
    RfmRule("Promising", (4, 4), (1, 1)),
    RfmRule("Need Attention", (3, 3), (3, 3)),
    RfmRule("About to Sleep", (3, 3), (1, 2)),
    RfmRule("Can't Lose Them", (1, 2), (5, 5)),
    RfmRule("At Risk", (1, 2), (3, 4)),
    RfmRule("Lost", (1, 1), (1, 1)),
    RfmRule("Hibernating", (1, 2), (1, 2)),
)


def uncovered_cells(segment_map: Sequence[RfmRule]) -> list[tuple[int, int]]:
    """(R, FM) score pairs that no rule of the map covers."""
    return [
        (r, fm)
        for r in range(1, 6)
        for fm in range(1, 6)
        if not any(
            rule.r[0] <= r <= rule.r[1] and rule.fm[0] <= fm <= rule.fm[1] for rule in segment_map
        )
    ]


def _score(better_is_lower: bool, column: str) -> pl.Expr:
    # rank("min") - 1 counts the customers with a strictly smaller value.
    values = -pl.col(column) if better_is_lower else pl.col(column)
    worse = values.rank("min").cast(pl.Int64) - 1
    return 1 + (worse * 5) // pl.len().cast(pl.Int64)


def rfm_scores(
    metrics: pl.LazyFrame, *, segment_map: Sequence[RfmRule] = DEFAULT_SEGMENT_MAP
) -> pl.LazyFrame:
    """Add R, F, M and FM scores, the RFM segment and a reason to each customer.

    Args:
        metrics: one row per customer with recency_days, order_count, revenue.
        segment_map: ordered rules; the first whose ranges contain (R, FM) wins.
    """
    gaps = uncovered_cells(segment_map)
    if gaps:
        raise ValueError(f"the RFM segment map leaves (R, FM) = {gaps[0]} without a segment")
    scored = metrics.with_columns(
        r_score=_score(True, "recency_days"),
        f_score=_score(False, "order_count"),
        m_score=_score(False, "revenue"),
    ).with_columns(fm_score=(pl.col("f_score") + pl.col("m_score") + 1) // 2)
    r, fm = pl.col("r_score"), pl.col("fm_score")
    segment = pl.lit(None, dtype=pl.String)
    for rule in reversed(segment_map):  # built inside out, so the first rule wins
        inside = r.is_between(*rule.r) & fm.is_between(*rule.fm)
        segment = pl.when(inside).then(pl.lit(rule.name)).otherwise(segment)
    return scored.with_columns(rfm_segment=segment).with_columns(
        rfm_reason=as_part(
            pl.format(
                "RFM {}: R{} F{} M{} (FM {}); score = 1 + floor(5 × share of customers worse)",
                pl.col("rfm_segment"),
                r,
                pl.col("f_score"),
                pl.col("m_score"),
                fm,
            )
        )
    )


# pymc-marketing's default segment config (`pymc_marketing.clv.utils`), score "RFM" → name.
PYMC_SEGMENTS: dict[str, tuple[str, ...]] = {
    "Premium Customer": ("334", "443", "444", "344", "434", "433", "343", "333"),
    "Repeat Customer": ("244", "234", "232", "332", "143", "233", "243"),
    "Top Spender": (
        "424",
        "414",
        "144",
        "314",
        "324",
        "124",
        "224",
        "423",
        "413",
        "133",
        "323",
        "313",
        "134",
    ),
    "At Risk Customer": (
        "422",
        "223",
        "212",
        "122",
        "222",
        "132",
        "322",
        "312",
        "412",
        "123",
        "214",
    ),
    "Inactive Customer": ("411", "111", "113", "114", "112", "211", "311"),
}
PYMC_OTHER = "Other"


class RfmPresetError(ValueError):
    """The data cannot be scored the way the chosen preset scores it."""


def _pymc_quartiles(values: np.ndarray, *, reverse: bool, measure: str) -> np.ndarray:
    """pandas.qcut(values, 4, labels, duplicates="drop") as pymc-marketing calls it.

    Quartile edges by linear interpolation; duplicate edges dropped; labels 1..4
    (4..1 for recency), falling back to 3 then 2 labels when edges collapse, and
    failing, as pymc-marketing does, when fewer than two bins remain.
    """
    edges = np.quantile(values, np.linspace(0, 1, 5))
    unique_edges = pd_unique(edges)
    bins = len(unique_edges) - 1
    if bins < 2:
        raise RfmPresetError(
            f"pymc preset: {measure} has too few distinct values for quartiles "
            "(pymc-marketing's rfm_segments fails on this data too); use [rfm] preset = "
            "'default'"
        )
    bins = min(bins, 4)
    ids = np.searchsorted(unique_edges, values, side="left")
    ids[values == unique_edges[0]] = 1
    labels = np.arange(bins, 0, -1) if reverse else np.arange(1, bins + 1)
    return labels[ids - 1]


def pd_unique(edges: np.ndarray) -> np.ndarray:
    """Unique values in order of first appearance (pandas' `algos.unique`)."""
    _, first = np.unique(edges, return_index=True)
    return edges[np.sort(first)]


def pymc_rfm_segments(
    lines: pl.LazyFrame | Sequence[pl.LazyFrame],
    *,
    as_of: date,
    segments: Mapping[str, Sequence[str]] = PYMC_SEGMENTS,
    regroup: Regroup = as_one_group,
) -> pl.LazyFrame:
    """RFM scores and segments exactly as pymc-marketing's `rfm_segments` gives them.

    Args:
        lines: valid order lines (customer_id, order_day, amount), as of `as_of`, or
            parts of them (buckets): each part's daily spend is summed, regrouped by
            customer with `regroup`, and summarised a group of customers at a time.
        as_of: pymc-marketing's `observation_period_end`.
        segments: its `segment_config`; scores not listed are "Other".
        regroup: how the parts' daily spend is regrouped by customer.

    Returns:
        One row per customer: customer_id, r_score, f_score, m_score (quartile
        labels 1–4), rfm_segment and rfm_reason. F is the number of distinct
        purchase days, R the days from the last purchase day to as_of, M the
        mean spend per purchase day.
    """

    def daily(frame: pl.LazyFrame, spend: str) -> pl.LazyFrame:
        return frame.group_by("customer_id", "order_day").agg(spend=pl.col(spend).sum())

    def summarised(days: pl.LazyFrame) -> pl.LazyFrame:
        # A customer's day may have been summed in two parts: summed again (exactly).
        return (
            daily(days, "spend")
            .group_by("customer_id")
            .agg(
                frequency=pl.len().cast(pl.Float64),
                recency=(pl.lit(as_of) - pl.col("order_day").max())
                .dt.total_days()
                .cast(pl.Float64),
                monetary_value=pl.col("spend").sum().cast(pl.Float64) / pl.len().cast(pl.Float64),
            )
        )

    days = regroup([daily(part, "amount") for part in as_groups(lines)])
    summary = per_customer(days, summarised)

    # One row per customer: the quartile cut needs the whole column at once, so the
    # summary is collected here (small next to the order lines) and cut with numpy.
    customers = summary.sort("customer_id").collect()
    score_to_segment = {score: name for name, scores in segments.items() for score in scores}
    scored = customers.with_columns(
        r_score=pl.Series(
            _pymc_quartiles(customers["recency"].to_numpy(), reverse=True, measure="recency")
        ),
        f_score=pl.Series(
            _pymc_quartiles(customers["frequency"].to_numpy(), reverse=False, measure="frequency")
        ),
        m_score=pl.Series(
            _pymc_quartiles(
                customers["monetary_value"].to_numpy(), reverse=False, measure="monetary value"
            )
        ),
    ).lazy()
    score = pl.format("{}{}{}", "r_score", "f_score", "m_score")
    return scored.with_columns(
        rfm_segment=score.replace_strict(score_to_segment, default=PYMC_OTHER),
        rfm_reason=as_part(
            pl.format(
                "RFM {} (pymc preset): score {} from quartiles of R {} days, F {} purchase "
                "days, M {} per purchase day",
                score.replace_strict(score_to_segment, default=PYMC_OTHER),
                score,
                pl.col("recency"),
                pl.col("frequency"),
                pl.col("monetary_value").round(2),
            )
        ),
    ).select("customer_id", "r_score", "f_score", "m_score", "rfm_segment", "rfm_reason")
