"""Marts: segment movement between the previous refresh and this one.

Produces `segment_transitions` (grain: one (base, from_segment, to_segment)):
customers and revenue moving between segments of each base (tier, RFM and
the four segmentation bases). Customers new since the previous refresh come
from "(new)", customers gone go to "(lost)"; revenue is this refresh's, or
the previous one's for lost customers. A first refresh has no rows: there is
nothing to compare with.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from schemas.vocabulary import BASES, TRANSITION_BASE_NAMES

NEW, LOST = "(new)", "(lost)"


# Each base whose movement is published: (base name, customer_segments column).
TRANSITION_BASES = tuple(
    zip(
        TRANSITION_BASE_NAMES,
        ("tier", "rfm_segment", *(f"{base}_segment" for base in BASES)),
        strict=True,
    )
)


def segment_transitions(
    previous: pl.LazyFrame | None, current: pl.LazyFrame, *, bases: Sequence[tuple[str, str]]
) -> pl.LazyFrame:
    """Count moves per base.

    Args:
        previous: the earlier refresh's customer_segments; None on a first refresh, which
            has nothing to compare with: no rows (not every customer "(new)").
        current: this refresh's customer_segments.
        bases: (base name, segment column) pairs, e.g. ("rfm", "rfm_segment").
    """
    columns = ["customer_id", "revenue", *(column for _, column in bases)]
    now = current.select(columns)
    if previous is None:
        return pl.LazyFrame(
            schema={
                "base": pl.String,
                "from_segment": pl.String,
                "to_segment": pl.String,
                "customers": pl.Int64,
                "revenue": now.collect_schema()["revenue"],
            }
        )
    before = previous.select(columns).cast(dict(now.collect_schema()))  # type: ignore[arg-type]
    joined = before.join(now, on="customer_id", how="full", suffix="_now", coalesce=True)
    moves = []
    for base, column in bases:
        moves.append(
            joined.select(
                base=pl.lit(base),
                from_segment=pl.col(column).fill_null(NEW),
                to_segment=pl.col(f"{column}_now").fill_null(LOST),
                revenue=pl.coalesce(pl.col("revenue_now"), pl.col("revenue")),
            )
        )
    return (
        pl.concat(moves)
        .group_by("base", "from_segment", "to_segment")
        .agg(customers=pl.len().cast(pl.Int64), revenue=pl.col("revenue").sum())
        .sort("base", "from_segment", "to_segment")
    )
