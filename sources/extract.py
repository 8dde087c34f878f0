"""Extract one configured source into a LazyFrame of text columns under canonical names.

Produces, per source, a LazyFrame with one row per source row (a record: a
quoted CSV value may span lines): a `_row_number` column (1-based position in
the source), every source column as text (so `00017` stays `00017` and nothing
is guessed before validation), and the config's column mapping applied
(canonical name = source name). Files are scanned lazily; database tables and
queries are read through SQLAlchemy in batches.

Text is made uniform here so that validation and staging see one shape:

- CSV encoding (`encoding`): UTF-8 files, with or without a BOM, are scanned as
  they are (decomposed accents are normalised to NFC); a file in another
  encoding (windows-1258, cp1252, latin-1 …) is decoded chunk by chunk into a
  temporary UTF-8 copy, normalised to NFC and read from it (eagerly, so the copy
  is deleted before this returns). Bytes the codec cannot decode stop the run
  naming the line and the setting.
- CSV shape: one column whose name holds another delimiter, an unbalanced quote
  or a record with more fields than the header stop the run naming the line;
  quoted values with embedded newlines are one record.
- `zero_pad`: codes of digits only, shorter than their width, get their leading
  zeros back (a spreadsheet made 17 of 00017).
- `null_values`: cells equal to one of them (spaces stripped) become null.
- `decimal_separator` / `thousands_separator`: values of the numeric canonical
  columns (money, number, integer) written with them and strict 3-digit grouping
  are rewritten as plain decimals ("-1.234,50" → "-1234.50"); anything else is
  left as it is for validation to reject. Columns a Parquet file or a database
  already types as numbers are left alone.

Every problem is a `SourceError`: one line naming the source's file or setting.
"""

from __future__ import annotations

import json
import re
import tempfile
import unicodedata
from collections.abc import Callable
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from config.settings import SourceSettings
from schemas.inputs import ROW_NUMBER, SOURCE_COLUMNS
from sources.errors import SourceError
from sources.excel import SheetError, read_sheet
from sources.parquet_files import ParquetFiles, parquet_files
from sources.text_formats import (
    UTF8_BOM,
    UTF16_BOMS,
    EncodingProblem,
    diagnose_csv,
    find_encoding_problem,
    first_line,
    is_utf8,
    null_marker_exprs,
    resolve_encoding,
    separator_exprs,
    survey_utf8,
    transcode_to_utf8,
)
from warehouse.engine import create_engine_from_url, redact

DATABASE_BATCH_ROWS = 100_000
NON_BREAKING_SPACES = "[\u00a0\u2007\u202f\ufeff]"  # no-break, figure, narrow; a stray BOM
NON_ASCII = r"[^\x00-\x7f]"
NUMERIC_KINDS = frozenset({"money", "number", "integer"})
# Delimiters suggested when a CSV header comes out as one column that contains one of them.
OTHER_DELIMITERS = (";", "\t", "|", ",")


def read_source(name: str, source: SourceSettings) -> pl.DataFrame:
    """The source's rows, read: `extract_source` collected in one pass over the file.

    Raises:
        SourceError: as `extract_source`, and for a problem found while reading past
            the header (an invalid byte, a stray quote, a ragged record), named with
            its line.
    """
    frame = extract_source(name, source)
    try:
        return frame.collect()
    except pl.exceptions.PolarsError as exc:
        raise read_failure(name, source, exc) from None


def read_failure(name: str, source: SourceSettings, exc: BaseException) -> SourceError:
    """What went wrong reading a source past its header, as one line naming the place."""
    path = source.path
    if path is None or source.file_format != "csv":
        return SourceError(f"sources.{name}: cannot read {_where(source)}: {first_line(exc)}")
    if is_utf8(resolve_encoding(source.encoding)):
        problem = find_encoding_problem(path, "utf-8")
        if problem is not None:
            return _encoding_error(name, source, problem)
    return _malformed(name, source, path, exc)


def extract_source(name: str, source: SourceSettings) -> pl.LazyFrame:
    """The source's rows as text, canonical column names, and a `_row_number`.

    Lazy: a problem past the header of a file (an invalid byte, a ragged record)
    shows when it is collected; `read_source` collects and names it.

    Args:
        name: the source's name in the config (`orders`, `customers` …).
        source: its settings.

    Raises:
        SourceError: the file or table is missing or unreadable (wrong encoding or
            delimiter, unbalanced quotes), or the column mapping names a column the
            source does not have.
    """
    if source.path is not None:
        frame, typed = _read_file(name, source)
    else:
        frame, typed = _read_database(name, source)
    return as_extracted(name, source, frame, typed)


def as_extracted(
    name: str, source: SourceSettings, frame: pl.LazyFrame, typed: set[str]
) -> pl.LazyFrame:
    """Rows as read (text, or the columns in `typed` kept as numbers) under canonical
    names, keys in one form, null markers as null and numbers as plain decimals: row by
    row, so a part of a source gets what the whole source gets.

    Raises:
        SourceError: the column mapping names a column the rows do not have.
    """
    frame, typed = _apply_mapping(name, source, frame, typed)
    return _normalise_values(name, source, frame, typed)


def parquet_as_read(
    name: str, source: SourceSettings, path: Path, schema: pl.Schema
) -> tuple[list[pl.Expr], set[str]]:
    """How each column of a Parquet file of `schema` is read (see `_parquet_column`), and
    the columns it stores as numbers."""
    typed = {column for column, dtype in schema.items() if dtype.is_numeric()}
    kinds = _kinds_by_source_column(name, source)
    as_read = [
        expression
        for column, dtype in schema.items()
        if (expression := _parquet_column(name, source, path, column, dtype, kinds)) is not None
    ]
    return as_read, typed


def line_key_columns(source: SourceSettings) -> tuple[str, ...] | None:
    """The configured `line_key` under the names the extracted frame uses (canonical where
    the column is mapped), or None when none is configured."""
    if source.line_key is None:
        return None
    canonical = {source_column: name for name, source_column in source.columns.items()}
    return tuple(canonical.get(part, part) for part in source.line_key)


def parquet_source(name: str, source: SourceSettings) -> ParquetFiles:
    """A Parquet source's files (one, or a folder's), their columns checked as a read
    checks them.

    Raises:
        SourceError: the file or folder is missing, empty or not Parquet, its files
            disagree on a column's type, or a column is named twice.
    """
    assert source.path is not None
    files = parquet_files(name, source.path)
    _header(name, source.path, files.scan())
    return files


def _existing_file(name: str, source: SourceSettings) -> Path:
    path = source.path
    assert path is not None
    if not path.is_file():
        raise SourceError(f"sources.{name}.path: file not found: {path}")
    if path.stat().st_size == 0:
        raise SourceError(f"sources.{name}: {path} is empty (expected a header row)")
    return path


def _read_file(name: str, source: SourceSettings) -> tuple[pl.LazyFrame, set[str]]:
    """The file's rows as text and the columns it stored as numbers (Parquet only)."""
    if source.file_format == "parquet":
        files = parquet_source(name, source)
        as_read, typed = parquet_as_read(name, source, files.root, files.columns)
        return files.scan().select(as_read).with_row_index(ROW_NUMBER, offset=1), typed
    path = _existing_file(name, source)
    if source.file_format == "excel":
        return _read_workbook(name, source, path), set()
    try:
        codec = resolve_encoding(source.encoding)
    except LookupError:
        raise SourceError(
            f"sources.{name}.encoding: unknown encoding {source.encoding!r} (use a Python codec "
            f'name such as "utf-8", "windows-1258", "cp1252" or "latin-1")'
        ) from None
    if is_utf8(codec):
        return _scan_utf8_csv(name, source, path), set()
    return _read_decoded_csv(name, source, path, codec), set()


def _read_workbook(name: str, source: SourceSettings, path: Path) -> pl.LazyFrame:
    """One sheet's rows as text, `_row_number` the row number Excel shows."""
    kinds = _kinds_by_source_column(name, source)
    try:
        rows = read_sheet(
            path,
            sheet=source.sheet or 1,
            header_row=source.header_row,
            header_names=[
                source.columns.get(c.name, c.name) for c in SOURCE_COLUMNS[name] if c.required
            ],
            skip_rows=source.skip_rows,
            date_columns=[column for column, kind in kinds.items() if kind in DATE_KINDS],
            date_format=source.date_format,
        )
    except SheetError as exc:
        raise SourceError(f"sources.{name}: {exc}") from None
    return rows.lazy()


def _used_columns(name: str, source: SourceSettings) -> set[str]:
    """The source's columns personas reads: its canonical columns (as mapped), extras and
    line key parts."""
    canonical = {column.name for column in SOURCE_COLUMNS[name]}
    mapped = {source.columns.get(column, column) for column in canonical}
    return mapped | set(source.extra_columns) | set(source.line_key or ())


def _kinds_by_source_column(name: str, source: SourceSettings) -> dict[str, str]:
    """The canonical kind (money, date …) of each source column that maps to one."""
    return {source.columns.get(c.name, c.name): c.kind for c in SOURCE_COLUMNS[name]}


# Canonical kinds a Parquet column may keep its own type for: whole numbers are exact as
# money or counts, and dates are dates. Everything else (floats, decimals, text) is read
# as text and validated as a CSV value would be.
NUMBER_KINDS = frozenset({"money", "number", "integer"})
DATE_KINDS = frozenset({"date", "datetime"})


def keeps_its_type(kind: str | None, dtype: pl.DataType) -> bool:
    """True for a column personas reads typed as it is stored."""
    if kind in NUMBER_KINDS:
        return dtype.is_integer()
    return kind in DATE_KINDS and isinstance(dtype, pl.Date | pl.Datetime)


def _parquet_column(
    name: str,
    source: SourceSettings,
    path: Path,
    column: str,
    dtype: pl.DataType,
    kinds: dict[str, str],
) -> pl.Expr | None:
    """A Parquet column as it is read: whole numbers and dates in a column of that kind keep
    their type (nothing to parse, nothing to get wrong), anything else as text, as every
    other source is read; None to leave it out.

    Timestamps with a time zone are read as their local date and time, the zone dropped
    (as the same data exported to CSV reads: a sale at 01:00 in Hà Nội is on that day,
    not the UTC day before). A column that no text can stand for (a list, a struct, a
    duration, bytes) is left out when personas does not read it, and refused, naming
    it, when it does: a struct `status` read as text would make a refund a sale.
    """
    keeps_type = keeps_its_type(kinds.get(column), dtype)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        local = pl.col(column).dt.replace_time_zone(None)
        return local if keeps_type else local.cast(pl.String)
    if keeps_type:
        return pl.col(column)
    if dtype.is_nested() or isinstance(dtype, pl.Duration | pl.Binary | pl.Object):
        if column in _used_columns(name, source):
            raise SourceError(
                f"sources.{name}: column {printable(column)} of {path.name} is a {dtype} "
                "column; personas reads text, numbers and dates (flatten it, or map "
                "another column)"
            )
        return None
    return pl.col(column).cast(pl.String)


def _scan_csv(path: Path, source: SourceSettings) -> pl.LazyFrame:
    return pl.scan_csv(
        path,
        separator=source.delimiter,
        infer_schema=False,  # everything as text: IDs keep leading zeros
        encoding="utf8",  # polars drops a UTF-8 BOM itself
    )


def _scan_utf8_csv(name: str, source: SourceSettings, path: Path) -> pl.LazyFrame:
    try:
        facts = survey_utf8(path)
    except EncodingProblem as problem:
        raise _encoding_error(name, source, problem) from None
    if facts.lone_carriage_returns:  # classic-Mac line endings: rewritten with LF first
        return _read_decoded_csv(name, source, path, "utf-8")
    frame = _scan_csv(path, source)
    columns = list(_header(name, path, frame))
    _check_delimiter(name, source, columns)
    if facts.unbalanced_quotes:
        raise _malformed(name, source, path, None)
    # A stray quote, a ragged row or an invalid byte past the first chunk shows when the
    # rows are read (`read_source`): one pass over the file, not a checking pass first.
    if facts.maybe_decomposed:  # combining accents: compose them as the other encodings are
        frame = frame.rename(_nfc_names(columns)).with_columns(pl.all().str.normalize("NFC"))
    return frame.with_row_index(ROW_NUMBER, offset=1)


def _read_decoded_csv(name: str, source: SourceSettings, path: Path, codec: str) -> pl.LazyFrame:
    with path.open("rb") as handle:
        if not is_utf8(codec) and handle.read(len(UTF8_BOM)) == UTF8_BOM:
            raise SourceError(
                f"sources.{name}: {path} starts with a UTF-8 byte order mark but "
                f"sources.{name}.encoding = {json.dumps(source.encoding)}; set "
                f'sources.{name}.encoding = "utf-8"'
            )
    with tempfile.TemporaryDirectory(prefix="personas-") as scratch:
        decoded = Path(scratch) / f"{name}.utf8.csv"
        try:
            facts = transcode_to_utf8(path, codec, decoded)
        except EncodingProblem as problem:
            raise _encoding_error(name, source, problem) from None
        frame = _scan_csv(decoded, source)
        _check_delimiter(name, source, list(_header(name, path, frame)))
        if facts.unbalanced_quotes:
            raise _malformed(name, source, decoded, None)
        try:
            # Read now: the decoded copy is deleted when this block ends.
            rows = frame.collect()
        except pl.exceptions.PolarsError as exc:
            raise _malformed(name, source, decoded, exc) from None
    return rows.lazy().with_row_index(ROW_NUMBER, offset=1)


def _header(name: str, path: Path, frame: pl.LazyFrame) -> pl.Schema:
    try:
        schema = frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SourceError(f"sources.{name}: cannot read {path}: {first_line(exc)}") from None
    # polars renames a repeated header to "<name>_duplicated_<n>": two columns, one name,
    # and no telling which one the user meant.
    for column in schema.names():
        repeated = re.fullmatch(r"(.*)_duplicated_[0-9]+", column)
        if repeated and repeated[1] in schema:
            raise SourceError(
                f"sources.{name}: {path.name} has the column {printable(repeated[1])} twice "
                "in its header: rename one"
            )
    return schema


def printable(name: str) -> str:
    """A column name quoted for a message, control characters (terminal escapes) shown
    as escapes rather than sent to the terminal."""
    return repr(name)


def _check_delimiter(name: str, source: SourceSettings, columns: list[str]) -> None:
    if len(columns) != 1:
        return
    column = columns[0]
    counts = {d: column.count(d) for d in OTHER_DELIMITERS if d != source.delimiter}
    likely = max(counts, key=lambda d: counts[d])  # first of the most frequent
    if counts[likely]:
        raise SourceError(
            f"sources.{name}: {source.path} has one column {column!r}: is the delimiter "
            f"{likely!r}? set sources.{name}.delimiter = {json.dumps(likely)}"
        )


def _malformed(
    name: str, source: SourceSettings, readable: Path, exc: BaseException | None
) -> SourceError:
    """A SourceError saying where the CSV file `readable` (a UTF-8 copy or the file) is broken."""
    detail = diagnose_csv(readable, source.delimiter)
    if detail is not None:
        return SourceError(f"sources.{name}: {source.path} {detail}")
    reason = first_line(exc) if exc is not None else "unbalanced quotes"
    return SourceError(f"sources.{name}: cannot read {source.path}: {reason}")


def _encoding_error(name: str, source: SourceSettings, problem: EncodingProblem) -> SourceError:
    setting = f"sources.{name}.encoding"
    if not is_utf8(resolve_encoding(source.encoding)):
        hint = (
            f"set {setting} to the encoding the file was saved in "
            f'(e.g. "utf-8", "windows-1258", "cp1252")'
        )
    elif _starts_with(problem.path, UTF16_BOMS):
        hint = f'it starts with a UTF-16 byte order mark: set {setting} = "utf-16"'
    else:
        hint = f'if it is a Windows export set {setting} = "windows-1258" (Vietnamese) or "cp1252"'
    return SourceError(
        f"sources.{name}: {source.path} is not valid {source.encoding} ({problem}); {hint}"
    )


def _starts_with(path: Path, marks: tuple[bytes, ...]) -> bool:
    with path.open("rb") as handle:
        start = handle.read(max(len(mark) for mark in marks))
    return any(start.startswith(mark) for mark in marks)


def _nfc_names(columns: list[str]) -> dict[str, str]:
    composed = {c: unicodedata.normalize("NFC", c) for c in columns}
    return {c: nfc for c, nfc in composed.items() if nfc != c}


def _read_database(name: str, source: SourceSettings) -> tuple[pl.LazyFrame, set[str]]:
    """The rows as text and the columns the database typed as numbers."""
    frames: list[pl.DataFrame] = []
    typed = database_rows(name, source, lambda batch, _: frames.append(batch))
    frame = pl.concat(frames, how="vertical") if frames else pl.DataFrame()
    return frame.lazy().with_row_index(ROW_NUMBER, offset=1), typed


def database_rows(
    name: str, source: SourceSettings, take: Callable[[pl.DataFrame, set[str]], object]
) -> set[str]:
    """Each batch of a database source's rows, as text, handed to `take` in the order the
    database returns them, with the columns the database typed as numbers in it; those
    columns over every batch.

    Raises:
        SourceError: the database cannot be reached, or the table or query fails.
    """
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
    typed: set[str] = set()
    try:
        # stream_results: a server-side cursor where the driver has one, so a large table
        # arrives in batches instead of all at once.
        with engine.connect().execution_options(stream_results=True) as connection:
            batches = pl.read_database(
                query, connection, iter_batches=True, batch_size=DATABASE_BATCH_ROWS
            )
            for batch in batches:
                numbers = {c for c, dtype in batch.schema.items() if dtype.is_numeric()}
                typed |= numbers
                take(batch.select(pl.all().cast(pl.String)), numbers)
    except SQLAlchemyError as exc:
        message = redact(first_line(exc), source.url.get_secret_value())
        raise SourceError(
            f"sources.{name}: cannot read from the database: {message}",
            transient=isinstance(exc, sa.exc.OperationalError),
        ) from None
    finally:
        engine.dispose()
    return typed


def _apply_mapping(
    name: str, source: SourceSettings, frame: pl.LazyFrame, typed: set[str]
) -> tuple[pl.LazyFrame, set[str]]:
    """The frame under canonical names, and `typed` (source names) under its new names."""
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
                f"in {_where(source)} (columns: {_listed(present)})"
            )
        renames[source_column] = canonical
    unpadded = sorted(set(source.zero_pad) - known)
    if unpadded:
        raise SourceError(
            f"sources.{name}.zero_pad: {unpadded[0]!r} is not a column of {name} "
            f"(its columns: {', '.join(sorted(known))})"
        )
    for extra in source.extra_columns:
        if extra not in present and extra not in renames.values():
            raise SourceError(
                f"sources.{name}.extra_columns: column {extra!r} not found in {_where(source)}"
            )
    for part in source.line_key or ():
        if part not in present and part not in source.columns:
            raise SourceError(
                f"sources.{name}.line_key: column {part!r} not found in {_where(source)} "
                f"(columns: {_listed(present)})"
            )
    # A source column already named like a mapping target would collide after renaming.
    shadowed = [c for c in renames.values() if c in present and c not in renames]
    renamed_typed = {renames.get(c, c) for c in typed if c not in shadowed}
    return frame.drop(shadowed).rename(renames), renamed_typed


def _normalise_values(
    name: str, source: SourceSettings, frame: pl.LazyFrame, typed: set[str]
) -> pl.LazyFrame:
    """Keys to one form; null markers to null; numbers with separators to plain decimals."""
    columns = [c for c in frame.collect_schema().names() if c != ROW_NUMBER]
    keys = [c.name for c in SOURCE_COLUMNS[name] if c.kind == "id" and c.name in columns]
    if keys:
        # "C1", "C1 " and "C1" with a no-break space are one key: normalised once, here,
        # so the input contract finds their duplicates and names the input rows.
        frame = frame.with_columns(
            pl.col(key)
            .cast(pl.String)
            .map_batches(uniform_keys, return_dtype=pl.String, is_elementwise=True)
            for key in keys
        )
    padded = [(c, width) for c, width in sorted(source.zero_pad.items()) if c in columns]
    if padded:
        # Codes a spreadsheet made numbers of (00017 → 17) get their leading zeros back.
        frame = frame.with_columns(
            pl.when(pl.col(c).cast(pl.String).str.contains(r"^\d+$"))
            .then(pl.col(c).cast(pl.String).str.zfill(width))
            .otherwise(pl.col(c))
            .alias(c)
            for c, width in padded
        )
    text_columns = [c for c, dtype in frame.collect_schema().items() if dtype == pl.String]
    markers = null_marker_exprs([c for c in columns if c in text_columns], source.null_values)
    if markers:
        frame = frame.with_columns(markers)
    numeric = [
        column.name
        for column in SOURCE_COLUMNS[name]
        if column.kind in NUMERIC_KINDS and column.name in columns and column.name not in typed
    ]
    numbers = separator_exprs(numeric, source.decimal_separator, source.thousands_separator)
    if numbers:
        frame = frame.with_columns(numbers)
    return frame


def uniform_keys(keys: pl.Series) -> pl.Series:
    """Keys in one form: no-break spaces as spaces, trimmed, NFC. A batch of plain ASCII
    keys (the usual case) is only trimmed: the other steps cost seconds per 10M keys and
    change nothing there."""
    # One search finds both reasons to touch a key; a batch with neither (the usual case)
    # is kept as it is, with no copy of the column.
    if not keys.str.contains(rf"{NON_ASCII}|^\s|\s$").any():
        return keys
    if not keys.str.contains(NON_ASCII).any():
        return keys.str.strip_chars()
    return keys.str.replace_all(NON_BREAKING_SPACES, " ").str.strip_chars().str.normalize("NFC")


def _listed(columns: set[str]) -> str:
    """The source's columns for a message: sorted, each shown printable (no raw escapes)."""
    return ", ".join(
        name if name.isprintable() else printable(name) for name in sorted(columns - {ROW_NUMBER})
    )


def _where(source: SourceSettings) -> str:
    if source.path is not None:
        return Path(source.path).name
    return source.uri or source.table or "the query"
