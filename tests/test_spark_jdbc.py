"""A database orders source read by Spark's executors through JDBC (`[engine] jdbc`), on
a real local Spark and the live PostgreSQL server, with Debian's PostgreSQL JDBC driver
(`libpostgresql-jdbc-java`, which `.ci/run` installs).

The dirty orders of `tests.test_buckets` as a PostgreSQL table publish, read by one
Spark task or by parts of a partition column read side by side, the tables of the
same table read by the refresh's own process on the polars engine; the quarantine
names the same rows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from config.loader import ConfigError, load_config
from engines.spark_jdbc import jdbc_location
from sources.buckets import SPILL_PREFIX
from sources.errors import SourceError
from tests.conftest import read_view, run_without_prefect
from tests.test_buckets import AS_OF, assert_same_tables, make_config, refreshed
from tests.test_spark_lines import on_spark, published

POSTGRES_JDBC = Path(
    os.environ.get("PERSONAS_TEST_POSTGRES_JDBC", "/usr/share/java/postgresql.jar")
)


def live(test: Callable[..., None]) -> Callable[..., None]:
    """A test of a real local Spark reading the live PostgreSQL server."""
    return pytest.mark.spark(pytest.mark.postgres(pytest.mark.usefixtures("java")(test)))


@pytest.fixture
def postgres_jdbc() -> Path:
    """Debian's PostgreSQL JDBC driver (a skip where it is absent, a failure under CI)."""
    if not POSTGRES_JDBC.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_JDBC} is missing: apt-get install libpostgresql-jdbc-java")
        pytest.skip(f"{POSTGRES_JDBC} is missing (apt-get install libpostgresql-jdbc-java)")
    return POSTGRES_JDBC


def orders_in_postgres(config: Path, url: str, *, numbered: bool) -> Path:
    """The config reading its orders from a PostgreSQL table of the same rows, in the
    file's order (`line_id`: their place, when `numbered`); quantity as an integer and
    amount as text, as an ERP keeps them (some amounts do not parse)."""
    rows = pl.read_csv(config.parent / "data" / "orders.csv", infer_schema=False)
    rows = rows.with_columns(pl.col("quantity").cast(pl.Int64))
    if numbered:
        rows = rows.with_row_index("line_id", offset=1).with_columns(
            pl.col("line_id").cast(pl.Int64)
        )
    engine = sa.create_engine(url)
    rows.write_database("orders", engine, if_table_exists="replace")
    engine.dispose()
    query = "select * from orders order by line_id" if numbered else None
    where = f'query = "{query}"' if query else 'table = "public.orders"'
    text = config.read_text(encoding="utf-8").replace(
        'path = "data/orders.csv"', f'url = "{url}"\n{where}'
    )
    database = config.with_name("database.toml")
    database.write_text(text, encoding="utf-8")
    return database


def with_jdbc(config: Path, jar: Path, extra: str = "") -> Path:
    spark = on_spark(config, buckets=4)
    text = spark.read_text(encoding="utf-8").replace(
        '[engine]\nkind = "spark"\n', f'[engine]\nkind = "spark"\njdbc = true\n{extra}'
    )
    spark.write_text(f'{text}\n[engine.conf]\n"spark.jars" = "{jar}"\n', encoding="utf-8")
    return spark


def refreshed_by_cli(config: Path) -> subprocess.CompletedProcess[str]:
    """`personas refresh` in a process of its own: Spark takes a driver's jar when its
    session starts, and this process's session may have started without it."""
    return run_without_prefect(
        ["refresh", "--config", str(config), "--as-of", AS_OF.isoformat()], cwd=config.parent
    )


def errors(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The `error:` lines a run printed."""
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("error:")]


def polars_and_jdbc(database: Path, jdbc: Path) -> dict[str, pl.DataFrame]:
    names = sorted(set(refreshed(database, AS_OF)) - {"refresh_runs"})
    polars = published(database, names)
    shutil.rmtree(database.parent / "warehouse")
    done = refreshed_by_cli(jdbc)
    assert done.returncode == 0, done.stdout + done.stderr
    (notes,) = read_view(jdbc.parent, "select notes from personas.refresh_runs")[0]
    assert "engine: spark at local[2]" in notes
    spark = published(jdbc, names)
    assert_same_tables(polars, spark)
    return spark


@live
def test_a_postgresql_table_read_by_spark_publishes_the_tables_of_the_polars_engine(
    tmp_path: Path, postgres_url: str, postgres_jdbc: Path
) -> None:
    database = orders_in_postgres(make_config(tmp_path, seed=11), postgres_url, numbered=False)
    spark = polars_and_jdbc(database, with_jdbc(database, postgres_jdbc))
    quarantine = spark["quarantine"]
    assert quarantine.filter(pl.col("problem").str.starts_with("duplicate line key")).height == 12
    assert quarantine["row_number"].is_sorted()


@live
def test_a_postgresql_query_read_in_parts_of_a_column_is_numbered_part_by_part(
    tmp_path: Path, postgres_url: str, postgres_jdbc: Path
) -> None:
    """Four tasks read `line_id`'s four ranges side by side; the rows are numbered part by
    part, which here is the query's own order."""
    database = orders_in_postgres(make_config(tmp_path, seed=12), postgres_url, numbered=True)
    jdbc = with_jdbc(database, postgres_jdbc, 'jdbc_partition_column = "line_id"\n')
    spark = polars_and_jdbc(database, jdbc)
    assert spark["quarantine"]["row_number"].max() > 100
    # The files Spark wrote went with the run's spill area.
    assert not [path for path in (tmp_path / "spill").iterdir() if SPILL_PREFIX in path.name]


@live
def test_a_missing_table_or_column_is_one_line_naming_it(
    tmp_path: Path, postgres_url: str, postgres_jdbc: Path
) -> None:
    database = orders_in_postgres(make_config(tmp_path, seed=13), postgres_url, numbered=False)
    missing = database.with_name("missing.toml")
    missing.write_text(
        database.read_text(encoding="utf-8").replace("public.orders", "public.nope"),
        encoding="utf-8",
    )
    done = refreshed_by_cli(with_jdbc(missing, postgres_jdbc))
    assert done.returncode != 0
    (line,) = errors(done)
    assert line.startswith("error: sources.orders: Spark cannot read from the database: ")
    assert "public.nope" in line and "Traceback" not in done.stdout + done.stderr
    done = refreshed_by_cli(with_jdbc(database, postgres_jdbc, 'jdbc_partition_column = "no"\n'))
    (line,) = errors(done)
    assert "engine.jdbc_partition_column: 'no' is not a column of sources.orders" in line


def test_a_sqlalchemy_url_becomes_its_jdbc_url_and_properties() -> None:
    assert jdbc_location("postgresql+psycopg://ana:s%40cret@db.lan/erp?sslmode=require") == (
        "jdbc:postgresql://db.lan:5432/erp",
        {"password": "s@cret", "sslmode": "require", "user": "ana"},
    )
    assert jdbc_location("mysql+pymysql://u@h:3307/shop")[0] == "jdbc:mysql://h:3307/shop"
    assert jdbc_location("mssql+pyodbc://u:p@h/sales")[0] == (
        "jdbc:sqlserver://h:1433;databaseName=sales"
    )
    assert jdbc_location("sqlite:////data/erp.db") == ("jdbc:sqlite:/data/erp.db", {})
    with pytest.raises(SourceError, match="no JDBC URL is known for a duckdb database"):
        jdbc_location("duckdb:///x.duckdb")


@pytest.mark.parametrize(
    ("engine", "orders", "message"),
    [
        ("jdbc = true\n", 'url = "sqlite:///x.db"\ntable = "o"', 'set [engine] kind = "spark"'),
        ('kind = "spark"\njdbc = true\n', 'path = "o.csv"', "sources.orders needs `url`"),
        ('kind = "spark"\njdbc_partition_column = "id"\n', 'path = "o.csv"', "need engine.jdbc"),
    ],
)
def test_jdbc_settings_are_refused_where_they_would_do_nothing(
    tmp_path: Path, engine: str, orders: str, message: str
) -> None:
    config = tmp_path / "personas.toml"
    config.write_text(f"[engine]\n{engine}[sources.orders]\n{orders}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_config(config)
