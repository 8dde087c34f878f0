"""The Spark session of a refresh with `[engine] kind = "spark"`.

Produces `spark_session(engine)`: a session on the configured master (`local[N]`,
`spark://…`, `yarn`, `k8s://…`, or a Spark Connect `sc://…` URL) with the
configured shuffle partitions and conf, Arrow transfer on, and Splink's
similarity functions (Jaro-Winkler) on the classpath when Splink is installed.
Spark's own start-up chatter is kept to errors, so a refresh prints its own
lines. A master that cannot start (no Java, a cluster that does not answer) is a
`SparkUnavailableError` with one line that says what to check.

Imported only when the engine is Spark: PySpark takes seconds to import.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import warnings
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from config.settings import EngineSettings

# Spark logs INFO and WARN lines to stderr from the moment the JVM starts; only errors.
_QUIET_LOG4J = Path(__file__).with_name("spark-log4j2.properties")


ARROW_BATCH_ROWS = 200_000


class SparkUnavailableError(Exception):
    """Spark could not be started or reached on the configured master."""


def spark_session(engine: EngineSettings) -> SparkSession:
    """The session on `engine.master` (one per process: Spark allows one context)."""
    conf = tuple(sorted(engine.conf.items()))
    return _session(engine.master, engine.buckets, engine.app_name, conf)


@cache
def _session(
    master: str, buckets: int, app_name: str, conf: tuple[tuple[str, str], ...]
) -> SparkSession:
    from pyspark.sql import SparkSession

    remote = master.startswith("sc://")
    if not remote and shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise SparkUnavailableError(
            f"engine.kind = 'spark' with master {master}: Java is not installed (Spark needs "
            "Java 17: apt-get install openjdk-17-jre-headless, or set JAVA_HOME)"
        )
    builder = SparkSession.builder.remote(master) if remote else SparkSession.builder.master(master)
    builder = builder.appName(app_name).config("spark.sql.shuffle.partitions", str(buckets))
    if not remote:
        # The driver's JVM starts before any conf is read: its logging is set where the
        # launcher looks, after the user's own options there (a logging file of their
        # own stays theirs).
        _quiet_driver_logs()
        # Local executors run this interpreter, where personas and its libraries are (a
        # cluster's executors run the Python their own environment sets).
        if master.startswith("local"):
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            # A local Spark talks only to itself: on the loopback address it does not
            # depend on what the machine's name resolves to. (Importing pandera with its
            # pandas API used to set this for every master, a cluster's too, where
            # executors cannot reach a driver on the loopback; see `schemas`.)
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (
            builder.config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            # Timestamps cross to Python as instants; the zone only names them.
            .config("spark.sql.session.timeZone", "UTC")
            # Order lines cross to polars in batches: each batch's plan has a fixed cost,
            # which Spark's default of 10,000 rows pays a thousand times per 10M lines.
            .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH_ROWS))
        )
        # Splink's jar beside the user's own (a database's JDBC driver, say), not instead.
        jars = [*_splink_jars(), *(value for key, value in conf if key == "spark.jars")]
        if jars:
            builder = builder.config("spark.jars", ",".join(jars))
    for key, value in conf:
        if not (key == "spark.jars" and not remote):
            builder = builder.config(key, value)
    try:
        with warnings.catch_warnings():
            # PySpark warns about the pandas version it finds; no pandas crosses here
            warnings.simplefilter("ignore", FutureWarning)
            session = builder.getOrCreate()
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SparkUnavailableError(
            f"engine.kind = 'spark': could not start or reach Spark at {master}: {first}"
        ) from exc
    if not remote:
        session.sparkContext.setLogLevel("ERROR")
    return session


def _quiet_driver_logs() -> None:
    """Spark's driver logging kept to errors, through the options its launcher reads
    (`SPARK_SUBMIT_OPTS`), beside any JVM options the user has set there."""
    options = os.environ.get("SPARK_SUBMIT_OPTS", "")
    if "log4j2.configurationFile" not in options:
        quiet = f"-Dlog4j2.configurationFile=file:{_QUIET_LOG4J}"
        os.environ["SPARK_SUBMIT_OPTS"] = f"{options} {quiet}".strip()


def _splink_jars() -> list[str]:
    """Splink's Jaro-Winkler and friends for Spark, when Splink is installed (identity
    resolution on Spark calls them)."""
    if importlib.util.find_spec("splink") is None:
        return []
    from splink.backends.spark import similarity_jar_location

    return [similarity_jar_location()]
