"""Checks across sources that a single source's contract cannot see.

Produces problem frames (same columns as `schemas.validation.PROBLEM_SCHEMA`):
order lines the configured rules cannot use (no package tier under the package
rule, currencies mixed in one run), order lines whose line key repeats (and,
only where configured, lines repeated verbatim), and rows
naming a customer the customers source does not have (orders, contacts,
feedback, converted leads).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from schemas.inputs import ROW_NUMBER
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
    # A handful of codes however many lines: each distinct code is trimmed and upper-cased
    # once (not every line's), and only the lines holding another currency are read.
    codes = orders.select(pl.col("currency").unique()).collect()["currency"]
    other = codes.filter(codes.str.strip_chars().str.to_uppercase() != currency.upper())
    return (
        orders.filter(pl.col("currency").is_in(other.to_list()))
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


# The line keys an order source may carry, in order of preference, when no
# `line_key` is configured: an order id with a line number, else with a product.
DEFAULT_LINE_KEYS: tuple[tuple[str, ...], ...] = (
    ("order_id", "line_number"),
    ("order_id", "product_id"),
)


def order_line_key(columns: Sequence[str], configured: Sequence[str] | None) -> list[str] | None:
    """The columns that identify one order line, or None when the source has no line key.

    Args:
        columns: the order source's columns as extracted (canonical names where mapped).
        configured: `sources.orders.line_key`, already resolved to those names.
    """
    if configured is not None:
        return list(configured)
    for key in DEFAULT_LINE_KEYS:
        if all(part in columns for part in key):
            return list(key)
    return None


def duplicate_order_lines(
    orders: pl.DataFrame, *, key: Sequence[str] | None, reject_identical: bool = False
) -> pl.DataFrame:
    """Order lines whose line key repeats an earlier line's (the first copy is kept).

    Identical lines are not duplicates: a customer buying the same thing twice on one
    day makes two identical lines. Only a key says two rows are the same line; a key
    with a missing part identifies nothing. With `reject_identical`, lines identical in
    every column to an earlier one are rejected too (a source known to be exported twice).
    """
    found = [pl.DataFrame(schema=PROBLEM_SCHEMA)]
    if key:
        # Only the key and the row number are read: no copy of every column of every line.
        keyed = (
            orders.lazy()
            .select(ROW_NUMBER, *key)
            .filter(pl.all_horizontal(pl.col(list(key)).is_not_null()))
        )
        found.append(
            _repeats(keyed, list(key), f"duplicate line key ({', '.join(key)}) of row {{}}")
        )
    if reject_identical:
        columns = [c for c in orders.columns if c != ROW_NUMBER]
        found.append(
            _repeats(
                orders.lazy(),
                columns,
                "identical to order line row {} (sources.orders.reject_identical_lines)",
            )
        )
    # A line both keyed twice and identical is one problem: the first message found.
    return pl.concat(found).unique("row_number", keep="first", maintain_order=True)


def identical_order_lines(
    orders: pl.DataFrame,
    *,
    key: Sequence[str] | None = None,
    kept: pl.LazyFrame | None = None,
) -> int:
    """How many lines repeat an earlier line in every column (kept: separate purchases).

    Lines with a whole line key are skipped: two identical ones share their key, so
    the later one is a duplicate, never a kept repeat; only lines without one can be.
    `kept` (its `_row_number`s) limits the count to the lines validation accepted; it is
    looked up only for the lines without a key, which most exports have none of.
    """
    columns = [c for c in orders.columns if c != ROW_NUMBER]
    if key:
        orders = orders.filter(~pl.all_horizontal(pl.col(list(key)).is_not_null()))
    if kept is not None and not orders.is_empty():
        orders = orders.join(kept.select(ROW_NUMBER).collect(), on=ROW_NUMBER, how="semi")
    if orders.is_empty() or not columns:
        return 0
    return orders.height - orders.select(pl.struct(columns).n_unique()).item()


def _repeats(orders: pl.LazyFrame, columns: list[str], problem: str) -> pl.DataFrame:
    """Rows whose `columns` equal an earlier row's, naming the first (kept) row."""
    # A 64-bit hash per row finds the candidates with a small table (not one of every
    # line's text); the candidates, few, are then compared on their values, so two
    # lines that only share a hash are never called repeats.
    candidates = (
        orders.select(ROW_NUMBER, *columns, _hash=pl.struct(columns).hash())
        .filter(pl.col("_hash").is_duplicated())
        .drop("_hash")
        .collect()
    )
    first = candidates.group_by(columns).agg(first_row=pl.col(ROW_NUMBER).min())
    return (
        candidates.join(first, on=columns, nulls_equal=True)
        .filter(pl.col(ROW_NUMBER) != pl.col("first_row"))
        .sort(ROW_NUMBER)
        .select(
            source=pl.lit("orders"),
            row_number=pl.col(ROW_NUMBER).cast(pl.Int64),
            column=pl.lit(None, pl.String),
            problem=pl.format(problem, pl.col("first_row")),
            value=pl.lit(None, pl.String),
        )
        .cast(PROBLEM_SCHEMA)  # type: ignore[arg-type]
    )
