"""How far the market moved since the published refresh: population stability indexes.

Produces `psi(expected, actual)`, the population stability index of two
distributions over the same categories (Σ (a − e) · ln(a / e), with empty
categories smoothed to a tiny share so new or vanished categories count instead
of dividing by zero), and `drift_measures(published, current)`, one PSI per
measure: the tier revenue shares, each segmentation base's customer mix, the RFM
segment mix, and the mix of each key attribute of the ideal company profile
(from the published `attribute_mix`). A missing value is a category of its own,
"(unknown)", on both sides, so a data set measured against itself has a PSI of
exactly 0 on every measure.
Rule of thumb: below 0.1 no change, 0.1–0.2 some, above 0.2 a real shift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

SMOOTHING = 1e-4  # the share given to a category absent on one side
UNKNOWN = "(unknown)"  # a missing value: a category of its own on both sides


@dataclass(frozen=True)
class DriftMeasure:
    """One compared distribution."""

    name: str  # e.g. "tier revenue share", "segments: geographic", "industry mix"
    psi: float


def psi(expected: pl.DataFrame, actual: pl.DataFrame) -> float:
    """PSI between two frames of (`key`, `share`); shares are renormalised to sum to 1."""
    joined = (
        expected.select("key", e=pl.col("share").cast(pl.Float64))
        .join(
            actual.select("key", a=pl.col("share").cast(pl.Float64)),
            on="key",
            how="full",
            coalesce=True,
        )
        .with_columns(pl.col("e", "a").fill_null(0.0))
        .sort("key", nulls_last=True)  # one summation order, whatever the join's row order
        # a side with nothing to share (no revenue, no customers) has all shares 0
        .with_columns(
            pl.when(pl.col(c).sum() > 0).then(pl.col(c) / pl.col(c).sum()).otherwise(0.0)
            for c in ("e", "a")
        )
        .with_columns(pl.col("e", "a").clip(lower_bound=SMOOTHING))
    )
    if joined.is_empty():
        return 0.0
    value = joined.select(((pl.col("a") - pl.col("e")) * (pl.col("a") / pl.col("e")).log()).sum())
    return float(value.item())


def _shares(frame: pl.DataFrame, key: str, weight: str | None = None) -> pl.DataFrame:
    """(key, share) of `frame` by `key`; a missing key is a category of its own."""
    keys = pl.col(key).cast(pl.String).fill_null(UNKNOWN).alias("key")
    amount = pl.col(weight).cast(pl.Float64).sum() if weight else pl.len().cast(pl.Float64)
    return frame.group_by(keys).agg(amount.alias("share"))


def drift_measures(
    published: Mapping[str, pl.DataFrame], current: Mapping[str, pl.DataFrame]
) -> list[DriftMeasure]:
    """PSI of each measure between the published refresh and the current data.

    Args:
        published / current: `tier_summary`, `segment_summary`, `customer_segments`
            and `attribute_mix` frames as published (current: as computed now), and
            the published `personas`, whose distinguishing company attributes are the
            key attributes whose mix is compared.
    """
    measures = [
        DriftMeasure(
            "tier revenue share",
            psi(
                _shares(published["tier_summary"], "tier", "sales_revenue"),
                _shares(current["tier_summary"], "tier", "sales_revenue"),
            ),
        ),
        DriftMeasure(
            "segments: rfm",
            psi(
                _shares(published["customer_segments"], "rfm_segment"),
                _shares(current["customer_segments"], "rfm_segment"),
            ),
        ),
    ]
    for (base,), rows in published["segment_summary"].group_by("base", maintain_order=True):
        now = current["segment_summary"].filter(pl.col("base") == base)
        measures.append(
            DriftMeasure(
                f"segments: {base}",
                psi(_shares(rows, "segment", "customers"), _shares(now, "segment", "customers")),
            )
        )
    return measures + _key_attribute_mix(
        published.get("personas"), published.get("attribute_mix"), current.get("attribute_mix")
    )


def _key_attribute_mix(
    personas: pl.DataFrame | None,
    published_mix: pl.DataFrame | None,
    current_mix: pl.DataFrame | None,
) -> list[DriftMeasure]:
    """Each distinguishing company attribute: its published population mix against now's.

    Both mixes count every customer: a missing value is "(unknown)" on both sides.
    """
    if personas is None or published_mix is None or current_mix is None:
        return []
    key_attributes = (
        personas.filter((pl.col("kind") == "company") & pl.col("is_distinguishing"))
        .get_column("attribute")
        .unique()
        .sort()
        .to_list()
    )
    measures = []
    for attribute in key_attributes:
        before = published_mix.filter(pl.col("attribute") == attribute)
        if before.is_empty():
            continue
        now = current_mix.filter(pl.col("attribute") == attribute)
        measures.append(
            DriftMeasure(
                f"{attribute} mix",
                psi(
                    before.select(key="value", share="share"),
                    now.select(key="value", share="share"),
                ),
            )
        )
    return measures
