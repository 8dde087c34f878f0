"""The refresh's stages as Prefect tasks: each `pipeline` stage function, wrapped.

Produces `as_task(stage)`: the Prefect task of a stage function, with its task
name, no result caching and, for the stages that talk to other systems
(extract, publish), retries of transient failures only. Used by
`pipeline.runner.Stages` inside a flow run; nothing outside a flow run imports
this module, so a run without a Prefect API never imports Prefect.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from prefect import Task, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.states import State

from config.settings import Settings
from pipeline import profile, report, stages
from warehouse.publish import RunRecord


def is_transient(task: object, task_run: object, state: State) -> bool:
    """Retry only what may pass on a second try: a dropped connection, a busy warehouse.

    A missing file, a wrong setting or bad data fail the same way every time.
    """
    failure = state.result(raise_on_failure=False)
    return bool(getattr(failure, "transient", False))


def write_refresh_report(
    tables: dict[str, pl.DataFrame],
    run: RunRecord,
    settings: Settings,
    folder: Path,
    current_as_of: date | None,
    checks: tuple[str, ...] = (),
) -> Path:
    """The report stage, plus a summary attached to the flow run as a Markdown artifact."""
    path = report.write_refresh_report(tables, run, settings, folder, current_as_of, checks)
    if FlowRunContext.get() is None:
        return path
    tiers = "\n".join(
        f"| {row['tier']} | {row['purchases']:,} | {row['buying_customers']:,} | "
        f"{row['sales_share'] or 0:.1%} |"
        for row in tables["tier_summary"].iter_rows(named=True)
    )
    create_markdown_artifact(
        key="personas-refresh-report",
        description=f"personas refresh {run.refresh_id}",
        markdown=(
            f"# personas refresh {run.refresh_id}\n\nas of {run.as_of}; "
            f"{run.rows_quarantined or 0:,} of {run.rows_in or 0:,} input rows quarantined.\n\n"
            f"| tier | purchases | buying customers | sales share |\n|---|---:|---:|---:|\n"
            f"{tiers}\n\n"
            f"Full report: `{path}`\n"
        ),
    )
    return path


def _task(function: Callable[..., Any], name: str, *, transient_retries: bool = False) -> Task:
    options: dict[str, Any] = {"name": name, "cache_policy": NO_CACHE}
    if transient_retries:
        options["retry_condition_fn"] = is_transient
    return task(**options)(function)


extract = _task(stages.extract, "extract", transient_retries=True)
validate = _task(stages.validate, "validate")
resolve_customers = _task(stages.resolve_customers, "resolve identities")
transform = _task(stages.transform, "transform")
open_warehouse_for_run = _task(stages.open_warehouse_for_run, "open warehouse")
check_tables = _task(stages.check_tables, "check published tables")
publish = _task(stages.publish, "publish", transient_retries=True)
profile_task = _task(profile.profile, "profile")
transitions = _task(profile.transitions, "segment movement")
report_task = _task(write_refresh_report, "report")

# The task of each stage function, as `Stages` looks it up.
TASKS: dict[Callable[..., Any], Task] = {
    stages.extract: extract,
    stages.validate: validate,
    stages.resolve_customers: resolve_customers,
    stages.transform: transform,
    stages.open_warehouse_for_run: open_warehouse_for_run,
    stages.check_tables: check_tables,
    stages.publish: publish,
    profile.profile: profile_task,
    profile.transitions: transitions,
    report.write_refresh_report: report_task,
}


def as_task(stage: Callable[..., Any]) -> Task:
    """The Prefect task of a `pipeline` stage function."""
    try:
        return TASKS[stage]
    except KeyError:
        raise ValueError(f"no Prefect task for {stage!r}: add it to flows.tasks.TASKS") from None
