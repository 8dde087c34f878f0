"""Order lines on Spark: read there, cut into buckets by a stable hash, and each bucket
handed to the same polars functions as on one machine.

Produces:
- `read_lines(session, files, extract, out)`: the rows of a Parquet file, or of a
  folder of them, as a Spark DataFrame, each with `_row_number` (its 1-based position
  in the file, after the rows of the folder's files before it, from Spark's row index,
  so it is the same however Spark splits the files), put through `extract`,
  a polars function of a batch of rows run on the executors (`mapInArrow`);
- `with_buckets(frame, count, ...)`: each line's bucket, `pmod(xxhash64(key), count)`:
  Spark's xxhash64, a published algorithm with a fixed seed (42), so the same in every
  process, on every machine and in every Spark version (unlike a hash seeded per
  process, or polars' own, which may change between versions);
- `in_batches(frame, transform, out)`: a polars function run on each batch of a Spark
  DataFrame's rows on the executors;
- `shared(session, value)`: a value for every executor (a broadcast, or inside the
  step over Spark Connect);
- `per_bucket(frame, check, schema)`: `check`, a polars function of one bucket's
  rows, run once per bucket on the executors after Spark's shuffle
  (`groupBy(bucket).applyInArrow`); the few rows it returns are collected by the
  driver, and what it keeps (a bucket's accepted lines) it writes itself, whole
  (`written_whole`), to a folder the driver reads;
- `executor_task_started()`: the first call of every function run on an executor
  (here, in `engines.spark_groups` and `engines.spark_files`), which keeps PySpark's
  garbage collection after each task from walking everything the worker holds.

Arrow carries the rows both ways: text as Arrow strings, money as decimals, dates as
dates. Nothing here knows what a line or a problem is: the functions handed in do.
"""

from __future__ import annotations

import gc
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

import polars as pl

from schemas.inputs import ROW_NUMBER
from sources.buckets import cuts_whole_purchases, written_aside
from sources.parquet_files import ParquetFiles

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from engines.spark_files import ParquetAtUri

BUCKET = "_bucket"
FILE = "_file"  # the file a row of a folder came from, while it is numbered

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
    session: SparkSession, files: ParquetFiles | ParquetAtUri, extract: Batch, out: pl.Schema
) -> DataFrame:
    """The rows of Parquet `files` (one file, or a folder's, on this machine or at a URL)
    read by Spark, numbered as polars numbers them, and put through `extract`, which
    makes rows of `out`.

    Each batch Spark hands over is cast back to the columns as polars reads them first,
    so `extract` sees what it sees on one machine (a timestamp with its zone, an
    unsigned integer as such, a partition folder's value as text).
    """
    from pyspark.sql import functions as F

    from engines.spark_files import ParquetAtUri

    schema = files.columns
    if isinstance(files, ParquetAtUri):
        frame = files.read(session)
    else:
        reader = session.read
        if files.is_folder:  # every file's columns, the partition folders' as text
            reader = reader.option("basePath", hadoop_path(files.root)).schema(spark_schema(schema))
        frame = reader.parquet(*(hadoop_path(path) for path in files.files))
    columns = [F.col(f"`{column}`") for column in schema.names()]
    starts: dict[str, int] = {}
    if ROW_NUMBER not in schema:  # numbered as polars numbers the rows it reads
        columns.append((F.col("_metadata.row_index") + 1).alias(ROW_NUMBER))
        if files.is_folder:  # after the rows of the files before
            columns.append(F.col("_metadata.file_path").alias(FILE))
            starts = files.first_rows()
    read_as = numbered(schema)

    def extracted(rows: pl.DataFrame) -> pl.DataFrame:
        if starts:
            rows = _after_earlier_files(rows, starts)
        return extract(rows.cast(dict(read_as)))

    return in_batches(frame.select(*columns), extracted, out)


def in_batches(frame: DataFrame, transform: Batch, out: pl.Schema) -> DataFrame:
    """`transform`, a polars function making rows of `out`, run on each batch of
    `frame`'s rows on the executors (`mapInArrow`: a partition's batches in order)."""
    arrow_out = _exchanged(out)

    def batches(tables: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        executor_task_started()
        for batch in tables:
            rows = pl.from_arrow(batch)
            assert isinstance(rows, pl.DataFrame)
            yield from _arrow(transform(rows), arrow_out).to_batches()

    with no_pandas_warning():
        return frame.mapInArrow(batches, spark_schema(out))


class Shared:
    """A value every executor reads (`.value`), sent with the step itself: how a Spark
    Connect session, which has no SparkContext to broadcast from, shares one."""

    def __init__(self, value: object) -> None:
        self.value = value


def shared(session: SparkSession, value: object) -> object:
    """`value` for the executors, read as `.value`: a broadcast (sent once per executor)
    where the session has a SparkContext, else inside the step (Spark Connect)."""
    if is_connect(session):
        return Shared(value)
    return session.sparkContext.broadcast(value)


def is_connect(session: SparkSession) -> bool:
    """Whether `session` is a Spark Connect client (no SparkContext, no RDDs)."""
    return type(session).__module__.startswith("pyspark.sql.connect")


def hadoop_path(path: Path) -> str:
    """A local path as Spark's file system takes it: a `file:` URI (a cluster's default
    file system, HDFS, would take a bare path for one of its own), its characters as
    they are (Hadoop does not decode `%` escapes: Hà Nội.parquet stays itself)."""
    # Absolute, not resolved: a file reached through a link keeps the path the folder
    # listed it by, which the rows' numbering looks it up by.
    return f"file://{path.absolute()}"


def _after_earlier_files(rows: pl.DataFrame, starts: dict[str, int]) -> pl.DataFrame:
    """Rows numbered within their file, renumbered after the rows of the files before
    (`starts`: by each file's path); Spark names a file by a URI."""
    names = rows[FILE].unique().to_list()
    first = {name: starts[unquote(urlparse(name).path)] for name in names}
    return rows.with_columns(
        pl.col(ROW_NUMBER) + pl.col(FILE).replace_strict(first, return_dtype=pl.Int64)
    ).drop(FILE)


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
        executor_task_started()
        rows = pl.from_arrow(table)
        assert isinstance(rows, pl.DataFrame)
        number = rows[BUCKET][0]
        # Spark's shuffle hands a bucket's rows over in no set order: in the source's
        # order, a bucket is checked exactly as on one machine.
        checked = check(rows.drop(BUCKET).sort(ROW_NUMBER), number)
        return _arrow(checked.with_columns(pl.lit(number, pl.Int32).alias(BUCKET)), arrow_out)

    with no_pandas_warning():
        checked = frame.groupBy(BUCKET).applyInArrow(
            bucket, spark_schema({**schema, BUCKET: pl.Int32})
        )
    try:
        back = pl.from_arrow(checked.toArrow())
    except Exception as exc:  # the executor's own error, however Spark wraps it
        raise SparkStepError(f"a bucket's step failed on Spark: {cause(exc)}") from exc
    assert isinstance(back, pl.DataFrame)
    # A bucket's rows come back together and in order; the buckets in any order.
    return back.sort(BUCKET, maintain_order=True).drop(BUCKET).cast(dict(schema))


def executor_task_started() -> None:
    """Called first by every function run on an executor: what the task's Python worker
    holds now (its modules, the step just unpickled) is left out of the collector's passes.

    PySpark's worker collects garbage in full after every task of a reused worker; with
    polars, pyarrow and personas' modules loaded, that pass took about 70 ms of CPU per
    task, more than most tasks' own work (a refresh of 300 lines on `local[2]`: about 110
    tasks). Frozen objects are still freed when nothing refers to them; only a cycle among
    them would stay, and what a task makes after this call is collected as before.
    """
    gc.freeze()


class SparkStepError(Exception):
    """A step run on Spark failed, on an executor or in Spark itself."""


def cause(exc: Exception) -> str:
    """Why a Spark job failed, in one line: the error an executor's Python raised (the
    last line of its traceback, which Spark wraps in pages of its own), else the first
    of Spark's own errors that names its class (`[FAILED_READ_FILE…] … file …`), else
    Spark's first line."""
    lines = [
        re.sub(r"^(Caused by:|:)\s*", "", line.strip())
        for line in str(exc).splitlines()
        if line.strip()
    ]
    raised = [
        line
        for line in lines
        if re.match(r"^[\w.$]*(Error|Exception|Panic)\b.*: ", line)
        and not re.search(r"An error occurred while calling|Exception thrown in awaitResult", line)
    ]
    python = [line for line in raised if not line.startswith(_JVM_PACKAGES)]
    classed = [line for line in raised if re.search(r": \[[A-Z_.]+\]", line)]
    for found in (python[-1:], classed[:1], raised[:1], lines[:1]):
        if found:
            return found[0]
    return type(exc).__name__


# Where the JVM's own exceptions live (an executor's Python error names none of them).
_JVM_PACKAGES = ("org.", "java.", "javax.", "scala.", "py4j.", "com.", "io.")


def written_whole(frame: pl.DataFrame, path: Path, *, compression: str) -> Path:
    """`frame` written to `path` as Arrow IPC all at once: a task Spark runs twice (a
    retry, a speculative copy) leaves one whole file, never a torn one."""
    with written_aside(path) as aside:
        frame.write_ipc(aside, compression=compression)  # type: ignore[arg-type]
    return path


def _arrow_schema(schema: pl.Schema | dict[str, pl.DataType]) -> pa.Schema:
    """The Arrow schema Spark exchanges for polars columns: plain strings, no
    dictionaries, signed integers (an enum travels as its text, an unsigned integer as a
    wider one; both are cast back when read)."""
    plain = {column: _sparkable(dtype) for column, dtype in schema.items()}
    return pl.DataFrame(schema=plain).to_arrow(compat_level=pl.CompatLevel.oldest()).schema


@contextmanager
def no_pandas_warning() -> Iterator[None]:
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
