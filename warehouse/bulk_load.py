"""Bulk loading a frame into a warehouse table, the fastest way each dialect offers.

Produces nothing of its own: `bulk_load` writes a polars frame into an existing
table inside the caller's transaction — Arrow for DuckDB (one columnar copy),
COPY … FROM STDIN (CSV, a slice of rows at a time) for PostgreSQL, and a single
executemany elsewhere.
This is the one module that knows how each dialect takes rows in.
"""

from __future__ import annotations

import io

import polars as pl
import sqlalchemy as sa


def bulk_load(connection: sa.Connection, qualified_table: str, frame: pl.DataFrame) -> None:
    """Insert every row of `frame` into `qualified_table` (already quoted), columns by name.

    Args:
        connection: a SQLAlchemy connection inside the caller's transaction.
        qualified_table: the target, quoted and schema-qualified for this dialect.
        frame: rows whose column names are the table's column names.
    """
    if frame.is_empty():
        return
    dialect = connection.dialect
    columns = ", ".join(dialect.identifier_preparer.quote(c) for c in frame.columns)
    if dialect.name == "duckdb":
        _duckdb_arrow(connection, qualified_table, columns, frame)
    elif dialect.name == "postgresql" and dialect.driver == "psycopg":
        _postgres_copy(connection, qualified_table, columns, frame)
    else:
        # One executemany for the whole frame; the driver batches it.
        names = [f"c{i}" for i in range(frame.width)]
        statement = sa.text(
            f"INSERT INTO {qualified_table} ({columns}) "
            f"VALUES ({', '.join(f':{name}' for name in names)})"
        )
        connection.execute(statement, [dict(zip(names, row, strict=True)) for row in frame.rows()])


def _duckdb_arrow(
    connection: sa.Connection, qualified_table: str, columns: str, frame: pl.DataFrame
) -> None:
    raw = connection.connection.driver_connection
    view_name = "_personas_bulk_load"
    # One contiguous chunk per column: DuckDB scans a many-chunked Arrow table about
    # twice as slowly as the same rows in one chunk, and rechunking costs far less.
    # Text goes as Arrow string views, polars' own layout, which DuckDB reads: the
    # default (large strings) would copy every text value first (about 0.5 GB for the
    # reasons of 500,000 customers).
    raw.register(view_name, frame.rechunk().to_arrow(compat_level=pl.CompatLevel.newest()))
    try:
        connection.exec_driver_sql(
            f"INSERT INTO {qualified_table} ({columns}) SELECT {columns} FROM {view_name}"
        )
    finally:
        raw.unregister(view_name)


# Rows written to COPY at a time: the CSV of a whole customers table (with its reasons,
# hundreds of bytes a row) would be held in full, twice, beside the frame.
COPY_SLICE_ROWS = 50_000


def write_copy_csv(frame: pl.DataFrame, target: io.BytesIO) -> None:
    """`frame` as the CSV that COPY … (FORMAT csv) reads back exactly, into `target`."""
    # Every text value quoted: an empty string stays '' while a null (an unquoted empty
    # field) stays NULL. Booleans as true/false, timestamps in ISO 8601; UTF-8 bytes.
    frame.write_csv(
        target,
        include_header=False,
        quote_style="non_numeric",
        datetime_format="%Y-%m-%d %H:%M:%S%.f",
        date_format="%Y-%m-%d",
        null_value="",
    )


def _postgres_copy(
    connection: sa.Connection, qualified_table: str, columns: str, frame: pl.DataFrame
) -> None:
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {qualified_table} ({columns}) FROM STDIN (FORMAT csv)") as copy:
        for rows in frame.iter_slices(COPY_SLICE_ROWS):
            payload = io.BytesIO()
            write_copy_csv(rows, payload)
            copy.write(payload.getbuffer())
