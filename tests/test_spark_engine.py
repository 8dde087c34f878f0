"""The Spark engine (`[engine] kind = "spark"`) on a real local Spark (`local[2]`):
identity resolution through Splink on Spark merges the same customers as on DuckDB,
and the refresh publishes the same tables; a machine without Java is told so in one
line. Skipped only where Java is absent and CI is unset."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from pydantic import ValidationError

from config.settings import EngineSettings, Settings
from sampledata.duplicates import pair_scores, planted_duplicates
from tests.conftest import read_view, refresh_customer_records

# Every test here needs Java (`java` in conftest: a skip, or a failure under CI).
pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("java")]


ENGINE = '\n[engine]\nkind = "spark"\nmaster = "local[2]"\nbuckets = 2\n'
IDENTITY = "\n[identity]\nenabled = true\nprobabilistic = true\n"


def _refresh(folder: Path, records: pl.DataFrame, *, engine: str) -> None:
    # two orders per record, of different sizes: the merges move revenue, tiers and ranks
    orders = records.select(
        "customer_id",
        order_date=pl.lit("2024-05-01"),
        amount=(pl.int_range(pl.len()) % 7 + 1) * 100,
    ).vstack(
        records.select(
            "customer_id",
            order_date=pl.lit("2024-06-01"),
            amount=(pl.int_range(pl.len()) % 3 + 1) * 1000,
        )
    )
    refresh_customer_records(folder, records, orders, IDENTITY + engine)


def _table(folder: Path, sql: str) -> list[tuple]:
    return sorted(read_view(folder, sql), key=repr)


def test_a_refresh_on_spark_resolves_the_same_customers_and_publishes_the_same_tables(
    tmp_path: Path,
) -> None:
    records = planted_duplicates(600, duplicate_share=0.15, seed=11)
    _refresh(tmp_path / "polars", records, engine="")
    _refresh(tmp_path / "spark", records, engine=ENGINE)
    clusters = "select source_id, customer_id, records from personas.customer_identity"
    assert _table(tmp_path / "spark", clusters) == _table(tmp_path / "polars", clusters)
    resolved = pl.DataFrame(
        _table(tmp_path / "spark", clusters),
        schema=["source_id", "customer_id", "records"],
        orient="row",
    )
    precision, recall = pair_scores(resolved.select("source_id", "customer_id"), records)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)
    ((notes,),) = read_view(tmp_path / "spark", "select notes from personas.refresh_runs")
    assert "and identity matching;" in notes
    ((notes,),) = read_view(tmp_path / "polars", "select notes from personas.refresh_runs")
    assert "engine: polars on this machine" in notes
    # everything computed on the resolved ids is the same, to the last digit
    for sql in (
        "select customer_id, revenue, order_count, tier, pareto_rank, pareto_class, "
        "rfm_segment from personas.customer_segments",
        "select * exclude (refresh_id) from personas.tier_summary",
        "select * exclude (refresh_id) from personas.pareto_summary",
    ):
        assert _table(tmp_path / "spark", sql) == _table(tmp_path / "polars", sql), sql


def test_the_spark_engine_without_pyspark_is_refused_when_the_config_is_read(
    uninstalled: Callable[[str], None],
) -> None:
    uninstalled("pyspark")
    with pytest.raises(ValidationError, match=r"needs PySpark: pip install 'personas\[spark\]'"):
        Settings(sources={"orders": {"path": "o.csv"}}, engine={"kind": "spark"})


def test_the_run_note_says_what_ran_where() -> None:
    from engines import engine_note

    spark = EngineSettings(kind="spark", master="spark://head:7077", buckets=8)
    assert engine_note(EngineSettings(), matching=True) == "engine: polars on this machine"
    assert engine_note(spark, matching=True) == (
        "engine: spark at spark://head:7077 for reading and validating the order lines "
        "(8 buckets), summing them into purchases and measuring each group of customers "
        "and identity matching"
    )
    assert engine_note(spark, matching=False).endswith("measuring each group of customers")


def test_no_java_is_one_line_that_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from engines.spark import SparkUnavailableError, spark_session

    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(SparkUnavailableError, match=r"Java is not installed .*Java 17"):
        # a master of its own: the session of another test is not reused
        spark_session(EngineSettings(kind="spark", master="local[1]", app_name="no-java"))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, "-Dlog4j2.configurationFile=file:{quiet}"),
        ("-Xss4m", "-Xss4m -Dlog4j2.configurationFile=file:{quiet}"),
        # a logging file of the user's own is theirs
        (
            "-Dlog4j2.configurationFile=file:/etc/mine.xml",
            "-Dlog4j2.configurationFile=file:/etc/mine.xml",
        ),
    ],
)
def test_the_driver_s_logs_are_kept_to_errors_beside_the_user_s_own_jvm_options(
    monkeypatch: pytest.MonkeyPatch, before: str | None, after: str
) -> None:
    from engines import spark

    if before is None:
        monkeypatch.delenv("SPARK_SUBMIT_OPTS", raising=False)
    else:
        monkeypatch.setenv("SPARK_SUBMIT_OPTS", before)
    spark._quiet_driver_logs()
    assert os.environ["SPARK_SUBMIT_OPTS"] == after.format(quiet=spark._QUIET_LOG4J)
