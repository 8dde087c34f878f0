"""How far the market moved since the published refresh: population stability indexes.

Produces `psi(expected, actual)`, the population stability index of two
distributions over the same categories (Σ (a − e) · ln(a / e), with empty
categories smoothed to a tiny share so new or vanished categories count instead
of dividing by zero), and `drift_measures(published, current)`, one PSI per
measure: the tier revenue shares, each segmentation base's customer mix, the RFM
segment mix, and the mix of each key attribute of the ideal company profile.
Rule of thumb: below 0.1 no change, 0.1–0.2 some, above 0.2 a real shift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

SMOOTHING = 1e-4  # the share given to a category absent on one side


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
        .with_columns(pl.col("e", "a") / pl.col("e", "a").sum())
        .with_columns(pl.col("e", "a").clip(lower_bound=SMOOTHING))
    )
    if joined.is_empty():
        return 0.0
    value = joined.select(((pl.col("a") - pl.col("e")) * (pl.col("a") / pl.col("e")).log()).sum())
    return float(value.item())


def _shares(frame: pl.DataFrame, key: str, weight: str | None = None) -> pl.DataFrame:
    counts = frame.group_by(pl.col(key).cast(pl.String).fill_null("(none)").alias("key")).agg(
        (pl.col(weight).cast(pl.Float64).sum() if weight else pl.len().cast(pl.Float64)).alias(
            "share"
        )
    )
    return counts


def drift_measures(
    published: Mapping[str, pl.DataFrame], current: Mapping[str, pl.DataFrame]
) -> list[DriftMeasure]:
    """PSI of each measure between the published refresh and the current data.

    Args:
        published / current: `tier_summary`, `segment_summary`, `customer_segments`
            and (optional) `personas` frames as published, and `customers` (current
            only: one row per customer with its attributes).
    """
    measures = [
        DriftMeasure(
            "tier revenue share",
            psi(
                _shares(published["tier_summary"], "tier", "revenue"),
                _shares(current["tier_summary"], "tier", "revenue"),
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
    measures += _key_attribute_mix(published.get("personas"), current.get("customers"))
    return measures


def _key_attribute_mix(
    personas: pl.DataFrame | None, customers: pl.DataFrame | None
) -> list[DriftMeasure]:
    """Each distinguishing company attribute: its published population mix against now's."""
    if personas is None or customers is None or personas.is_empty():
        return []
    key_values = personas.filter(
        (pl.col("kind") == "company") & pl.col("is_distinguishing")
    ).select("attribute", "value", "population_share")
    measures = []
    for (attribute,), rows in key_values.group_by("attribute", maintain_order=True):
        if attribute not in customers.columns:
            continue
        now = customers.select(pl.col(attribute).cast(pl.String).alias("value"))
        published_mix, current_mix = [], []
        for value, share in rows.select("value", "population_share").iter_rows():
            published_mix.append((value, share))
            current_mix.append((value, float((now["value"] == value).mean() or 0.0)))
        # the rest of the population as one category, so each side sums to 1
        published_mix.append(("(other)", 1 - sum(s for _, s in published_mix)))
        current_mix.append(("(other)", 1 - sum(s for _, s in current_mix)))
        measures.append(
            DriftMeasure(
                f"{attribute} mix",
                psi(
                    pl.DataFrame(published_mix, schema=["key", "share"], orient="row"),
                    pl.DataFrame(current_mix, schema=["key", "share"], orient="row"),
                ),
            )
        )
    return measures
