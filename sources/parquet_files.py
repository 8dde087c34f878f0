"""A Parquet source as the files it is made of: one file, or a folder of them (a lake's
dataset, as Spark, Hive or a warehouse export writes it).

Produces `ParquetFiles` (`parquet_files(name, path)`): the files in path order
(their paths relative to the folder, sorted as text), the columns of all of them
(a column added in later files is null in earlier ones), the Hive partition
columns named by the folders (`year=2024/month=05/…`, read as text: a partition
`region=007` keeps its zeros), and where each file's rows start. A row's number
is its position in that order (the first file's rows, then the second's …), so
the quarantine names the same rows in every run, on one machine or on Spark.

The data files are those named `*.parquet` or `*.pq`; files and folders whose
names start with `_` or `.` are not data (`_SUCCESS`, `.crc`, `_temporary`), as
Spark and Hive skip them. A column that is all nulls in one file (type Null)
takes the type the other files give it. A Delta Lake, Iceberg or Hudi table is
refused: its folder holds files its log no longer lists, which a plain read would
count again; so is a partition folder named like a column of the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from sources.errors import SourceError
from sources.text_formats import first_line

PARQUET_SUFFIXES = (".parquet", ".pq")
# Folders that make a folder of Parquet files a table with its own log of live files.
TABLE_LOGS = {
    "_delta_log/*.json": "a Delta Lake table",
    "metadata/*.metadata.json": "an Iceberg table",
    ".hoodie/hoodie.properties": "an Apache Hudi table",
}


class ParquetSourceError(SourceError):
    """A Parquet source that cannot be read as one set of rows (one line, for the user)."""


@dataclass(frozen=True)
class ParquetFiles:
    """The files of one Parquet source, in the order their rows are numbered."""

    root: Path  # the file itself, or the folder
    files: tuple[Path, ...]
    schema: pl.Schema  # the files' own columns, over all of them
    partitions: tuple[str, ...]  # Hive partition columns, from the folder names
    # (column, file): a column of only nulls (type Null) in a file where others type it
    untyped: tuple[tuple[str, Path], ...] = ()

    @property
    def is_folder(self) -> bool:
        return len(self.files) != 1 or self.files[0] != self.root

    def scan(self) -> pl.LazyFrame:
        """Every file's rows, in file order, with every column (partitions as text)."""
        if not self.is_folder:
            return pl.scan_parquet(self.root)
        # The folder's own `key=value` names (a partition folder named as the source)
        # are not columns: only the folders below it are, as Spark reads them.
        above = [part.split("=", 1)[0] for part in self.root.parts if "=" in part]
        frame = pl.scan_parquet(
            list(self.files),
            schema=self.schema,
            missing_columns="insert",
            hive_partitioning=bool(self.partitions),
            hive_schema=dict.fromkeys([*above, *self.partitions], pl.String()) or None,
            try_parse_hive_dates=False,
        )
        return frame.drop(above) if self.partitions and above else frame

    @property
    def columns(self) -> pl.Schema:
        """The columns a scan gives: the files' own, then the partition columns."""
        return pl.Schema({**self.schema, **dict.fromkeys(self.partitions, pl.String())})

    def first_rows(self) -> dict[str, int]:
        """Each file's (its path as text) rows numbered after this many rows."""
        starts, before = {}, 0
        for path in self.files:
            starts[str(path)] = before
            before += pl.scan_parquet(path).select(pl.len()).collect().item()
        return starts


def parquet_files(name: str, path: Path) -> ParquetFiles:
    """The Parquet files of source `name` at `path` (a file or a folder).

    Raises:
        ParquetSourceError: the path is missing, an empty file or a folder without
            Parquet files, a Delta Lake or Iceberg table, a file is not Parquet, two
            files give one column two types, or the files disagree on the partitions.
    """
    if path.is_file():
        if path.stat().st_size == 0:
            raise ParquetSourceError(f"sources.{name}: {path} is empty (expected a header row)")
        return ParquetFiles(path, (path,), _file_schema(name, path), ())
    if not path.is_dir():
        raise ParquetSourceError(f"sources.{name}.path: file not found: {path}")
    for log, kind in TABLE_LOGS.items():
        if next(path.glob(log), None) is not None:
            raise ParquetSourceError(
                f"sources.{name}: {path} is {kind} ({log}): its folder keeps files the "
                "table no longer holds; export the table's current rows to Parquet and read "
                "that"
            )
    files = tuple(
        sorted(
            (
                found
                for found in path.rglob("*")
                if found.suffix.lower() in PARQUET_SUFFIXES
                and found.is_file()
                and not _hidden(found.relative_to(path))
            ),
            key=lambda found: found.relative_to(path).as_posix(),
        )
    )
    if not files:
        raise ParquetSourceError(
            f"sources.{name}: the folder {path} holds no Parquet file (*.parquet, *.pq)"
        )
    (schema, untyped), partitions = _folder_schema(name, files), _partitions(name, path, files)
    _without_clashes(name, schema, partitions)
    return ParquetFiles(path, files, schema, partitions, untyped)


def _hidden(relative: Path) -> bool:
    return any(part.startswith(("_", ".")) for part in relative.parts)


def _file_schema(name: str, path: Path) -> pl.Schema:
    try:
        return pl.read_parquet_schema(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ParquetSourceError(f"sources.{name}: cannot read {path}: {first_line(exc)}") from None


def _folder_schema(
    name: str, files: tuple[Path, ...]
) -> tuple[pl.Schema, tuple[tuple[str, Path], ...]]:
    """Every column of every file, in the order first met, one type per column; and the
    columns some file stores as type Null where another types them."""
    columns: dict[str, pl.DataType] = {}
    first_in: dict[str, Path] = {}
    null_in: dict[str, Path] = {}
    for path in files:
        for column, dtype in _file_schema(name, path).items():
            if dtype == pl.Null:
                null_in.setdefault(column, path)
            if column not in columns or columns[column] == pl.Null:
                # A column of only nulls (type Null, as pandas writes one) takes the
                # type another file gives it.
                columns[column], first_in[column] = dtype, path
            elif dtype != pl.Null and columns[column] != dtype:
                raise ParquetSourceError(
                    f"sources.{name}: column {column!r} is {columns[column]} in "
                    f"{first_in[column]} but {dtype} in {path}: write the files with one type"
                )
    untyped = tuple(
        (column, path) for column, path in null_in.items() if columns[column] != pl.Null
    )
    return pl.Schema(columns), untyped


def _partitions(name: str, root: Path, files: tuple[Path, ...]) -> tuple[str, ...]:
    """The Hive partition columns (`key=value` folders), the same in every file's path."""
    found = {
        path: tuple(
            part.split("=", 1)[0] for part in path.relative_to(root).parent.parts if "=" in part
        )
        for path in files
    }
    first = found[files[0]]
    for path, columns in found.items():
        if columns != first:
            raise ParquetSourceError(
                f"sources.{name}: {files[0]} is under the partitions {list(first)} but {path} "
                f"under {list(columns)}: a folder's files must share its partition folders"
            )
    return first


def _without_clashes(name: str, schema: pl.Schema, partitions: tuple[str, ...]) -> None:
    for column in partitions:
        if column in schema:
            raise ParquetSourceError(
                f"sources.{name}: {column!r} is both a column of the files and a partition "
                f"folder ({column}=…): rename one, or the folder's value would hide the file's"
            )
