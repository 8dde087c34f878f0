"""Order lines on Spark: read there, cut into buckets by a stable hash, and each bucket
handed to the same polars functions as on one machine.

Produces:
- `read_lines(session, path, schema, extract)`: a Parquet file's rows as a Spark
  DataFrame, each with `_row_number` (its 1-based position in the file, from Spark's
  row index, so it is the same however Spark splits the file), put through `extract`,
  a polars function of a batch of rows run on the executors (`mapInArrow`);
- `with_buckets(frame, count, ...)`: each line's bucket, `pmod(xxhash64(key), count)`:
  Spark's xxhash64, a published algorithm with a fixed seed (42), so the same in every
  process, on every machine and in every Spark version (unlike a hash seeded per
  process, or polars' own, which may change between versions);
- `per_bucket(frame, check, schema)`: `check`, a polars function of one bucket's
  rows, run once per bucket on the executors after Spark's shuffle
  (`groupBy(bucket).applyInArrow`); the few rows it returns are collected by the
  driver, and what it keeps (a bucket's accepted lines) it writes itself, whole
  (`written_whole`), to a folder the driver reads.

Arrow carries the rows both ways: text as Arrow strings, money as decimals, dates as
dates. Nothing here knows what a line or a problem is: the functions handed in do.
"""

from __future__ import annotations

import re
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from schemas.inputs import ROW_NUMBER
from sources.buckets import cuts_whole_purchases

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType

BUCKET = "_bucket"

Batch = Callable[[pl.DataFrame], pl.DataFrame]
# The type polars gives a row index (`with_row_index`): a file's rows are numbered alike here.
ROW_INDEX = pl.DataFrame().with_row_index().schema["index"]


def spark_schema(schema: pl.Schema | dict[str, pl.DataType]) -> StructType:
    """The Spark columns of a polars schema (text as strings, decimals as decimals)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(_arrow_schema(schema))


def numbered(schema: pl.Schema) -> pl.Schema:
    """A file's columns as `read_lines` hands them to `extract`: with `_row_number`."""
    return schema if ROW_NUMBER in schema else pl.Schema({**schema, ROW_NUMBER: ROW_INDEX})


def read_lines(
    session: SparkSession, path: Path, schema: pl.Schema, extract: Batch, out: pl.Schema
) -> DataFrame:
    """A Parquet file's rows read by Spark, numbered, and put through `extract`, which
    makes rows of `out`.

    `schema` is the file's columns as polars reads them: each batch Spark hands over is
    cast back to it first, so `extract` sees what it sees on one machine (a timestamp
    with its zone, an unsigned integer as such).
    """
    from pyspark.sql import functions as F

    # A URI, not a bare path: a cluster's default file system (HDFS) would take a bare
    # path for one of its own.
    frame = session.read.parquet(path.resolve().as_uri())
    columns = [F.col(f"`{column}`") for column in schema.names()]
    if ROW_NUMBER not in schema:  # numbered as polars numbers a file it reads
        columns.append((F.col("_metadata.row_index") + 1).alias(ROW_NUMBER))
    frame = frame.select(*columns)
    read_as = numbered(schema)
    arrow_out = _exchanged(out)

    def batches(tables: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in tables:
            rows = pl.from_arrow(batch)
            assert isinstance(rows, pl.DataFrame)
            yield from _arrow(extract(rows.cast(dict(read_as))), arrow_out).to_batches()

    with _no_pandas_warning():
        return frame.mapInArrow(batches, spark_schema(out))


def with_buckets(
    frame: DataFrame, count: int, *, line_key: Sequence[str] | None, columns: Sequence[str]
) -> DataFrame:
    """`frame` with each line's bucket in 0..count-1, cut as `sources.buckets.bucket_of`
    cuts spilled lines (by order id, else customer, or by a line key without the order
    id), so that every comparison between lines stays inside a bucket."""
    from pyspark.sql import functions as F

    def column(name: str) -> Column:
        return F.col(f"`{name}`")

    customer = F.xxhash64(column("customer_id"))
    if not cuts_whole_purchases(line_key, columns):
        assert line_key  # a key without the order id
        whole = F.lit(True)
        for part in line_key:
            whole = whole & column(part).isNotNull()
        hashed = F.when(whole, F.xxhash64(*(column(part) for part in line_key))).otherwise(customer)
    elif "order_id" not in columns:  # a till's log: orders are a customer's days
        hashed = customer
    else:
        order = column("order_id")
        hashed = F.when(order.isNotNull(), F.xxhash64(order)).otherwise(customer)
    return frame.withColumn(BUCKET, F.pmod(hashed, F.lit(count)).cast("int"))


def per_bucket(
    frame: DataFrame, check: Callable[[pl.DataFrame, int], pl.DataFrame], schema: pl.Schema
) -> pl.DataFrame:
    """`check` run on each bucket's rows (in `_row_number` order) and its number, on the
    executors; what it returns (rows of `schema`: the few that come back) collected here,
    bucket by bucket. What a bucket keeps of its own (its accepted lines), `check`
    writes where the refresh reads it, so the lines never cross back through Spark."""
    arrow_out = _exchanged({**schema, BUCKET: pl.Int32})

    def bucket(table: pa.Table) -> pa.Table:
        rows = pl.from_arrow(table)
        assert isinstance(rows, pl.DataFrame)
        number = rows[BUCKET][0]
        # Spark's shuffle hands a bucket's rows over in no set order: in the source's
        # order, a bucket is checked exactly as on one machine.
        checked = check(rows.drop(BUCKET).sort(ROW_NUMBER), number)
        return _arrow(checked.with_columns(pl.lit(number, pl.Int32).alias(BUCKET)), arrow_out)

    with _no_pandas_warning():
        checked = frame.groupBy(BUCKET).applyInArrow(
            bucket, spark_schema({**schema, BUCKET: pl.Int32})
        )
    try:
        back = pl.from_arrow(checked.toArrow())
    except Exception as exc:  # the executor's own error, however Spark wraps it
        raise SparkStepError(f"a bucket's step failed on Spark: {_cause(exc)}") from exc
    assert isinstance(back, pl.DataFrame)
    # A bucket's rows come back together and in order; the buckets in any order.
    return back.sort(BUCKET, maintain_order=True).drop(BUCKET).cast(dict(schema))


class SparkStepError(Exception):
    """A step run on Spark failed, on an executor or in Spark itself."""


def _cause(exc: Exception) -> str:
    """Why a Spark job failed, in one line: the error an executor's Python raised (the
    last line of its traceback, which Spark wraps in pages of its own), else Spark's
    first line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    raised = [line for line in lines if re.match(r"^[\w.]*(Error|Exception|Panic)\b.*: ", line)]
    return raised[-1] if raised else (lines[0] if lines else type(exc).__name__)


def written_whole(frame: pl.DataFrame, path: Path, *, compression: str) -> Path:
    """`frame` written to `path` as Arrow IPC all at once: a task Spark runs twice (a
    retry, a speculative copy) leaves one whole file, never a torn one."""
    partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.partial")
    frame.write_ipc(partial, compression=compression)  # type: ignore[arg-type]
    partial.replace(path)
    return path


def _arrow_schema(schema: pl.Schema | dict[str, pl.DataType]) -> pa.Schema:
    """The Arrow schema Spark exchanges for polars columns: plain strings, no
    dictionaries, signed integers (an enum travels as its text, an unsigned integer as a
    wider one; both are cast back when read)."""
    plain = {column: _sparkable(dtype) for column, dtype in schema.items()}
    return pl.DataFrame(schema=plain).to_arrow(compat_level=pl.CompatLevel.oldest()).schema


@contextmanager
def _no_pandas_warning() -> Iterator[None]:
    """PySpark warns about the pandas version it finds; no pandas crosses here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _exchanged(schema: pl.Schema | dict[str, pl.DataType]) -> pa.Schema:
    """The Arrow schema Spark expects back for rows of `schema` (its own string and
    timestamp types)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(spark_schema(schema), timezone="UTC")


# Spark has signed integers only: an unsigned one travels in the next wider type.
_WIDER = {
    pl.UInt8: pl.Int16,
    pl.UInt16: pl.Int32,
    pl.UInt32: pl.Int64,
    pl.UInt64: pl.Decimal(20, 0),
}


def _sparkable(dtype: pl.DataType) -> pl.DataType:
    if isinstance(dtype, pl.Enum | pl.Categorical):
        return pl.String()
    return _WIDER.get(dtype.base_type(), dtype)  # type: ignore[return-value]


def _arrow(frame: pl.DataFrame, schema: pa.Schema) -> pa.Table:
    """`frame` as an Arrow table of exactly `schema` (missing columns null)."""
    import pyarrow as pa

    table = (
        frame.select(
            pl.col(name) if name in frame.columns else pl.lit(None).alias(name)
            for name in schema.names
        )
        .with_columns(pl.col(pl.Enum, pl.Categorical).cast(pl.String))
        .to_arrow(compat_level=pl.CompatLevel.oldest())
    )
    return pa.Table.from_batches(table.to_batches(), schema=table.schema).cast(schema)
