"""Extract one configured source into a LazyFrame of text columns under canonical names.

Produces, per source, a LazyFrame with one row per source row: a
`_row_number` column (1-based position in the source), every source column
as text (so `00017` stays `00017` and nothing is guessed before validation),
and the config's column mapping applied (canonical name = source name).
Files are scanned lazily; database tables and queries are read through
SQLAlchemy in batches.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from config.settings import SourceSettings
from schemas.inputs import ROW_NUMBER, SOURCE_COLUMNS
from warehouse.engine import create_engine_from_url, redact

DATABASE_BATCH_ROWS = 100_000


class SourceError(Exception):
    """A source cannot be read as configured (missing file, unknown column, no table)."""


def extract_source(name: str, source: SourceSettings) -> pl.LazyFrame:
    """The source's rows as text, canonical column names, and a `_row_number`.

    Args:
        name: the source's name in the config (`orders`, `customers` …).
        source: its settings.

    Raises:
        SourceError: the file or table is missing or unreadable, or the column
            mapping names a column the source does not have.
    """
    frame = _scan_file(name, source) if source.path is not None else _read_database(name, source)
    return _apply_mapping(name, source, frame)


def _scan_file(name: str, source: SourceSettings) -> pl.LazyFrame:
    path = source.path
    assert path is not None
    if not path.is_file():
        raise SourceError(f"sources.{name}.path: file not found: {path}")
    if path.stat().st_size == 0:
        raise SourceError(f"sources.{name}: {path} is empty (expected a header row)")
    if source.file_format == "parquet":
        frame = pl.scan_parquet(path)
        frame = frame.select(pl.all().cast(pl.String))
    else:
        frame = pl.scan_csv(
            path,
            separator=source.delimiter,
            infer_schema=False,  # everything as text: IDs keep leading zeros
            encoding="utf8",
        )
    try:
        frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SourceError(f"sources.{name}: cannot read {path}: {_first_line(exc)}") from None
    return frame.with_row_index(ROW_NUMBER, offset=1)


def _read_database(name: str, source: SourceSettings) -> pl.LazyFrame:
    assert source.url is not None
    engine = create_engine_from_url(source.url.get_secret_value())
    query: sa.Executable
    if source.table is not None:
        schema, _, table = source.table.rpartition(".")
        query = sa.select(sa.literal_column("*")).select_from(
            sa.table(table, schema=schema or None)
        )
    else:
        query = sa.text(source.query or "")
    try:
        # stream_results: a server-side cursor where the driver has one, so a large table
        # arrives in batches instead of all at once.
        with engine.connect().execution_options(stream_results=True) as connection:
            batches = pl.read_database(
                query, connection, iter_batches=True, batch_size=DATABASE_BATCH_ROWS
            )
            frames = [batch.select(pl.all().cast(pl.String)) for batch in batches]
    except SQLAlchemyError as exc:
        message = redact(_first_line(exc), source.url.get_secret_value())
        raise SourceError(f"sources.{name}: cannot read from the database: {message}") from None
    finally:
        engine.dispose()
    frame = pl.concat(frames, how="vertical") if frames else pl.DataFrame()
    return frame.lazy().with_row_index(ROW_NUMBER, offset=1)


def _apply_mapping(name: str, source: SourceSettings, frame: pl.LazyFrame) -> pl.LazyFrame:
    present = set(frame.collect_schema().names())
    known = {column.name for column in SOURCE_COLUMNS[name]}
    renames: dict[str, str] = {}
    for canonical, source_column in source.columns.items():
        if canonical not in known:
            raise SourceError(
                f"sources.{name}.columns.{canonical}: not a canonical column of {name} "
                f"(known: {', '.join(sorted(known))})"
            )
        if source_column not in present:
            raise SourceError(
                f"sources.{name}.columns.{canonical}: column {source_column!r} not found "
                f"in {_where(source)} (columns: {', '.join(sorted(present - {ROW_NUMBER}))})"
            )
        renames[source_column] = canonical
    for extra in source.extra_columns:
        if extra not in present and extra not in renames.values():
            raise SourceError(
                f"sources.{name}.extra_columns: column {extra!r} not found in {_where(source)}"
            )
    # A source column already named like a mapping target would collide after renaming.
    shadowed = [c for c in renames.values() if c in present and c not in renames]
    return frame.drop(shadowed).rename(renames)


def _where(source: SourceSettings) -> str:
    if source.path is not None:
        return Path(source.path).name
    return source.table or "the query"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
