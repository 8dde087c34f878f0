"""Order lines at a URL that Spark reads (`sources.orders.uri`), on a real local Spark.

Spark lists and reads what is at the URL; this process never opens it. Here the URL
is a `file:///` one (object stores need their Hadoop connector, which a cluster has
and this machine cannot download): the dirty orders of `tests.test_buckets` as one
CSV file, as a folder of CSV files cut in row order, and as the folder of Parquet
files of `tests.test_parquet_folders` (Vietnamese partition folders, a column the
later files add, a `_SUCCESS` marker, a hidden file) publish the tables of the same
rows read from a path by the polars engine, and the quarantine names the same rows.
"""

from __future__ import annotations

import itertools
import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from config.loader import ConfigError, load_config
from sources.errors import SourceError
from tests.conftest import run_without_prefect
from tests.test_buckets import AS_OF, assert_same_tables, make_config, refreshed
from tests.test_parquet_folders import as_parquet_folder, without_config_hash
from tests.test_spark_lines import on_spark, published, without_engine_note

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("java")]


def at_uri(config: Path, location: str, uri: str, *, fmt: str | None = None) -> Path:
    """The Spark config of `config` reading the orders from `uri` instead of `location`."""
    spark = on_spark(config, buckets=5)
    text = spark.read_text(encoding="utf-8")
    old = f'path = "{location}"'
    assert old in text
    new = f'uri = "{uri}"' + (f'\nformat = "{fmt}"' if fmt else "")
    spark.write_text(text.replace(old, new), encoding="utf-8")
    return spark


def same_as_polars(config: Path, spark_config: Path) -> dict[str, pl.DataFrame]:
    """The Spark run's tables, after checking they are the polars run's (the config's
    hash, which names the source's location, made one placeholder)."""
    polars = without_config_hash(refreshed(config, AS_OF))
    spark = without_config_hash(without_engine_note(refreshed(spark_config, AS_OF)))
    polars = without_engine_note(polars)
    assert_same_tables(polars, spark)
    return spark


def test_a_csv_file_at_a_url_publishes_the_tables_of_the_same_file_read_from_a_path(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, seed=1)
    csv = (tmp_path / "data" / "orders.csv").absolute()
    spark = same_as_polars(config, at_uri(config, "data/orders.csv", f"file://{csv}"))
    quarantine = spark["quarantine"]
    assert quarantine.filter(pl.col("problem").str.starts_with("duplicate line key")).height == 12
    assert quarantine["row_number"].is_sorted()


def test_a_folder_of_csv_files_at_a_url_is_read_in_path_order_as_one_file(
    tmp_path: Path,
) -> None:
    """Each file read by its own task; the rows numbered on across the files, so the
    quarantine names the rows of the one file they were cut from."""
    config = make_config(tmp_path, seed=2)
    rows = pl.read_csv(tmp_path / "data" / "orders.csv", infer_schema=False)
    folder = tmp_path / "lake" / "orders csv"
    cuts = [0, 40, 41, 97, rows.height]
    for number, (start, end) in enumerate(itertools.pairwise(cuts)):
        target = folder / f"day={number}" / f"Đơn hàng {number:02d}.csv"
        target.parent.mkdir(parents=True)
        rows.slice(start, end - start).write_csv(target)
    (folder / "_SUCCESS").write_text("")
    spark = same_as_polars(
        config, at_uri(config, "data/orders.csv", f"file://{folder.absolute()}", fmt="csv")
    )
    assert spark["quarantine"]["row_number"].max() > cuts[3]  # rows of the last file


def test_a_folder_of_parquet_files_at_a_url_only_spark_resolves_publishes_its_tables(
    tmp_path: Path,
) -> None:
    """`viewfs://lake/orders`: a URL of Hadoop's mount-table file system, which the
    config's `[engine.conf]` mounts on the folder (as a cluster's conf names its
    object store and credentials); the refresh's own process cannot open it. In a
    process of its own: Spark reads a file system's conf when its session starts."""
    lake = as_parquet_folder(make_config(tmp_path, seed=4))
    names = sorted(refreshed(lake, AS_OF))
    polars = without_engine_note(without_config_hash(published(lake, names)))
    shutil.rmtree(tmp_path / "warehouse")
    folder = (tmp_path / "data" / "orders").absolute()
    spark = at_uri(lake, "data/orders", "viewfs://lake/orders")
    mount = f'"spark.hadoop.fs.viewfs.mounttable.lake.link./orders" = "file://{folder}"'
    spark.write_text(f"{spark.read_text(encoding='utf-8')}\n[engine.conf]\n{mount}\n")
    done = run_without_prefect(
        ["refresh", "--config", str(spark), "--as-of", AS_OF.isoformat()], cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tables = without_engine_note(without_config_hash(published(spark, names)))
    assert_same_tables(polars, tables)
    assert tables["quarantine"]["row_number"].max() > 101  # rows of the last file


def test_a_bad_csv_file_at_a_url_stops_the_run_naming_it_by_its_url(tmp_path: Path) -> None:
    config = make_config(tmp_path, seed=5)
    folder = tmp_path / "lake"
    folder.mkdir()
    (folder / "a.csv").write_bytes((tmp_path / "data" / "orders.csv").read_bytes())
    (folder / "b.csv").write_bytes(
        b"order_id,line_number,customer_id,order_date,product_id,quantity,amount,status\n"
        b"SO1,1,C01,2024-01-02,P1,1,\xff\xfe,completed\n"
    )
    spark = at_uri(config, "data/orders.csv", f"file://{folder.absolute()}", fmt="csv")
    with pytest.raises(SourceError) as raised:
        refreshed(spark, AS_OF)
    (line,) = str(raised.value).splitlines()
    # Named by its URL as Spark names it (file:/…), not by the task's copy of it.
    assert re.search(
        f"sources.orders: file:/*{re.escape(str(folder.absolute()))}/b.csv is not valid utf-8", line
    )


def test_nothing_at_the_url_is_one_line_naming_it(tmp_path: Path) -> None:
    config = make_config(tmp_path, seed=6)
    missing = f"file://{tmp_path.absolute()}/nowhere/orders.parquet"
    with pytest.raises(SourceError) as raised:
        refreshed(at_uri(config, "data/orders.csv", missing), AS_OF)
    (line,) = str(raised.value).splitlines()
    assert f"sources.orders.uri: Spark cannot read {missing}" in line
    assert "PATH_NOT_FOUND" in line


@pytest.mark.parametrize(
    ("orders", "rest", "message"),
    [
        ("", "", "sources.orders.uri is read by Spark's executors: set [engine] kind"),
        ("", '[sources.customers]\nuri = "s3a://b/c.csv"\n', "uri: only the orders"),
        ('format = "excel"\n', "", "`uri` reads CSV or Parquet files"),
        ('table = "orders"\n', "", "`table` and `query` only apply to a database"),
    ],
)
def test_a_uri_is_refused_where_spark_does_not_read_it(
    tmp_path: Path, orders: str, rest: str, message: str
) -> None:
    engine = "" if "engine" in message else '[engine]\nkind = "spark"\n'
    config = tmp_path / "personas.toml"
    config.write_text(
        f'{engine}[sources.orders]\nuri = "s3a://bucket/orders/"\n{orders}{rest}',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(config)


def test_a_uri_without_a_scheme_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "personas.toml"
    config.write_text('[sources.orders]\nuri = "bucket/orders.csv"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="is not a URL with a scheme"):
        load_config(config)
