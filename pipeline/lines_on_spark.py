"""The order lines of a refresh on the Spark engine: read by Spark and checked there a
bucket at a time, by the same per-bucket check as a refresh on one machine.

Produces `LinesOnSpark`, what the extract stage hands on for the orders source
(`lines_for_spark`): a Parquet orders file is read by Spark's executors and
extracted there, batch by batch, by the same row-by-row steps as on one machine
(canonical names, keys in one form, ids mapped, contact data hashed); any other
source (a CSV, a workbook, a database table) is extracted by this process, which
streams its rows to one Parquet file in the run's spill area for Spark to read, as
a CSV can only be read from its start (a quoted value may span lines).

`validated_on_spark` cuts the lines into `[engine] buckets` buckets (`engines.
spark_lines.with_buckets`), runs the check on each bucket on the executors, and
brings back only the quarantine rows, the counts and any problem of the whole source;
each bucket's accepted lines stay as Parquet files in the spill area, and the later
stages read them a bucket at a time, as they read spilled lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import polars as pl

from config.settings import SourceSettings
from engines.spark_lines import (
    KIND,
    ROW_INDEX,
    ROW_NUMBER,
    bucket_files,
    per_bucket,
    read_back,
    read_lines,
    with_buckets,
)
from schemas.cross_checks import order_line_key
from schemas.quarantine import QUARANTINE_SCHEMA, SourceSplit, empty_quarantine
from schemas.validation import PROBLEM_SCHEMA
from sources.buckets import cuts_whole_purchases
from sources.extract import (
    as_extracted,
    extract_source,
    line_key_columns,
    parquet_as_read,
    parquet_file_schema,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# A source's rows, extracted, made ready row by row (ids mapped, contact data hashed).
Prepare = Callable[[pl.LazyFrame], pl.LazyFrame]
# What a bucket's check reports back, besides its accepted lines.
PROBLEM = "_q_"  # the prefix of the quarantine's columns among the lines'
COUNTS = {"_rows_in": pl.Int64, "_rows_rejected": pl.Int64, "_identical": pl.Int64}


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

    path: Path
    schema: pl.Schema  # the file's columns as polars reads them
    extract: Callable[[pl.DataFrame], pl.DataFrame]  # a batch of the file's rows, extracted
    folder: Path  # the run's spill area: Spark writes each checked bucket there
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
    name: str, source: SourceSettings, *, folder: Path, prepare: Prepare
) -> LinesOnSpark:
    """The orders source as Spark will read it (see the module docstring).

    Raises:
        SourceError: the file is missing or empty, or the column mapping names a column
            it lacks (found here, on no rows, before Spark starts).
        polars.exceptions.PolarsError: a source read here could not be read.
    """
    if source.path is not None and source.file_format == "parquet":
        schema = parquet_file_schema(name, source)
        extract = _ExtractParquet(name, source, source.path, schema, prepare)
        path = source.path
    else:
        rows = prepare(extract_source(name, source))
        path = folder / "extracted.parquet"
        rows.sink_parquet(path)
        schema, extract = rows.collect_schema(), _as_read
    columns = extract(_no_rows(schema)).columns
    line_key = order_line_key(columns, line_key_columns(source))
    return LinesOnSpark(
        path=path,
        schema=schema,
        extract=extract,
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

    `customers` (the known customer ids) reach the executors as a broadcast.
    """
    # The check on no rows: the lines' typed columns, and any problem of the whole source
    # (a required column missing), found whether or not any bucket holds a row.
    empty = check(lines.extract(_no_rows(lines.schema)), customers)
    line_schema = empty.staged.collect_schema()
    frame = read_lines(session, lines.path, lines.schema, lines.extract)
    frame = with_buckets(frame, buckets, line_key=lines.line_key, columns=frame.columns)
    known = None if customers is None else session.sparkContext.broadcast(customers)
    target = lines.folder / "checked"
    per_bucket(
        frame,
        _BucketRows(check, known, line_schema),
        _rows_schema(line_schema),
        target,
    )
    counts = read_back(bucket_files(target, "count"), COUNTS).collect().sum()
    return CheckedOnSpark(
        split=SourceSplit(
            accepted=pl.DataFrame(),  # on disk: `parts` scan it
            quarantine=pl.concat(
                [empty_quarantine(), _unprefixed(target, "problem", QUARANTINE_SCHEMA)]
            ),
            rows_in=int(counts["_rows_in"].item() or 0),
            rows_rejected=int(counts["_rows_rejected"].item() or 0),
        ),
        # no line at all: one empty bucket, so that later stages find the lines' columns
        parts=tuple(
            read_back(files, line_schema)
            for number in range(buckets)
            if (files := bucket_files(target, "line", number))
        )
        or (pl.LazyFrame(schema=line_schema),),
        fatal=pl.concat([empty.fatal, _unprefixed(target, "fatal", PROBLEM_SCHEMA)]).unique(
            maintain_order=True
        ),
        identical_lines=int(counts["_identical"].item() or 0),
    )


class _ExtractParquet:
    """A batch of a Parquet orders file's rows extracted as `extract_source` extracts
    the whole file (a class, not a closure: Spark sends it to the executors)."""

    def __init__(
        self, name: str, source: SourceSettings, path: Path, schema: pl.Schema, prepare: Prepare
    ) -> None:
        self.name, self.source, self.prepare = name, source, prepare
        self.as_read, self.typed = parquet_as_read(name, source, path, schema)

    def __call__(self, rows: pl.DataFrame) -> pl.DataFrame:
        read = rows.lazy().select(*self.as_read, pl.col(ROW_NUMBER))
        return self.prepare(as_extracted(self.name, self.source, read, self.typed)).collect()


def _as_read(rows: pl.DataFrame) -> pl.DataFrame:
    """Rows this process extracted already."""
    return rows


class _BucketRows:
    """One bucket's check, as rows Spark can carry: the accepted lines, the quarantine's
    and the whole source's problems, and one row of counts, each with its `_kind`."""

    def __init__(self, check: Check, known: object, line_schema: pl.Schema) -> None:
        self.check, self.known, self.line_schema = check, known, line_schema

    def __call__(self, rows: pl.DataFrame) -> pl.DataFrame:
        customers = None if self.known is None else self.known.value  # type: ignore[attr-defined]
        checked = self.check(rows, customers)
        lines = (
            checked.staged.collect()
            if checked.fatal.is_empty()
            else pl.DataFrame(schema=self.line_schema)
        )
        counts = pl.DataFrame(
            [[checked.split.rows_in], [checked.split.rows_rejected], [checked.identical_lines]],
            schema=COUNTS,
        )
        return pl.concat(
            [
                lines.with_columns(pl.lit("line").alias(KIND)),
                _prefixed(checked.split.quarantine).with_columns(pl.lit("problem").alias(KIND)),
                _prefixed(checked.fatal).with_columns(pl.lit("fatal").alias(KIND)),
                counts.with_columns(pl.lit("count").alias(KIND)),
            ],
            how="diagonal_relaxed",
        )


def _rows_schema(line_schema: pl.Schema) -> pl.Schema:
    return pl.Schema(
        {
            **line_schema,
            **{PROBLEM + column: dtype for column, dtype in QUARANTINE_SCHEMA.items()},
            **COUNTS,
            KIND: pl.String,
        }
    )


def _prefixed(problems: pl.DataFrame) -> pl.DataFrame:
    return problems.rename({column: PROBLEM + column for column in problems.columns})


def _unprefixed(target: Path, kind: str, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The problems of one `_kind` the buckets wrote, bucket by bucket."""
    files = sorted(bucket_files(target, kind), key=lambda path: (int(path.parent.name[8:]), path))
    prefixed = {PROBLEM + column: dtype for column, dtype in schema.items()}
    return read_back(files, prefixed).collect().rename(lambda column: column[len(PROBLEM) :])


def _no_rows(schema: pl.Schema) -> pl.DataFrame:
    columns = dict(schema)
    if ROW_NUMBER not in columns:
        columns[ROW_NUMBER] = ROW_INDEX
    return pl.DataFrame(schema=columns)
