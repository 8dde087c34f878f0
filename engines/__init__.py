"""Where the steps that grow with the data run (`[engine] kind`): polars on this machine
or a Spark cluster.

Produces `spark_for(engine)`: the Spark session when the engine is Spark, None when it
is polars; `group_runner_for(engine, spilled)`, where the plans of many groups run;
and `engine_note(engine)`, the run note saying what ran where. This is the
one place that reads `kind`: a step given a session runs on Spark, given None runs in
this process. Nothing else imports PySpark (`engines.spark`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from pyspark.sql import SparkSession

    from config.settings import EngineSettings
    from transforms.purchases import GroupRunner


def spark_for(engine: EngineSettings) -> SparkSession | None:
    """The Spark session of `[engine]`, or None when everything runs on this machine."""
    if engine.kind != "spark":
        return None
    from engines.spark import spark_session

    return spark_session(engine)


def group_runner_for(engine: EngineSettings, spilled: Path | None) -> GroupRunner | None:
    """Where the plans of many groups of lines or customers run: on Spark's executors
    when the lines are there (they read and write the spill area, `spilled`), else None
    (this process)."""
    if engine.kind != "spark" or spilled is None:
        return None
    from engines.spark import spark_session
    from engines.spark_groups import OnExecutors

    return OnExecutors(spark_session(engine), spilled)


def lines_on_spark(engine: EngineSettings) -> bool:
    """Whether the order lines are read and validated on Spark."""
    return engine.kind == "spark"


def engine_note(engine: EngineSettings, *, matching: bool) -> str:
    """The run note on where the refresh ran: with the Spark engine, what ran there
    (`matching`: this refresh matched customers records by probability)."""
    if engine.kind != "spark":
        return "engine: polars on this machine"
    matched = " and identity matching" if matching else ""
    return (
        f"engine: spark at {engine.master} for reading and validating the order lines "
        f"({engine.buckets} buckets), summing them into purchases and measuring each "
        f"group of customers{matched}"
    )
