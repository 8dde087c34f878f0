"""Checks across sources that a single source's contract cannot see.

Produces problem frames (same columns as `schemas.validation.PROBLEM_SCHEMA`):
order lines the configured rules cannot use (no package tier under the package
rule, currencies mixed in one run), order lines repeated verbatim, and rows
naming a customer the customers source does not have (orders, contacts,
feedback, converted leads).
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from schemas.validation import PROBLEM_SCHEMA


def lines_without_package_tier(
    orders: pl.LazyFrame, products: pl.LazyFrame, *, packages: Mapping[str, str]
) -> pl.DataFrame:
    """Order lines whose product is unknown or whose package is not in `[tiers.packages]`."""
    known = products.select("product_id", "package").unique("product_id")
    return (
        orders.join(known, on="product_id", how="left")
        .filter(~pl.col("package").is_in(list(packages)).fill_null(False))
        .select(
            source=pl.lit("orders"),
            row_number=pl.col("_row_number").cast(pl.Int64),
            column=pl.lit("product_id"),
            problem=pl.when(pl.col("product_id").is_null())
            .then(pl.lit("no product_id, needed by tiers.rule = 'package'"))
            .when(pl.col("package").is_null())
            .then(pl.lit("product not found in products, or it has no package"))
            .otherwise(pl.format("package {} is not in [tiers.packages]", pl.col("package"))),
            value=pl.col("product_id"),
        )
        .collect()
        .cast(PROBLEM_SCHEMA)  # type: ignore[arg-type]
    )


def mixed_currencies(orders: pl.LazyFrame, *, currency: str) -> pl.DataFrame:
    """Order lines in another currency than the configured one (no rates are configured)."""
    code = pl.col("currency").str.strip_chars().str.to_uppercase()
    return (
        orders.filter(code.is_not_null() & (code != currency.upper()))
        .select(
            source=pl.lit("orders"),
            row_number=pl.col("_row_number").cast(pl.Int64),
            column=pl.lit("currency"),
            problem=pl.lit(f"currency differs from money.currency = {currency!r}"),
            value=pl.col("currency"),
        )
        .collect()
        .cast(PROBLEM_SCHEMA)  # type: ignore[arg-type]
    )


def unknown_customers(
    frame: pl.LazyFrame, source: str, column: str, customers: pl.LazyFrame
) -> pl.DataFrame:
    """Rows of `source` whose `column` names a customer that `customers` does not have."""
    known = customers.select(pl.col("customer_id").alias(column)).unique()
    return (
        frame.filter(pl.col(column).is_not_null())
        .join(known, on=column, how="anti")
        .select(
            source=pl.lit(source),
            row_number=pl.col("_row_number").cast(pl.Int64),
            column=pl.lit(column),
            problem=pl.lit("customer not found in customers"),
            value=pl.col(column).cast(pl.String),
        )
        .collect()
        .cast(PROBLEM_SCHEMA)  # type: ignore[arg-type]
    )


def duplicate_order_lines(orders: pl.DataFrame) -> pl.DataFrame:
    """Order lines identical in every column to an earlier line (an export's double rows)."""
    columns = [c for c in orders.columns if c != "_row_number"]
    # One hashing pass over the lines: the first copy is the one with the smallest row.
    return (
        orders.with_columns(first_row=pl.col("_row_number").min().over(pl.struct(columns)))
        .filter(pl.col("_row_number") != pl.col("first_row"))
        .select(
            source=pl.lit("orders"),
            row_number=pl.col("_row_number").cast(pl.Int64),
            column=pl.lit(None, pl.String),
            problem=pl.format("duplicate of order line row {}", pl.col("first_row")),
            value=pl.lit(None, pl.String),
        )
        .cast(PROBLEM_SCHEMA)  # type: ignore[arg-type]
    )
