"""The order lines of a refresh on the Spark engine: read by Spark and checked there a
bucket at a time, by the same per-bucket check as a refresh on one machine.

Produces `LinesOnSpark`, what the extract stage hands on for the orders source
(`lines_for_spark`): a Parquet orders file, or a folder of them, on this machine or
at a URL (`uri`, `engines.spark_files`), is read by Spark's executors and extracted
there, batch by batch, by the same row-by-row steps as on one machine (canonical
names, keys in one form, ids mapped, contact data hashed). CSV files at a URL are
read there a file per task by the same read as on one machine, and written to the
spill area as Parquet, which Spark then reads.
A database table or query is read by this process a batch at a time (never held
whole), each batch extracted and made ready, and appended to one Parquet file in
the run's spill area; a CSV or a workbook is extracted by this process and streamed
to one Parquet file there (a CSV can only be read from its start: a quoted value
may span lines). Spark reads that file.

`validated_on_spark` cuts the lines into `[engine] buckets` buckets (`engines.
spark_lines.with_buckets`), runs the check on each bucket on the executors, and
brings back only the quarantine rows, the counts and any problem of the whole source;
each bucket's accepted lines are written by its executor to the spill area, where a
refresh on one machine writes them, and the later stages read them a bucket at a
time, as they read spilled lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import polars as pl

from config.settings import EngineSettings, SourceSettings
from engines.spark_files import ParquetAtUri, csv_extracted_at, parquet_at
from engines.spark_jdbc import jdbc_rows
from engines.spark_lines import (
    cause,
    hadoop_path,
    in_batches,
    numbered,
    per_bucket,
    read_lines,
    shared,
    with_buckets,
    written_whole,
)
from schemas.cross_checks import order_line_key
from schemas.inputs import ROW_NUMBER
from schemas.quarantine import QUARANTINE_SCHEMA, SourceSplit
from schemas.validation import PROBLEM_SCHEMA
from sources.buckets import SPILL_COMPRESSION, cuts_whole_purchases, validated_lines_path
from sources.extract import (
    SourceError,
    as_extracted,
    database_rows,
    extract_source,
    line_key_columns,
    parquet_as_read,
    parquet_source,
    read_source,
)
from sources.parquet_files import ParquetFiles, parquet_files

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# A source's rows, extracted, made ready row by row (ids mapped, contact data hashed).
Prepare = Callable[[pl.LazyFrame], pl.LazyFrame]
# What a bucket's check sends back: its problems, and one row of counts.
KIND = "_kind"
COUNTS = {"_rows_in": pl.Int64, "_rows_rejected": pl.Int64, "_identical": pl.Int64}
BACK = pl.Schema({**QUARANTINE_SCHEMA, **COUNTS, KIND: pl.String})


class Checked(Protocol):
    """One bucket after its check (`pipeline.stages.check_bucket`)."""

    split: SourceSplit
    staged: pl.LazyFrame
    fatal: pl.DataFrame
    identical_lines: int


# The per-bucket check: a bucket's rows and the known customers' ids (None: no customers
# source), as on one machine.
Check = Callable[[pl.DataFrame, pl.DataFrame | None], Checked]


@dataclass(frozen=True)
class LinesOnSpark:
    """An orders source that Spark reads: its own Parquet file, or its rows extracted
    here and written as Parquet."""

    files: ParquetFiles  # the source's own Parquet file or folder, or the rows extracted here
    extract: Callable[[pl.DataFrame], pl.DataFrame]  # a batch of the file's rows, extracted
    extracted: pl.Schema  # the columns `extract` makes
    folder: Path  # the run's spill area: each checked bucket's lines are written there
    line_key: tuple[str, ...] | None
    whole_purchases: bool  # every purchase's lines fall in one bucket


@dataclass(frozen=True)
class CheckedOnSpark:
    """The lines after every bucket's check: what came back, and where the rest is."""

    split: SourceSplit  # the quarantine (in no set order) and the counts
    parts: tuple[pl.LazyFrame, ...]  # the accepted lines, a bucket each
    fatal: pl.DataFrame  # problems of the whole source (PROBLEM_SCHEMA)
    identical_lines: int


def lines_for_spark(
    name: str,
    source: SourceSettings,
    *,
    folder: Path,
    prepare: Prepare,
    session: SparkSession | None = None,
    engine: EngineSettings | None = None,
) -> LinesOnSpark:
    """The orders source as Spark will read it (see the module docstring); `session`
    lists and reads files at a URL (`uri`), and a database through JDBC where `engine`
    says so (`[engine] jdbc`).

    Raises:
        SourceError: the file is missing or empty, or the column mapping names a column
            it lacks (found here, on no rows, before Spark starts); nothing readable at
            the URL, or a CSV file there could not be read.
        polars.exceptions.PolarsError: a source read here could not be read.
    """
    extract: Callable[[pl.DataFrame], pl.DataFrame]
    files: ParquetFiles | ParquetAtUri
    if source.uri is not None and source.file_format == "parquet":
        assert session is not None
        files = parquet_at(session, name, source.uri)
        extract = _ExtractParquet(name, source, files, prepare)
    elif source.uri is not None:
        assert session is not None
        extracted_files = csv_extracted_at(
            session, source.uri, _ExtractCsv(name, source, prepare), folder / "extracted"
        )
        files, extract = parquet_files(name, extracted_files), _as_read
    elif source.path is not None and source.file_format == "parquet":
        files = parquet_source(name, source)
        if files.untyped:
            column, path = files.untyped[0]
            raise SourceError(
                f"sources.{name}: column {column!r} of {path} holds only nulls, stored as "
                f"type Null, which Spark cannot read as the {files.schema[column]} the "
                "folder's other files give it: rewrite that file with the column's type, "
                'or refresh with [engine] kind = "polars", which reads it'
            )
        extract = _ExtractParquet(name, source, files, prepare)
    elif source.url is not None and engine is not None and engine.jdbc:
        assert session is not None
        files, extract = _jdbc_extracted(session, name, source, folder, prepare, engine), _as_read
    elif source.url is not None and (read := _database_extracted(name, source, folder, prepare)):
        files, extract = read, _as_read
    else:
        rows = prepare(extract_source(name, source))
        path = folder / "extracted.parquet"
        rows.sink_parquet(path)
        files, extract = parquet_files(name, path), _as_read
    extracted = extract(pl.DataFrame(schema=numbered(files.columns))).schema
    columns = extracted.names()
    line_key = order_line_key(columns, line_key_columns(source))
    return LinesOnSpark(
        files=files,
        extract=extract,
        extracted=extracted,
        folder=folder,
        line_key=None if line_key is None else tuple(line_key),
        whole_purchases=cuts_whole_purchases(line_key, columns),
    )


def validated_on_spark(
    session: SparkSession,
    lines: LinesOnSpark,
    *,
    buckets: int,
    check: Check,
    customers: pl.DataFrame | None,
) -> CheckedOnSpark:
    """Every bucket of `lines` checked on Spark (see the module docstring).

    `customers` (the known customer ids) reach the executors as a broadcast (inside
    the step over Spark Connect: `engines.spark_lines.shared`).
    """
    # The check on no rows: the lines' typed columns, and any problem of the whole source
    # (a required column missing), found whether or not any bucket holds a row.
    empty = check(pl.DataFrame(schema=lines.extracted), customers)
    line_schema = empty.staged.collect_schema()
    frame = read_lines(session, lines.files, lines.extract, lines.extracted)
    frame = with_buckets(frame, buckets, line_key=lines.line_key, columns=frame.columns)
    known = None if customers is None else shared(session, customers)
    back = per_bucket(frame, _BucketRows(check, known, lines.folder), BACK)
    counts = back.filter(pl.col(KIND) == "count").select(list(COUNTS)).sum()
    written = [
        path
        for number in range(buckets)
        if (path := validated_lines_path(lines.folder, number)).is_file()
    ]
    return CheckedOnSpark(
        split=SourceSplit(
            accepted=pl.DataFrame(),  # on disk: `parts` scan it
            quarantine=_problems(back, "problem", QUARANTINE_SCHEMA),
            rows_in=int(counts["_rows_in"].item() or 0),
            rows_rejected=int(counts["_rows_rejected"].item() or 0),
        ),
        # no line at all: one empty bucket, so that later stages find the lines' columns
        parts=tuple(pl.scan_ipc(path) for path in written) or (pl.LazyFrame(schema=line_schema),),
        fatal=pl.concat([empty.fatal, _problems(back, "fatal", PROBLEM_SCHEMA)]).unique(
            maintain_order=True
        ),
        identical_lines=int(counts["_identical"].item() or 0),
    )


class _ExtractParquet:
    """A batch of a Parquet orders file's rows extracted as `extract_source` extracts
    the whole file (a class, not a closure: Spark sends it to the executors)."""

    def __init__(
        self,
        name: str,
        source: SourceSettings,
        files: ParquetFiles | ParquetAtUri,
        prepare: Prepare,
    ) -> None:
        self.name, self.source, self.prepare = name, source, prepare
        self.as_read, self.typed = parquet_as_read(name, source, Path(files.root), files.columns)

    def __call__(self, rows: pl.DataFrame) -> pl.DataFrame:
        read = rows.lazy().select(*self.as_read, pl.col(ROW_NUMBER))
        return self.prepare(as_extracted(self.name, self.source, read, self.typed)).collect()


class _ExtractCsv:
    """A CSV file at a URL, copied to an executor's disk, read and made ready as on one
    machine (`read_source`: its encoding, quotes and blank lines, its problems named
    alike): each file of a folder is read as the whole source would be."""

    def __init__(self, name: str, source: SourceSettings, prepare: Prepare) -> None:
        self.name, self.source, self.prepare = name, source, prepare

    def __call__(self, local: Path) -> pl.DataFrame:
        copy = self.source.model_copy(update={"path": local, "uri": None, "format": "csv"})
        return self.prepare(read_source(self.name, copy).lazy()).collect()


def _jdbc_extracted(
    session: SparkSession,
    name: str,
    source: SourceSettings,
    folder: Path,
    prepare: Prepare,
    engine: EngineSettings,
) -> ParquetFiles:
    """A database source read by Spark's executors through JDBC (`engines.spark_jdbc`),
    each batch extracted and made ready there as the refresh's process extracts a batch
    it reads (every column as text, the database's numbers noted, contact data hashed
    before anything is written), and written by Spark to the spill area, a file per
    part of the read in the read's order: the folder's reader numbers the rows on
    across the files, in the order the database gave them."""
    jdbc_url = None if engine.jdbc_url is None else engine.jdbc_url.get_secret_value()
    rows, typed = jdbc_rows(
        session,
        name,
        source,
        jdbc_url=jdbc_url,
        partition_column=engine.jdbc_partition_column,
        parts=engine.buckets,
    )
    extract = _ExtractDatabaseBatch(name, source, typed, prepare)
    columns = pl.Schema(dict.fromkeys(rows.columns, pl.String()))
    out = extract(pl.DataFrame(schema=columns)).schema
    target = folder / "extracted"
    try:
        in_batches(rows, extract, out).write.parquet(hadoop_path(target))
    except Exception as exc:  # Spark's own error, however it wraps it
        raise SourceError(
            f"sources.{name}: Spark cannot read from the database: {cause(exc)}"
        ) from None
    return parquet_files(name, target)


class _ExtractDatabaseBatch:
    """A batch of a database source's rows, read by Spark, extracted as `database_rows`
    hands a batch on (every column as text, `typed` the database's numbers) and made
    ready; without row numbers (the files' reader numbers them)."""

    def __init__(
        self, name: str, source: SourceSettings, typed: set[str], prepare: Prepare
    ) -> None:
        self.name, self.source, self.typed, self.prepare = name, source, typed, prepare

    def __call__(self, rows: pl.DataFrame) -> pl.DataFrame:
        text = rows.lazy().select(pl.all().cast(pl.String)).with_row_index(ROW_NUMBER, offset=1)
        ready = self.prepare(as_extracted(self.name, self.source, text, set(self.typed)))
        return ready.drop(ROW_NUMBER).collect()


def _database_extracted(
    name: str, source: SourceSettings, folder: Path, prepare: Prepare
) -> ParquetFiles | None:
    """A database source's rows read a batch at a time, each batch extracted and made
    ready as the whole table is (row by row: ids mapped, contact data hashed before
    anything is written), numbered, and appended to one Parquet file in the spill area
    for Spark to read: this process holds one batch, never the table. None when the
    table has no row (the whole-table read then names what is missing)."""
    import pyarrow.parquet as pq

    path = folder / "extracted.parquet"
    writer: list[pq.ParquetWriter] = []
    seen: set[str] = set()
    before = 0

    def written(batch: pl.DataFrame, numbers: set[str]) -> None:
        nonlocal before
        # A column typed as numbers in one batch is so in all (a batch of only nulls
        # infers no type; its nulls read the same either way).
        seen.update(numbers)
        rows = batch.lazy().with_row_index(ROW_NUMBER, offset=before + 1)
        before += batch.height
        ready = prepare(as_extracted(name, source, rows, set(seen))).collect()
        table = ready.to_arrow(compat_level=pl.CompatLevel.oldest())
        if not writer:
            writer.append(pq.ParquetWriter(path, table.schema))
        writer[0].write_table(table.cast(writer[0].schema))

    try:
        database_rows(name, source, written)
    finally:
        for open_writer in writer:
            open_writer.close()
    return parquet_files(name, path) if writer else None


def _as_read(rows: pl.DataFrame) -> pl.DataFrame:
    """Rows this process extracted already."""
    return rows


class _BucketRows:
    """One bucket's check on an executor: its accepted lines written to the spill area
    (as a refresh on one machine writes them), and what comes back as rows Spark can
    carry: the quarantine's and the whole source's problems, and one row of counts,
    each with its `_kind`."""

    def __init__(self, check: Check, known: object, folder: Path) -> None:
        self.check, self.known, self.folder = check, known, folder

    def __call__(self, rows: pl.DataFrame, number: int) -> pl.DataFrame:
        customers = None if self.known is None else self.known.value  # type: ignore[attr-defined]
        checked = self.check(rows, customers)
        if checked.fatal.is_empty():  # else the run stops once every bucket is counted
            written_whole(
                checked.staged.collect(),
                validated_lines_path(self.folder, number),
                compression=SPILL_COMPRESSION,
            )
        counts = pl.DataFrame(
            [[checked.split.rows_in], [checked.split.rows_rejected], [checked.identical_lines]],
            schema=COUNTS,
        )
        return pl.concat(
            [
                checked.split.quarantine.with_columns(pl.lit("problem").alias(KIND)),
                checked.fatal.with_columns(pl.lit("fatal").alias(KIND)),
                counts.with_columns(pl.lit("count").alias(KIND)),
            ],
            how="diagonal_relaxed",
        )


def _problems(back: pl.DataFrame, kind: str, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The problems of one `_kind` that came back, bucket by bucket."""
    return back.filter(pl.col(KIND) == kind).select(list(schema)).cast(schema)  # type: ignore[arg-type]
