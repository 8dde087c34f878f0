"""Staging: one typed, canonical frame per source, from validated text rows.

Produces, per source, a LazyFrame with one row per source row (same grain as
the source), every canonical column present in the source cast to its type
(`money` as Decimal(38, scale), `integer` as Int64, dates as Datetime/Date,
flags as Boolean, ids and text trimmed), `_row_number` kept, other source
columns dropped. Orders also get their `amount` filled from
quantity × unit_price − discount where the source has none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from schemas.inputs import ROW_NUMBER, SOURCE_COLUMNS, parse_value
from transforms import parsing
from transforms.statuses import DEFAULT_STATUSES, status_category


def stage_source(
    source: str,
    rows: pl.LazyFrame,
    *,
    scale: int,
    date_format: str | None = None,
    extra_columns: Sequence[str] = (),
) -> pl.LazyFrame:
    """Typed canonical columns of one source (those the source has), plus `_row_number`.

    Args:
        source: the source's name (`orders`, `customers` …).
        rows: the extracted text rows, already validated.
        scale: decimal places of money and numbers.
        date_format: strftime format of date columns; ISO 8601 when None.
        extra_columns: non-canonical columns kept as trimmed text attributes.
    """
    schema = rows.collect_schema()
    canonical = {column.name for column in SOURCE_COLUMNS[source]}
    typed = [
        parse_value(column, scale=scale, date_format=date_format, dtype=schema[column.name]).alias(
            column.name
        )
        for column in SOURCE_COLUMNS[source]
        if column.name in schema
    ]
    extras = [parsing.text(name).alias(name) for name in extra_columns if name not in canonical]
    return rows.select(pl.col(ROW_NUMBER).cast(pl.Int64), *typed, *extras)


def stage_orders(
    rows: pl.LazyFrame,
    *,
    scale: int,
    date_format: str | None = None,
    extra_columns: Sequence[str] = (),
    statuses: Mapping[str, Sequence[str]] = DEFAULT_STATUSES,
) -> pl.LazyFrame:
    """Staged order lines with `amount` always set (computed where the source has none).

    Grain: one order line. `amount` is the source's amount where given, else
    quantity × unit_price − discount (a missing discount counts as zero).
    `status` is its category word (completed, cancelled, refunded; null when blank)
    by the configured `statuses`. Missing optional columns are added as nulls so
    later layers see one shape.
    """
    return with_line_amounts(
        order_values(
            rows,
            scale=scale,
            date_format=date_format,
            extra_columns=extra_columns,
            statuses=statuses,
        )
    )


def order_values(
    rows: pl.LazyFrame,
    *,
    scale: int,
    date_format: str | None = None,
    extra_columns: Sequence[str] = (),
    statuses: Mapping[str, Sequence[str]] = DEFAULT_STATUSES,
) -> pl.LazyFrame:
    """Order lines typed, the status as its category word, absent columns as nulls; the
    amount as the source gives it (`with_line_amounts` completes it). Validation screens
    these values, so a line is parsed once; amounts are computed only for accepted lines,
    whose products are known to fit."""
    staged = stage_source(
        "orders", rows, scale=scale, date_format=date_format, extra_columns=extra_columns
    )
    names = set(staged.collect_schema().names())
    money = pl.Decimal(38, scale)
    defaults = {
        "order_id": pl.String,
        "amount": money,
        "quantity": pl.Int64,
        "unit_price": money,
        "discount": money,
        "cost": money,
        "currency": pl.String,
        "status": pl.String,
        "product_id": pl.String,
        "channel": pl.String,
        "due_date": pl.Datetime("us"),
        "paid_at": pl.Datetime("us"),
    }
    return staged.with_columns(
        pl.lit(None, dtype).alias(name) for name, dtype in defaults.items() if name not in names
    ).with_columns(status_category(pl.col("status"), statuses).alias("status"))


def with_line_amounts(orders: pl.LazyFrame) -> pl.LazyFrame:
    """`amount` where the line has none: quantity × unit_price − discount (no discount: 0)."""
    money = orders.collect_schema()["amount"]
    computed = pl.col("quantity") * pl.col("unit_price") - pl.col("discount").fill_null(0)
    return orders.with_columns(pl.coalesce(pl.col("amount"), computed).cast(money).alias("amount"))
