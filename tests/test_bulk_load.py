"""Bulk loading on DuckDB and a live PostgreSQL: every row arrives exactly as it was,
whatever slices PostgreSQL's COPY takes the frame in (a slice ending inside a run of
quoted text, a last slice of one row); empty text stays empty and null stays null."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import polars as pl
import pytest
import sqlalchemy as sa

from warehouse import bulk_load as loading

ROWS = pl.DataFrame(
    {
        "customer_id": ["000001", "KH-0002", "", None, "Đà Nẵng 5", "6", "0007"],
        "reason": [
            "tier Large: most revenue; RFM Champions",
            'a "quoted" word, and a comma',
            "two\nlines",
            None,
            "Hà Nội: thành phố",
            "",
            "x" * 700,
        ],
        "revenue": [
            Decimal("1.10"),
            Decimal("-0.01"),
            None,
            Decimal("0"),
            Decimal("123456789012.99"),
            Decimal("5"),
            Decimal("7.07"),
        ],
        "is_best": [True, False, None, True, False, True, False],
        "first_at": [datetime(2024, 1, 1, 9, 30, 0, 123456), None, *[datetime(2026, 6, 30)] * 5],
    },
    schema_overrides={"revenue": pl.Decimal(38, 2)},
)
DDL = (
    "CREATE TABLE loaded (customer_id VARCHAR, reason VARCHAR, revenue DECIMAL(38, 2), "
    "is_best BOOLEAN, first_at TIMESTAMP)"
)


@pytest.mark.parametrize("slice_rows", [3, 50_000])
def test_every_row_arrives_as_it_was_in_any_slices(
    warehouse_url: str, slice_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loading, "COPY_SLICE_ROWS", slice_rows)
    engine = sa.create_engine(warehouse_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(DDL)
            loading.bulk_load(connection, "loaded", ROWS)
        with engine.connect() as connection:
            back = connection.exec_driver_sql("SELECT * FROM loaded").fetchall()
    finally:
        engine.dispose()
    assert sorted(back, key=repr) == sorted(ROWS.rows(), key=repr)
