"""Marts: each lead's fit to the target profile, and how well fit separates converted leads.

Produces `lead_scores` (grain: one lead: fit_score in [0, 1], is_target,
matched_persona_id, matched_attributes) and `conversion_auc`, the area under
the ROC curve of fit_score for converted vs unconverted leads.

Fit: every distinguishing company value of the target profile carries a
weight ln(lift) (> 0, since lift > 1); a lead's fit is the weight of the values
it matches divided by the weight of all attributes the profile names, so a
lead that matches the profile on every attribute scores 1. A lead is a target
customer (not merely a potential one) when fit_score >= the threshold.
"""

from __future__ import annotations

import polars as pl

WEIGHT = pl.Decimal(38, 12)  # ln(lift), exact to 12 places


def lead_scores(
    leads: pl.LazyFrame, target: pl.LazyFrame, *, persona_id: str, threshold: float
) -> pl.LazyFrame:
    """Score leads against the target profile's company values.

    Args:
        leads: one row per lead with lead_id and company attribute columns.
        target: the target profile (attribute, value, lift, source).
        persona_id: the persona the profile belongs to.
        threshold: fit from which a lead is a target customer.
    """
    lead_columns = leads.collect_schema().names()  # schema order: never a set's order
    weights = (
        target.filter(pl.col("source") == "company")
        .filter(pl.col("attribute").is_in(list(lead_columns)))
        # Weights as exact decimals (12 places): their sums do not depend on the order the
        # rows arrive in, so neither does any score (float sums would, in the last bit).
        .select("attribute", "value", weight=pl.col("lift").log().round(12).cast(WEIGHT))
    )
    attributes = weights.select("attribute").unique()
    per_attribute = weights.group_by("attribute").agg(pl.col("weight").max())
    total = per_attribute.select(total=pl.col("weight").sum())
    attribute_columns = [c for c in lead_columns if c != "lead_id"]
    # Every attribute as text before the unpivot: lead columns mix decimals, dates and
    # text, which have no common type.
    long = leads.select("lead_id", pl.col(attribute_columns).cast(pl.String)).unpivot(
        index="lead_id",
        on=attribute_columns,
        variable_name="attribute",
        value_name="value",
    )
    matched = (
        long.join(attributes, on="attribute", how="semi")
        .join(weights, on=["attribute", "value"], how="inner")
        .group_by("lead_id")
        .agg(
            matched_weight=pl.col("weight").sum(),
            matched_attributes=pl.format("{}={}", "attribute", "value").sort().str.join("; "),
        )
    )
    return (
        leads.select("lead_id")
        .join(matched, on="lead_id", how="left")
        .join(total, how="cross")
        .with_columns(
            fit_score=pl.when(pl.col("total") > 0)
            .then(
                pl.col("matched_weight").fill_null(0).cast(pl.Float64)
                / pl.col("total").cast(pl.Float64)
            )
            .otherwise(0.0)
        )
        .select(
            "lead_id",
            "fit_score",
            is_target=pl.col("fit_score") >= threshold,
            matched_persona_id=pl.when(pl.col("fit_score") >= threshold).then(pl.lit(persona_id)),
            matched_attributes=pl.col("matched_attributes").fill_null(""),
        )
        .sort("lead_id")
    )


def conversion_auc(scores: pl.LazyFrame, leads: pl.LazyFrame) -> pl.LazyFrame:
    """AUC of fit_score for converted (converted_customer_id set) vs other leads.

    One row: auc (null when either group is empty, or when the leads do not say which
    converted), converted, unconverted. The Mann-Whitney form with average ranks, so
    ties count one half.
    """
    if "converted_customer_id" not in leads.collect_schema().names():
        return pl.LazyFrame(
            {"auc": [None], "converted": [None], "unconverted": [None]},
            schema={"auc": pl.Float64, "converted": pl.Int64, "unconverted": pl.Int64},
        )
    labelled = scores.join(
        leads.select("lead_id", converted=pl.col("converted_customer_id").is_not_null()),
        on="lead_id",
    ).with_columns(rank=pl.col("fit_score").rank("average"))
    positives = pl.col("converted").sum().cast(pl.Float64)
    negatives = (~pl.col("converted")).sum().cast(pl.Float64)
    rank_sum = pl.col("rank").filter(pl.col("converted")).sum()
    auc = (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
    return labelled.select(
        auc=pl.when((positives > 0) & (negatives > 0)).then(auc),
        converted=positives.cast(pl.Int64),
        unconverted=negatives.cast(pl.Int64),
    )
