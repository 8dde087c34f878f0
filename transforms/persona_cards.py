"""Marts: the persona card — what the best customers want, what hurts, and a real quote.

Produces `top_values` (one text per field: the most frequent values among the
best customers with their shares, e.g. "mở rộng thị trường (46%); giảm chi phí
(21%)") and `representative_quote` (one row: quote, quote_customer_id).

Quote rule: among the best customers' feedback with text, take the rows whose
goal is their most frequent goal and whose pain point is their most frequent
pain point (if none, those with the most frequent goal; if none, all); of
those, the one whose score is closest to their median score; ties go to the
most recent, then the shortest text, then the lowest customer_id. The quote
is a real answer, never composed.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl


def top_values(rows: pl.LazyFrame, *, fields: Sequence[str], top: int = 3) -> pl.LazyFrame:
    """One row: for each field, its `top` most frequent values with their shares."""
    present = [f for f in fields if f in rows.collect_schema().names()]
    texts = []
    for field in present:
        counted = (
            rows.filter(pl.col(field).is_not_null())
            .group_by(field)
            .agg(count=pl.len())
            .with_columns(share=pl.col("count") / pl.col("count").sum())
            .sort(["count", field], descending=[True, False])
            .head(top)
            .select(
                pl.format(
                    "{} ({}%)", pl.col(field), (pl.col("share") * 100).round(0).cast(pl.Int64)
                )
                .str.join("; ")
                .alias(field)
            )
        )
        texts.append(counted)
    missing = [pl.lit(None, dtype=pl.String).alias(f) for f in fields if f not in present]
    base = pl.concat(texts, how="horizontal") if texts else pl.LazyFrame({"_": [0]})
    return base.with_columns(missing).select(fields)


def representative_quote(feedback: pl.LazyFrame) -> pl.LazyFrame:
    """The best customers' most representative real quote (see the module docstring)."""
    names = feedback.collect_schema().names()
    if "text" not in names:
        return pl.LazyFrame(schema={"quote": pl.String, "quote_customer_id": pl.String})
    rows = feedback.filter(pl.col("text").str.strip_chars().str.len_chars() > 0)
    goal = pl.col("goal") if "goal" in names else pl.lit(None, pl.String)
    pain = pl.col("pain_point") if "pain_point" in names else pl.lit(None, pl.String)
    rows = rows.with_columns(_goal=goal, _pain=pain)
    top_goal = pl.col("_goal").drop_nulls().mode().sort().first()
    top_pain = pl.col("_pain").drop_nulls().mode().sort().first()
    rows = rows.with_columns(
        _match=(pl.col("_goal") == top_goal).fill_null(False).cast(pl.Int8) * 2
        + (pl.col("_pain") == top_pain).fill_null(False).cast(pl.Int8)
    )
    # keep the best tier of match available: both, else the goal, else everyone
    strongest = pl.col("_match").max()
    best_match = pl.when(strongest >= 2).then(pl.col("_match") == strongest).otherwise(True)
    candidates = rows.filter(best_match)
    score = pl.col("score").cast(pl.Float64) if "score" in names else pl.lit(0.0)
    created = pl.col("created_at") if "created_at" in names else pl.lit(None, pl.Datetime("us"))
    return (
        candidates.with_columns(
            _distance=(score - score.median()).abs().fill_null(0.0),
            _created=created,
            _length=pl.col("text").str.len_chars(),
        )
        .sort(  # every tie broken, down to the text: one quote whatever the row order
            ["_distance", "_created", "_length", "customer_id", "text"],
            descending=[False, True, False, False, False],
            nulls_last=True,
        )
        .head(1)
        .select(quote=pl.col("text"), quote_customer_id=pl.col("customer_id"))
    )
