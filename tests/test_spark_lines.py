"""The order lines read and validated on a real local Spark (`local[2]`) give the same
refresh as lines read whole by polars.

The dirty orders of `tests.test_buckets` (duplicate line keys, identical lines
without a key, bad and blank amounts, unknown customers, keys with stray blanks,
refunds, cancellations, one customer with a fifth of the lines), as a CSV that
this process extracts for Spark and as a typed Parquet file that Spark reads
itself, refreshed with `[engine] kind = "spark"` in 1, 2, 7 or 64 buckets and
in any line order: every published table, the quarantine and the run's counts
are those of the polars engine, and the planted trouble is all found. Skipped
only where Java is absent and CI is unset.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from importlib import resources
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines.spark_lines import numbered
from sampledata import SAMPLE_END_DATE, generate_sample
from sampledata.cdnow import cdnow_config, write_cdnow_csv
from sources.buckets import SPILL_PREFIX
from tests.conftest import read_view, run_without_prefect, write
from tests.test_buckets import AS_OF, PER_RUN, assert_same_tables, make_config, refreshed

# Every test here needs Java (`java` in conftest: a skip, or a failure under CI).
pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("java")]


def on_spark(config: Path, buckets: int, master: str = "local[2]") -> Path:
    """The same config with the Spark engine (its hash, so the refresh id, is unchanged:
    where the work runs is not what it means)."""
    text = config.read_text(encoding="utf-8")
    engine = f'[engine]\nkind = "spark"\nmaster = "{master}"\nbuckets = {buckets}\n'
    text = text.replace("[engine]\n", engine) if "[engine]\n" in text else f"{text}\n{engine}"
    spark = config.with_name("spark.toml")
    spark.write_text(text, encoding="utf-8")
    return spark


def as_typed_parquet(config: Path) -> Path:
    """The config reading the orders from a Parquet file that stores dates as timestamps
    with their zone and quantities as integers (the amounts stay text: some do not
    parse)."""
    orders = pl.read_csv(config.parent / "data" / "orders.csv", infer_schema=False)
    orders.with_columns(
        # Midnight in Hà Nội is 17:00 the day before in UTC: read with the wrong zone,
        # every line would move a day.
        pl.col("order_date")
        .str.to_datetime("%Y-%m-%d", time_unit="us")
        .dt.replace_time_zone("Asia/Ho_Chi_Minh"),
        pl.col("quantity").cast(pl.Int64),
    ).write_parquet(config.parent / "data" / "orders.parquet")
    text = config.read_text(encoding="utf-8").replace("orders.csv", "orders.parquet")
    parquet = config.with_name("parquet.toml")
    parquet.write_text(text, encoding="utf-8")
    return parquet


def without_engine_note(tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The tables with the run note on where the refresh ran taken out of the notes."""
    runs = tables["refresh_runs"].with_columns(
        pl.col("notes").map_elements(
            lambda notes: re.sub(r"engine: [^;]*", "", notes),
            return_dtype=pl.String,
        )
    )
    return {**tables, "refresh_runs": runs}


def polars_and_spark(config: Path, buckets: int, as_of: date = AS_OF) -> tuple[dict, dict]:
    polars = refreshed(config, as_of)
    spark = refreshed(on_spark(config, buckets), as_of)
    notes = spark["refresh_runs"]["notes"].item()
    assert f"engine: spark at local[2] for reading and validating the order lines ({buckets} " in (
        notes
    )
    return without_engine_note(polars), without_engine_note(spark)


@pytest.mark.parametrize("source", ["csv", "parquet"])
def test_lines_validated_on_spark_publish_the_tables_of_the_polars_engine(
    tmp_path: Path, source: str
) -> None:
    config = make_config(tmp_path, seed=1)
    if source == "parquet":
        config = as_typed_parquet(config)
    polars, spark = polars_and_spark(config, buckets=7)
    assert_same_tables(polars, spark)
    quarantine = spark["quarantine"]
    # The trouble planted is all found on the executors, and comes back in row order.
    assert quarantine.filter(pl.col("problem").str.starts_with("duplicate line key")).height == 12
    assert quarantine.filter(pl.col("column") == "amount").height == 3  # abc, 1,2,3, x
    assert quarantine.filter(pl.col("problem").str.starts_with("no amount")).height == 1  # ""
    assert quarantine.filter(pl.col("problem") == "customer not found in customers").height == 3
    assert quarantine["row_number"].is_sorted()
    assert "identical order lines kept as separate purchases: 5" in (
        spark["refresh_runs"]["notes"].item()
    )
    # Spark's buckets were written to the run's spill area, which is gone.
    assert not [path for path in (tmp_path / "spill").iterdir() if SPILL_PREFIX in path.name]


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 10_000), buckets=st.sampled_from([1, 2, 7, 64]))
def test_tables_on_spark_do_not_depend_on_the_buckets_or_the_order_of_the_lines(
    tmp_path_factory: pytest.TempPathFactory, seed: int, buckets: int
) -> None:
    polars, spark = polars_and_spark(make_config(tmp_path_factory.mktemp("run"), seed), buckets)
    assert_same_tables(polars, spark)


def test_the_demo_data_on_spark_publishes_the_tables_of_the_polars_engine(
    tmp_path: Path,
) -> None:
    generate_sample(tmp_path / "data", customers=800, order_lines=12_000, seed=5)
    template = resources.files("config").joinpath("demo.toml").read_text(encoding="utf-8")
    config = write(tmp_path / "personas.toml", template)
    polars, spark = polars_and_spark(config, buckets=3, as_of=SAMPLE_END_DATE)
    assert_same_tables(polars, spark)
    assert spark["customer_segments"].height > 700


def test_a_real_log_without_order_ids_on_spark_publishes_the_tables_of_the_polars_engine(
    tmp_path: Path,
) -> None:
    # CDNOW: a customer's lines of one day are one purchase, and some are identical.
    (tmp_path / "data").mkdir()
    write_cdnow_csv(tmp_path / "data")
    # The pymc RFM preset: each bucket's daily spend summed on the executors, regrouped
    # by customer and summarised a group at a time, as the whole log read at once.
    config = write(
        tmp_path / "personas.toml",
        cdnow_config("data/cdnow.csv") + '\n[rfm]\npreset = "pymc"\n',
    )
    polars, spark = polars_and_spark(config, buckets=5, as_of=date(1998, 6, 30))
    assert_same_tables(polars, spark)
    assert spark["customer_segments"].height == 23_570


@pytest.fixture
def session(java: None):  # Java first: without it, a skip
    from config.settings import EngineSettings
    from engines.spark import spark_session

    return spark_session(EngineSettings(kind="spark", master="local[2]", buckets=2))


def test_a_line_goes_to_the_bucket_of_its_order_or_else_its_customer(session) -> None:
    from engines.spark_lines import BUCKET, with_buckets

    lines = session.createDataFrame(
        [("SO1", "C1"), ("SO1", "C2"), (None, "C1"), (None, "C1"), ("SO2", "C9")],
        "order_id string, customer_id string",
    )
    cut = with_buckets(lines, 7, line_key=None, columns=lines.columns)
    buckets = [row[BUCKET] for row in cut.collect()]
    # Spark's xxhash64 with its fixed seed: these are the buckets in every process and
    # every Spark version (a change here would move lines between buckets between runs).
    assert buckets == [2, 2, 1, 1, 0]
    by_customer = with_buckets(
        lines.drop("order_id"), 7, line_key=None, columns=["customer_id"]
    ).collect()
    assert [row[BUCKET] for row in by_customer] == [1, 6, 1, 1, 3]


def test_a_local_spark_s_driver_is_on_the_loopback_address(session) -> None:
    # Not on whichever interface the machine's name leads Spark to (192.0.2.2 on the
    # development machine, whose name resolves to the loopback): SPARK_LOCAL_IP unset.
    assert session.sparkContext.getConf().get("spark.driver.host") in ("localhost", "127.0.0.1")


def test_a_failure_on_an_executor_is_one_line_that_names_it(session) -> None:
    from engines.spark_lines import SparkStepError, per_bucket, with_buckets

    lines = session.createDataFrame(
        [("SO1", "C1", 1), ("SO2", "C2", 2)],
        "order_id string, customer_id string, _row_number long",
    )
    cut = with_buckets(lines, 2, line_key=None, columns=lines.columns)

    def broken(rows: pl.DataFrame, number: int) -> pl.DataFrame:
        raise ValueError(f"bucket {number} cannot be read")

    with pytest.raises(SparkStepError) as failed:
        per_bucket(cut, broken, pl.Schema({"n": pl.Int64}))
    message = str(failed.value)
    assert re.fullmatch(
        r"a bucket's step failed on Spark: ValueError: bucket \d cannot be read", message
    )


def test_a_file_named_in_vietnamese_with_spaces_is_read_and_numbered(
    session, tmp_path: Path
) -> None:
    from engines.spark_lines import read_lines
    from sources.parquet_files import parquet_files

    path = tmp_path / "đơn hàng 2024.parquet"
    pl.DataFrame({"order_id": ["SO1", "SO2", "SO3"]}).write_parquet(path, row_group_size=2)
    files = parquet_files("orders", path)
    read = read_lines(session, files, lambda rows: rows, numbered(files.columns))
    assert sorted(read.collect()) == [("SO1", 1), ("SO2", 2), ("SO3", 3)]


def test_a_file_spark_cannot_read_is_one_line_naming_spark_s_reason(
    session, tmp_path: Path
) -> None:
    from engines.spark_lines import SparkStepError, per_bucket, read_lines, with_buckets
    from sources.parquet_files import parquet_files

    path = tmp_path / "orders.parquet"
    pl.DataFrame({"order_id": ["SO1"], "customer_id": ["C1"]}).write_parquet(path)
    # A stale checksum beside the file: Hadoop's file system refuses the file when read.
    (tmp_path / ".orders.parquet.crc").write_bytes(b"\x00stale")
    files = parquet_files("orders", path)
    read = read_lines(session, files, lambda rows: rows, numbered(files.columns))
    cut = with_buckets(read, 2, line_key=None, columns=read.columns)
    with pytest.raises(SparkStepError) as failed:
        per_bucket(cut, lambda rows, number: rows.head(0), pl.Schema({"n": pl.Int64}))
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("a bucket's step failed on Spark: ")
    assert "[FAILED_READ_FILE" in message and "orders.parquet" in message


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Spark Connect server on local[2] (Spark's own, from PySpark's jars), as a
    Databricks or a Spark Connect deployment serves a refresh; its URL."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java")  # the `java` fixture decides skip or failure first
    from pyspark.find_spark_home import _find_spark_home

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("connect") / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [
                str(Path(_find_spark_home()) / "bin" / "spark-submit"),
                "--class",
                "org.apache.spark.sql.connect.service.SparkConnectServer",
                "--master",
                "local[2]",
                "--conf",
                f"spark.connect.grpc.binding.port={port}",
                "--conf",
                f"spark.pyspark.python={sys.executable}",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            # The server's Python workers run this interpreter, where personas is.
            env={**os.environ, "PYSPARK_PYTHON": sys.executable},
        )
    try:
        for _ in range(240):  # the JVM takes seconds to start listening
            if server.poll() is not None:
                pytest.fail(f"the Spark Connect server stopped: {log.read_text()[-2000:]}")
            with socket.socket() as attempt:
                if attempt.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            pytest.fail("the Spark Connect server did not listen within 2 minutes")
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=60)


def published(config: Path, names: list[str]) -> dict[str, pl.DataFrame]:
    """The current rows of each named view of the warehouse beside `config`, without what
    differs between any two runs."""
    import duckdb

    database = config.parent / "warehouse" / "warehouse.duckdb"
    with duckdb.connect(str(database), read_only=True) as connection:
        tables = {name: connection.sql(f"select * from personas.{name}").pl() for name in names}
    return {
        name: table.drop([c for c in PER_RUN if c in table.columns])
        for name, table in tables.items()
    }


@pytest.mark.usefixtures("java")
def test_over_spark_connect_a_refresh_publishes_the_tables_of_the_polars_engine(
    tmp_path: Path, connect_server: str
) -> None:
    # Spark Connect has no SparkContext: the customers reach the executors with the step.
    # PySpark keeps one kind of session per process: the refresh runs as a user runs it,
    # `personas refresh` in a process of its own.
    config = make_config(tmp_path, seed=5)
    names = sorted(set(refreshed(config)) - {"refresh_runs"})
    polars = published(config, names)
    shutil.rmtree(tmp_path / "warehouse")
    connect = on_spark(config, buckets=3, master=connect_server)
    done = run_without_prefect(
        ["refresh", "--config", str(connect), "--as-of", AS_OF.isoformat()], cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (notes,) = read_view(tmp_path, "select notes from personas.refresh_runs")[0]
    assert f"engine: spark at {connect_server} for reading and validating" in notes
    spark = published(config, names)
    assert_same_tables(polars, spark)
    assert (
        spark["quarantine"].filter(pl.col("problem") == "customer not found in customers").height
        == 3
    )


@pytest.mark.parametrize("rule", ["package", "quantile", "quantity"])
def test_every_tier_rule_on_spark_publishes_the_tables_of_the_polars_engine(
    tmp_path: Path, rule: str
) -> None:
    # Package: each line tiered a bucket at a time on the executors and regrouped by
    # customer there; quantile: the customers' tiers kept on disk for every group's plan;
    # quantity: purchases tiered by their size.
    polars, spark = polars_and_spark(make_config(tmp_path, seed=6, rule=rule), buckets=5)
    assert_same_tables(polars, spark)


def test_the_plans_of_groups_run_as_spark_tasks_and_come_back_in_order(
    session, tmp_path: Path
) -> None:
    from functools import partial

    from engines.spark_groups import OnExecutors

    def where_it_ran(path: Path) -> None:  # pickled whole: the tests are no package
        from pyspark import TaskContext

        path.write_text(f"{os.getpid()} {TaskContext.get() is not None}")

    runner = OnExecutors(session, tmp_path)
    runner.run([partial(where_it_ran, tmp_path / f"task{n}") for n in range(3)])
    ran = [(tmp_path / f"task{n}").read_text().split() for n in range(3)]
    assert all(in_task == "True" and int(pid) != os.getpid() for pid, in_task in ran)
    plans = [pl.LazyFrame({"n": [n, n]}).select(total=pl.col("n").sum()) for n in range(5)]
    assert [frame["total"].item() for frame in runner.collect(plans)] == [0, 2, 4, 6, 8]
    assert not list((tmp_path / "collected").iterdir())  # read back, then removed


def test_a_task_s_worker_leaves_what_it_holds_out_of_the_collector_s_passes(
    session, tmp_path: Path
) -> None:
    """PySpark's worker collects garbage in full after each task: what the worker holds
    when a task starts is frozen, so that pass looks only at what the task made."""
    from functools import partial

    from engines.spark_groups import OnExecutors

    def frozen_objects(path: Path) -> None:  # pickled whole: the tests are no package
        import gc

        path.write_text(str(gc.get_freeze_count()))

    OnExecutors(session, tmp_path).run(
        [partial(frozen_objects, tmp_path / f"task{n}") for n in range(2)]
    )
    assert all(int((tmp_path / f"task{n}").read_text()) > 10_000 for n in range(2))


def test_a_failing_plan_of_a_group_is_one_line_naming_its_error(session, tmp_path: Path) -> None:
    from engines.spark_groups import OnExecutors
    from engines.spark_lines import SparkStepError

    runner = OnExecutors(session, tmp_path)
    broken = pl.LazyFrame({"n": ["x"]}).select(pl.col("n").cast(pl.Int64))
    with pytest.raises(SparkStepError) as failed:
        runner.collect([broken, broken])
    assert re.fullmatch(
        r"a step of a group failed on Spark: polars\.exceptions\.InvalidOperationError: .*",
        str(failed.value),
    )


def test_a_spark_refresh_hands_its_groups_measures_to_the_executors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engines import spark_groups

    handed: list[int] = []
    run = spark_groups.run_on_executors

    def counted(session, tasks):  # the real thing, counted
        handed.append(len(tasks))
        run(session, tasks)

    regrouped: list[int] = []
    regroup = spark_groups.regroup_on_executors

    def shuffled(session, frames, *, key, target):  # the real thing, counted
        regrouped.append(len(frames))
        regroup(session, frames, key=key, target=target)

    monkeypatch.setattr(spark_groups, "run_on_executors", counted)
    monkeypatch.setattr(spark_groups, "regroup_on_executors", shuffled)
    refreshed(on_spark(make_config(tmp_path, seed=2), buckets=4))
    # tiered purchases kept, metrics, dominant tiers, tier sales and payments, the
    # natural breaks, second-order days, key-tier sales, products, the card's medians,
    # line kinds, lines after
    assert len(handed) >= 10
    # every step: one task per bucket, or per group of customers that has any (the
    # natural breaks send two plans per group in one job)
    assert max(handed) <= 2 * 4 and min(handed) >= 2
    # the purchases and the products bought regrouped by customer through Spark's shuffle,
    # a bucket's rows at a time
    assert regrouped == [4, 4]


def test_a_database_source_is_read_a_batch_at_a_time_and_extracted_on_spark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy as sa

    from pipeline import lines_on_spark
    from sources import extract

    config = make_config(tmp_path, seed=8)
    rows = pl.read_csv(tmp_path / "data" / "orders.csv", infer_schema=False)
    url = f"sqlite:///{tmp_path / 'data' / 'erp.db'}"
    engine = sa.create_engine(url)
    # quantity stored as a number: the extraction reads it as the database typed it
    rows.with_columns(pl.col("quantity").cast(pl.Int64)).write_database("orders", engine)
    engine.dispose()
    text = config.read_text(encoding="utf-8").replace(
        'path = "data/orders.csv"', f'url = "{url}"\ntable = "orders"'
    )
    database = config.with_name("database.toml")
    database.write_text(text, encoding="utf-8")
    # Batches of 40 rows: the rows are numbered across batches, as one read numbers them.
    monkeypatch.setattr(extract, "DATABASE_BATCH_ROWS", 40)
    batches: list[int] = []
    read = extract.database_rows

    def counted(name, source, take):  # the real read, its batches counted
        return read(
            name,
            source,
            lambda batch, numbers: (batches.append(batch.height), take(batch, numbers)),
        )

    monkeypatch.setattr(lines_on_spark, "database_rows", counted)
    polars, spark = polars_and_spark(database, buckets=3)
    assert batches and max(batches) == 40 and sum(batches) == rows.height  # streamed
    assert_same_tables(polars, spark)
    quarantine = spark["quarantine"]
    assert quarantine.filter(pl.col("problem").str.starts_with("duplicate line key")).height == 12
    assert quarantine["row_number"].max() > 40


def test_a_folder_with_a_linked_file_is_numbered_as_polars_numbers_it(
    session, tmp_path: Path
) -> None:
    from engines.spark_lines import read_lines
    from sources.parquet_files import parquet_files

    elsewhere = tmp_path / "archive" / "2023.parquet"
    elsewhere.parent.mkdir()
    pl.DataFrame({"order_id": ["SO1", "SO2"]}).write_parquet(elsewhere)
    folder = tmp_path / "orders" / "year=2024"  # a partition folder as the source
    (folder / "month=01").mkdir(parents=True)
    pl.DataFrame({"order_id": ["SO3"]}).write_parquet(folder / "month=01" / "b.parquet")
    (folder / "month=01" / "a.parquet").symlink_to(elsewhere)
    files = parquet_files("orders", folder)
    read = read_lines(session, files, lambda rows: rows, numbered(files.columns))
    polars = files.scan().with_row_index("n", offset=1).collect()
    assert sorted(read.collect()) == sorted(polars.select("order_id", "month", "n").rows())
