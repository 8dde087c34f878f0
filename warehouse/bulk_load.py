"""Bulk loading a frame into a warehouse table, the fastest way each dialect offers.

Produces nothing of its own: `bulk_load` writes a polars frame, or a plan whose rows
are made a slice at a time as they are written, into an existing table inside the
caller's transaction — a stream of Arrow record batches for DuckDB, COPY … FROM
STDIN (CSV, a slice of rows at a time) for PostgreSQL, and executemany elsewhere.
This is the one module that knows how each dialect takes rows in.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import polars as pl
import sqlalchemy as sa

# Rows a plan makes at a time for DuckDB: half its row group of 122,880 rows. A batch is
# held twice over while DuckDB takes it and the next is made (a 10M refresh's customers,
# with their reasons: peak 1,204-1,232 MiB in batches of a whole row group, 1,110-1,122
# in halves, 0.1-0.3 s slower); smaller batches cost more time for less.
DUCKDB_BATCH_ROWS = 61_440
# Rows written to COPY at a time: the CSV of a whole customers table (with its reasons,
# hundreds of bytes a row) would be held in full, twice, beside the frame.
COPY_SLICE_ROWS = 50_000


def bulk_load(
    connection: sa.Connection, qualified_table: str, rows: pl.DataFrame | pl.LazyFrame
) -> None:
    """Insert every row of `rows` into `qualified_table` (already quoted), columns by name.

    Args:
        connection: a SQLAlchemy connection inside the caller's transaction.
        qualified_table: the target, quoted and schema-qualified for this dialect.
        rows: a frame whose column names are the table's column names, or a plan of
            one that makes each row from its own row of a frame (a slice of the plan
            is then the plan of a slice): its rows are made a slice at a time as they
            are written, so what the plan computes (a customer's reason joined from
            its parts) is never held for every row at once.
    """
    plan = rows.lazy()  # a frame is made a slice at a time the same way
    names = plan.collect_schema().names()
    dialect = connection.dialect
    columns = ", ".join(dialect.identifier_preparer.quote(c) for c in names)
    if dialect.name == "duckdb":
        _duckdb_arrow(connection, qualified_table, columns, plan)
    elif dialect.name == "postgresql" and dialect.driver == "psycopg":
        _postgres_copy(connection, qualified_table, columns, plan)
    else:
        # One executemany per slice; the driver batches it.
        keys = [f"c{i}" for i in range(len(names))]
        statement = sa.text(
            f"INSERT INTO {qualified_table} ({columns}) "
            f"VALUES ({', '.join(f':{key}' for key in keys)})"
        )
        for part in slices(plan, COPY_SLICE_ROWS):
            connection.execute(
                statement, [dict(zip(keys, row, strict=True)) for row in part.rows()]
            )


def slices(plan: pl.LazyFrame, size: int) -> Iterator[pl.DataFrame]:
    """The rows of `plan` in slices of at most `size` rows, in order, each made when it is
    asked for (none when there is no row)."""
    height = plan.select(pl.len()).collect().item()
    for offset in range(0, height, size):
        yield plan.slice(offset, size).collect()


def _duckdb_arrow(
    connection: sa.Connection,
    qualified_table: str,
    columns: str,
    plan: pl.LazyFrame,
) -> None:
    import pyarrow as pa

    raw = connection.connection.driver_connection
    view_name = "_personas_bulk_load"
    # Text goes as Arrow string views, polars' own layout, which DuckDB reads: the
    # default (large strings) would copy every text value first (about 0.5 GB for the
    # reasons of 500,000 customers).
    level = pl.CompatLevel.newest()
    # DuckDB pulls each batch as it writes the one before. One contiguous chunk per
    # column: DuckDB scans a many-chunked Arrow batch about twice as slowly.
    batches = (
        batch
        for part in slices(plan, DUCKDB_BATCH_ROWS)
        for batch in part.rechunk().to_arrow(compat_level=level).to_batches()
    )
    schema = plan.clear().collect().to_arrow(compat_level=level).schema
    raw.register(view_name, pa.RecordBatchReader.from_batches(schema, batches))
    try:
        connection.exec_driver_sql(
            f"INSERT INTO {qualified_table} ({columns}) SELECT {columns} FROM {view_name}"
        )
    finally:
        raw.unregister(view_name)


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
    connection: sa.Connection,
    qualified_table: str,
    columns: str,
    plan: pl.LazyFrame,
) -> None:
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {qualified_table} ({columns}) FROM STDIN (FORMAT csv)") as copy:
        for part in slices(plan, COPY_SLICE_ROWS):
            payload = io.BytesIO()
            write_copy_csv(part, payload)
            copy.write(payload.getbuffer())
