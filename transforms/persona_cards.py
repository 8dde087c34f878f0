"""Marts: the persona card — what the best customers want, what hurts, and a real quote.

Produces `top_values` (one text per field: the most frequent values among the
best customers with their shares, e.g. "mở rộng thị trường (46%); giảm chi phí
(21%)"), `representative_quote` (one row: quote, quote_customer_id),
`top_purchases` (what most best customers bought, from the purchase profile) and
`purchase_habits` (one row: repeat-purchase rates and median order values of the
best customers and of everyone else).

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

from transforms.grouped_medians import medians_over_groups
from transforms.purchases import Keep, as_groups, kept_in_memory


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


HABIT_SCHEMA = {
    "top_purchases": pl.String,
    "best_repeat_rate": pl.Float64,
    "others_repeat_rate": pl.Float64,
    "best_median_order_value": pl.Float64,
    "others_median_order_value": pl.Float64,
}


def top_purchases(purchased: pl.DataFrame, *, top: int = 3) -> str | None:
    """The `top` categories (or products) most best customers bought, from the purchase
    profile (`transforms.profiles.scored_purchases`, after the privacy guard): each
    "name (share of best customers who bought it, lift vs all customers)"."""
    if purchased.is_empty():
        return None
    rows = purchased.sort(["customers", "value"], descending=[True, False]).head(top)
    return "; ".join(
        f"{value} ({round(support * 100)}%, lift {round(lift, 2)})"
        for value, support, lift in rows.select("value", "support", "lift").iter_rows()
    )


def purchase_habits(
    orders: pl.LazyFrame | Sequence[pl.LazyFrame],
    customers: pl.LazyFrame,
    *,
    keep: Keep = kept_in_memory,
) -> pl.LazyFrame:
    """One row: how the best customers behave, against everyone else.

    best/others_repeat_rate: share of customers with two orders or more;
    best/others_median_order_value: median value of an order (positive orders);
    top_purchases is null here (the card fills it from the purchase profile).

    Args:
        orders: the valid lines summed per order (`transforms.purchases.purchases_of_lines`:
            one row per customer_id, order_key, with its amount), or groups of them
            holding whole customers: the medians are then found a group at a time
            (`transforms.grouped_medians`), exactly.
        customers: one row per customer: customer_id, is_best, order_count.
        keep: where the best flags are kept while each group's plan reads them
            (`sources.buckets.keeper`).
    """
    best_of = customers.select("customer_id", _best="is_best", _orders="order_count")
    best, others = pl.col("_best"), ~pl.col("_best")
    rates = best_of.with_columns(repeat=pl.col("_orders") >= 2).select(
        best_repeat_rate=pl.col("repeat").filter(best).cast(pl.Float64).mean(),
        others_repeat_rate=pl.col("repeat").filter(others).cast(pl.Float64).mean(),
    )
    groups = as_groups(orders)
    (flags,) = keep([best_of.drop("_orders")]) if len(groups) > 1 else (best_of.drop("_orders"),)
    valued = [
        group.join(flags, on="customer_id", how="left").select(
            pl.col("_best").fill_null(False), value=pl.col("amount").cast(pl.Float64)
        )
        for group in groups
    ]
    positive = pl.col("value") > 0
    if len(valued) == 1:
        values = valued[0].select(
            best_median_order_value=pl.col("value").filter(best & positive).median(),
            others_median_order_value=pl.col("value").filter(others & positive).median(),
        )
    else:
        # The medians take several passes over the groups: each group's positive values and
        # flags are joined once and kept (on disk when spilled: two numeric columns), and
        # the passes read those instead of joining every order to its customer again.
        kept = keep([group.filter(positive) for group in valued])
        medians = medians_over_groups(kept, value="value", by="_best")
        values = pl.LazyFrame(
            {
                "best_median_order_value": [medians.get(True)],
                "others_median_order_value": [medians.get(False)],
            },
            schema={"best_median_order_value": pl.Float64, "others_median_order_value": pl.Float64},
        )
    return (
        pl.concat([rates, values], how="horizontal")
        .with_columns(top_purchases=pl.lit(None, pl.String))
        .select(list(HABIT_SCHEMA))
        .cast(HABIT_SCHEMA)  # type: ignore[arg-type]
    )
