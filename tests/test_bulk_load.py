"""Bulk loading on DuckDB and a live PostgreSQL: every row arrives exactly as it was,
whatever slices PostgreSQL's COPY takes the frame in (a slice ending inside a run of
quoted text, a last slice of one row); empty text stays empty and null stays null."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import polars as pl
import pytest
import sqlalchemy as sa

from schemas.reasons import joined_reason, reason_parts
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


@pytest.mark.parametrize("slice_rows", [2, 50_000])
def test_a_plan_s_rows_arrive_as_it_makes_them_in_any_slices(
    warehouse_url: str, slice_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan is made a slice at a time (DuckDB's record batches, PostgreSQL's COPY
    slices): every row arrives once, as the plan computes it, its reason joined from
    the parts a refresh keeps."""
    monkeypatch.setattr(loading, "COPY_SLICE_ROWS", slice_rows)
    monkeypatch.setattr(loading, "DUCKDB_BATCH_ROWS", slice_rows)
    reasons = ROWS["reason"].to_list()
    kept = ROWS.drop("reason").with_columns(
        **reason_parts(
            [
                pl.Series([None if r is None else r[:4] for r in reasons]),
                pl.Series([None if r is None else r[4:] for r in reasons]),
            ]
        )
    )
    plan = joined_reason(kept.lazy()).select(ROWS.columns)
    engine = sa.create_engine(warehouse_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(DDL)
            loading.bulk_load(connection, "loaded", plan)
            loading.bulk_load(connection, "loaded", plan.clear())  # no row: nothing
        with engine.connect() as connection:
            back = connection.exec_driver_sql("SELECT * FROM loaded").fetchall()
    finally:
        engine.dispose()
    # each part cut at the fourth character, joined with "; "
    joined = [None if r is None else f"{r[:4]}; {r[4:]}" for r in reasons]
    assert sorted(back, key=repr) == sorted(
        ROWS.with_columns(reason=pl.Series(joined)).rows(), key=repr
    )
    assert joined[0] == "tier;  Large: most revenue; RFM Champions"
    assert joined[4] == "Hà N; ội: thành phố"
