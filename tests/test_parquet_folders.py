"""A folder of Parquet files (a lake's dataset) as the orders source, on one machine and
on Spark.

The dirty orders of `tests.test_buckets`, written as one CSV and again as a folder of
Parquet files cut in row order under Hive partition folders (with a `_SUCCESS`
marker, a hidden file of the desktop's, and a column that only the later files have): the
folder publishes the tables of the CSV, its quarantine names the same row numbers,
and Spark reads the same folder into the same tables. The folder's own rules are
tested on small files: path order, every file's columns, partitions as text, and
clear refusals (a Delta table, two types for one column, partitions that differ).
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from sources.buckets import bucket_count
from sources.extract import SourceError, read_source
from sources.parquet_files import ParquetSourceError, parquet_files
from tests.test_buckets import assert_same_tables, buckets_forced, make_config, refreshed

# Cut points of the dirty orders' rows (about 150): files of unequal sizes.
CUTS = (0, 17, 18, 60, 101)
# The folders the pieces go in, in path order: a partition value with a space and
# Vietnamese letters, and one with leading zeros.
PARTS = ("region=007", "region=Hà Nội", "region=Hà Nội", "region=Hải Phòng", "region=Đà Nẵng")


def as_parquet_folder(config: Path) -> Path:
    """The config reading the orders from a folder of Parquet files holding the CSV's rows
    in its order: file i holds rows CUTS[i] + 1 .. CUTS[i + 1], so every row keeps its
    number. The later files have one more column (`channel`), as a lake's files do when
    the export grew a column."""
    rows = pl.read_csv(config.parent / "data" / "orders.csv", infer_schema=False)
    folder = config.parent / "data" / "orders"
    bounds = [*CUTS[1:], rows.height]
    for number, (start, end) in enumerate(zip(CUTS, bounds, strict=True)):
        piece = rows.slice(start, end - start)
        if number >= 3:
            piece = piece.with_columns(channel=pl.lit("online"))
        target = folder / PARTS[number] / f"part-{number:02d} of 05.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        piece.write_parquet(target)
    (folder / "_SUCCESS").write_text("")
    (folder / PARTS[0] / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    text = config.read_text(encoding="utf-8").replace('"data/orders.csv"', '"data/orders"')
    lake = config.with_name("lake.toml")
    lake.write_text(text, encoding="utf-8")
    return lake


def without_config_hash(tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The tables with the config's hash (it names the source's path, which differs)
    made one placeholder wherever it appears."""
    digest = tables["refresh_runs"]["config_hash"].item()
    pattern = re.escape(digest[:12]) + "[0-9a-f]*"
    return {
        name: table.with_columns(pl.col(pl.String).str.replace_all(pattern, "<config>"))
        for name, table in tables.items()
    }


def test_a_folder_of_parquet_files_publishes_the_tables_of_the_same_rows_as_a_csv(
    tmp_path: Path,
) -> None:
    csv = make_config(tmp_path, seed=3)
    from_csv = without_config_hash(refreshed(csv))
    from_folder = without_config_hash(refreshed(as_parquet_folder(csv)))
    # Identical lines are identical in every column, the partition folder's too: twins
    # the folder put in two regions are two different lines there (a note, no table).
    for tables in (from_csv, from_folder):
        tables["refresh_runs"] = tables["refresh_runs"].with_columns(
            pl.col("notes").str.replace(r"identical order lines kept [^;]*; ", "")
        )
    assert_same_tables(from_csv, from_folder)
    # The rows keep their numbers across files: the quarantine names the same rows.
    quarantine = from_folder["quarantine"]
    assert quarantine.filter(pl.col("problem").str.starts_with("duplicate line key")).height == 12
    assert quarantine["row_number"].max() > CUTS[-1]  # rows of the last file among them


@pytest.mark.spark
@pytest.mark.usefixtures("java")
def test_spark_reads_a_folder_of_parquet_files_into_the_tables_of_the_polars_engine(
    tmp_path: Path,
) -> None:
    from tests.test_spark_lines import polars_and_spark

    lake = as_parquet_folder(make_config(tmp_path, seed=4))
    polars, spark = polars_and_spark(lake, buckets=3)
    assert_same_tables(polars, spark)
    assert spark["quarantine"].height > 0


def write_parquet(path: Path, frame: pl.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)
    return path


def test_files_are_read_in_path_order_with_every_column_and_partitions_as_text(
    tmp_path: Path,
) -> None:
    write_parquet(tmp_path / "month=10/b.parquet", pl.DataFrame({"id": ["c"], "n": [3]}))
    write_parquet(tmp_path / "month=02/b.parquet", pl.DataFrame({"id": ["b"], "n": [2]}))
    write_parquet(
        tmp_path / "month=02/a.parquet",
        pl.DataFrame({"id": ["a", "a2"], "n": [1, 1], "x": ["y"] * 2}),
    )
    (tmp_path / "month=02/_tmp").mkdir()
    write_parquet(tmp_path / "month=02/_tmp/z.parquet", pl.DataFrame({"id": ["junk"]}))
    files = parquet_files("orders", tmp_path)
    assert [path.relative_to(tmp_path).as_posix() for path in files.files] == [
        "month=02/a.parquet",
        "month=02/b.parquet",
        "month=10/b.parquet",
    ]
    assert files.columns == pl.Schema(
        {"id": pl.String, "n": pl.Int64, "x": pl.String, "month": pl.String}
    )
    read = files.scan().collect()
    assert read.to_dict(as_series=False) == {
        "id": ["a", "a2", "b", "c"],
        "n": [1, 1, 2, 3],
        "x": ["y", "y", None, None],
        "month": ["02", "02", "02", "10"],  # text: the zero stays
    }
    assert files.first_rows() == {
        str(path): start for path, start in zip(files.files, [0, 2, 3], strict=True)
    }


def test_a_single_file_is_its_own_source(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "orders.parquet", pl.DataFrame({"id": ["a"]}))
    files = parquet_files("orders", path)
    assert files.files == (path,)
    assert not files.is_folder
    assert files.first_rows() == {str(path): 0}


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, "holds no Parquet file"),
        ({"_delta_log/00000000000000000000.json": b"{}"}, "is a Delta Lake table"),
        ({"metadata/v1.metadata.json": b"{}"}, "is an Iceberg table"),
        ({".hoodie/hoodie.properties": b"x"}, "is an Apache Hudi table"),
        ({"day=1/a.parquet": pl.DataFrame({"day": ["1"]})}, "both a column of the files and"),
        (
            {"a.parquet": pl.DataFrame({"n": [1]}), "b.parquet": pl.DataFrame({"n": ["1"]})},
            "column 'n' is Int64 in",
        ),
        (
            {"k=1/a.parquet": pl.DataFrame({"n": [1]}), "b.parquet": pl.DataFrame({"n": [1]})},
            "must share its partition folders",
        ),
        ({"a.parquet": b"not parquet at all"}, "cannot read"),
    ],
)
def test_a_folder_that_is_not_one_set_of_rows_is_refused_with_the_reason(
    tmp_path: Path, layout: dict[str, object], message: str
) -> None:
    folder = tmp_path / "orders"
    folder.mkdir()
    for name, content in layout.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, pl.DataFrame):
            content.write_parquet(path)
        else:
            assert isinstance(content, bytes)
            path.write_bytes(content)
    with pytest.raises(ParquetSourceError, match=message):
        parquet_files("orders", folder)


def test_a_missing_folder_is_a_source_error_naming_it(tmp_path: Path) -> None:
    from config.settings import SourceSettings

    source = SourceSettings(path=tmp_path / "lake" / "orders", format="parquet")
    with pytest.raises(SourceError, match=r"sources.orders.path: file not found: .*lake/orders"):
        read_source("orders", source)


def test_a_folder_spilled_in_buckets_publishes_the_tables_of_the_folder_read_whole(
    tmp_path: Path,
) -> None:
    lake = as_parquet_folder(make_config(tmp_path, seed=7))
    whole = refreshed(lake)
    rows = parquet_files("orders", tmp_path / "data" / "orders").scan().select(pl.len())
    # The folder's rows are counted over its files: 2 lines per bucket, so many buckets.
    assert bucket_count(tmp_path / "data" / "orders", "parquet", lines_per_bucket=2) == -(
        -rows.collect().item() // 2
    )
    with pytest.MonkeyPatch.context() as patch:
        buckets_forced(patch, 5)
        spilled = refreshed(lake)
    assert_same_tables(whole, spilled)


def test_a_column_of_only_nulls_in_one_file_takes_the_type_of_the_others(tmp_path: Path) -> None:
    import pandas as pd

    from config.settings import SourceSettings
    from pipeline.lines_on_spark import lines_for_spark

    folder = tmp_path / "orders"
    folder.mkdir()
    # pandas writes a column of only None as type Null
    pd.DataFrame({"id": ["a"], "coupon": [None]}).to_parquet(folder / "a.parquet")
    write_parquet(folder / "b.parquet", pl.DataFrame({"id": ["b"], "coupon": ["TET"]}))
    files = parquet_files("orders", folder)
    assert files.schema["coupon"] == pl.String
    assert files.scan().collect().rows() == [("a", None), ("b", "TET")]
    assert files.untyped == (("coupon", folder / "a.parquet"),)
    # Spark's reader cannot read a Null column as text: refused before Spark starts
    with pytest.raises(SourceError, match=r"column 'coupon' of .*a\.parquet holds only nulls"):
        lines_for_spark(
            "orders", SourceSettings(path=folder), folder=tmp_path, prepare=lambda rows: rows
        )


def test_a_partition_folder_named_as_the_source_is_not_a_column(tmp_path: Path) -> None:
    root = tmp_path / "orders" / "year=2024"
    write_parquet(root / "month=01/p.parquet", pl.DataFrame({"id": ["a"]}))
    write_parquet(root / "month=02/p.parquet", pl.DataFrame({"id": ["b"]}))
    files = parquet_files("orders", root)
    assert files.columns.names() == ["id", "month"]
    assert files.scan().collect().rows() == [("a", "01"), ("b", "02")]


def test_a_file_reached_through_a_link_is_read_in_its_place(tmp_path: Path) -> None:
    elsewhere = write_parquet(tmp_path / "archive" / "2023.parquet", pl.DataFrame({"id": ["a"]}))
    folder = tmp_path / "orders"
    write_parquet(folder / "2024.parquet", pl.DataFrame({"id": ["b"]}))
    (folder / "2023.parquet").symlink_to(elsewhere)
    files = parquet_files("orders", folder)
    assert files.files == (folder / "2023.parquet", folder / "2024.parquet")
    assert files.scan().collect()["id"].to_list() == ["a", "b"]
