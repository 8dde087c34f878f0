"""Order lines at a URL that Spark reads (`sources.orders.uri`: s3a://, abfss://, gs://,
hdfs://, dbfs:/, file:///), listed and read by Spark alone: this process never opens
them, so they may live where only the cluster reaches.

Produces:
- `parquet_at(session, name, uri)`: a Parquet file, or a folder of them (Hive partition
  folders read as text columns, files starting with `_` or `.` skipped), as
  `ParquetAtUri`: its files in path order, their columns as Spark merges them, and
  each file's first row number, so that `engines.spark_lines.read_lines` numbers the
  rows as a folder on this machine is numbered;
- `csv_extracted_at(session, uri, extract, folder)`: each CSV file at `uri` (one, or a
  folder's, in path order) read whole by one task on an executor and put through
  `extract`, the same polars read of a CSV file as on one machine (its encoding, its
  quotes, its blank lines, its problems named alike); each file's rows are written to
  `folder` as a Parquet file numbered in path order, which Spark then reads as a local
  folder. A CSV file cannot be cut (a quoted value may span lines), so one task reads
  it: a file must fit an executor's memory, and Spark reads no file over 2 GiB this way.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

import polars as pl

from engines.spark_lines import SparkStepError, cause, executor_task_started, no_pandas_warning
from sources.buckets import written_aside
from sources.errors import SourceError

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

# Partition folders' values are text (region=007 keeps its zero), as on one machine.
_TEXT_PARTITIONS = "spark.sql.sources.partitionColumnTypeInference.enabled"


@dataclass(frozen=True)
class ParquetAtUri:
    """Parquet files at a URL, as Spark lists them (the shape of `sources.parquet_files.
    ParquetFiles` that `read_lines` and the extract use)."""

    uri: str
    files: tuple[str, ...]  # each file's URL as Spark names it, in path order
    columns: pl.Schema  # the files' columns, then the partition folders' (as text)
    starts: tuple[int, ...]  # each file's rows are numbered after this many

    @property
    def root(self) -> PurePosixPath:
        """The URL's path, naming the source in messages."""
        return PurePosixPath(unquote(urlparse(self.uri).path))

    @property
    def is_folder(self) -> bool:
        return self.files != (self.uri,)

    def first_rows(self) -> dict[str, int]:
        """Each file's (by its path, as `read_lines` looks it up) rows numbered after this
        many rows."""
        return {_path_of(file): start for file, start in zip(self.files, self.starts, strict=True)}

    def read(self, session: SparkSession) -> DataFrame:
        """The files read by Spark, with the columns and types of `columns`."""
        from engines.spark_lines import spark_schema

        return session.read.schema(spark_schema(self.columns)).parquet(self.uri)


def parquet_at(session: SparkSession, name: str, uri: str) -> ParquetAtUri:
    """The Parquet files at `uri`, listed, their columns merged and their rows counted by
    Spark (a job over the files' row counts).

    Raises:
        SourceError: nothing readable at `uri`, or Spark cannot merge the files' columns
            (Spark's reason, in one line).
    """
    from pyspark.sql import functions as F

    try:
        session.conf.set(_TEXT_PARTITIONS, "false")
        frame = session.read.option("mergeSchema", "true").parquet(uri)
        columns = _polars_schema(frame)
        counted = (
            frame.select(F.col("_metadata.file_path").alias("file"))
            .groupBy("file")
            .count()
            .collect()
        )
    except Exception as exc:  # Spark's own error, however it wraps it
        raise SourceError(f"sources.{name}.uri: Spark cannot read {uri}: {cause(exc)}") from None
    rows = {row["file"]: int(row["count"]) for row in counted}
    # A file of no rows is in no group: it adds no row to the numbering.
    files = tuple(sorted(rows, key=lambda file: unquote(file)))
    if not files:
        raise SourceError(f"sources.{name}.uri: no order line in the Parquet files at {uri}")
    starts, before = [], 0
    for file in files:
        starts.append(before)
        before += rows[file]
    single = len(files) == 1 and _path_of(files[0]) == _path_of(uri)
    return ParquetAtUri(uri, (uri,) if single else files, columns, tuple(starts))


def csv_extracted_at(
    session: SparkSession, uri: str, extract: Callable[[Path], pl.DataFrame], folder: Path
) -> Path:
    """The CSV files at `uri`, each read by a task on an executor: its bytes written to a
    local file named as the original, `extract(that file)` run on it, and the
    rows written to `folder`/`<n>.parquet` (`n`: the file's place in path order) without
    their row numbers (the folder's reader numbers them across the files, in order).

    Raises:
        SourceError: nothing at `uri`, or a file's read failed (`extract`'s own error,
            naming the file by its URL).
    """
    from pyspark.sql import functions as F

    try:
        listed = (
            session.read.format("binaryFile")
            .option("recursiveFileLookup", "true")
            .load(uri)
            .select("path")
            .collect()
        )
    except Exception as exc:
        raise SourceError(f"sources.orders.uri: Spark cannot read {uri}: {cause(exc)}") from None
    files = sorted((row["path"] for row in listed), key=unquote)
    if not files:
        raise SourceError(f"sources.orders.uri: no file at {uri}")
    places = {file: number for number, file in enumerate(files)}
    folder.mkdir(parents=True, exist_ok=True)

    def each(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        executor_task_started()
        for batch in batches:
            contents = batch.column("content")
            for row, file in enumerate(batch.column("path").to_pylist()):
                # One file's bytes in Python at a time (a batch may hold several files).
                content = contents[row].as_py()
                _extracted_file(file, content, extract, folder / f"{places[file]:06d}.parquet")
            yield pa.RecordBatch.from_pydict({"path": batch.column("path")})

    frame = (
        session.read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .load(uri)
        .select(F.col("path"), F.col("content"))
        # A file per task: the files are read side by side.
        .repartition(len(files), "path")
    )
    try:
        with no_pandas_warning():
            done = frame.mapInArrow(each, "path string").toArrow()
    except Exception as exc:
        reason = cause(exc)
        if reason.startswith(f"{SourceError.__module__}.{SourceError.__name__}: "):
            raise SourceError(reason.split(": ", 1)[1]) from None
        raise SparkStepError(f"reading the CSV files at {uri} failed on Spark: {reason}") from exc
    assert sorted(done.column("path").to_pylist()) == sorted(files)
    return folder


def _extracted_file(
    file: str, content: bytes, extract: Callable[[Path], pl.DataFrame], out: Path
) -> None:
    """One CSV file's rows, read from its bytes by `extract`, written to `out`."""
    from schemas.inputs import ROW_NUMBER

    with tempfile.TemporaryDirectory(prefix="personas-") as scratch:
        local = Path(scratch) / PurePosixPath(unquote(urlparse(file).path)).name
        local.write_bytes(content)
        try:
            rows = extract(local)
        except SourceError as exc:  # named by its URL, not the task's copy
            raise SourceError(str(exc).replace(str(local), file)) from None
    with written_aside(out) as aside:
        rows.drop(ROW_NUMBER, strict=False).write_parquet(aside)


def _polars_schema(frame: DataFrame) -> pl.Schema:
    """Spark's columns as polars types (through Arrow, as the rows will cross)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    empty = pl.from_arrow(to_arrow_schema(frame.schema, timezone="UTC").empty_table())
    assert isinstance(empty, pl.DataFrame)
    return empty.schema


def _path_of(file: str) -> str:
    """A file's URL as `read_lines` keys a file (its path, decoded)."""
    return unquote(urlparse(file).path)
