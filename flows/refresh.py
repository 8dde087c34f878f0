"""The `refresh` Prefect flow: `pipeline.refresh.run_refresh` with its stages as tasks.

Produces the flow that deployments, `personas serve` and workers run (visible
in the Prefect UI, each stage a task run with Prefect's retries). The CLI runs
this flow only when a Prefect API is configured; otherwise it calls
`run_refresh` directly and never imports Prefect.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import flow

from config.loader import load_config
from pipeline.refresh import RefreshResult, Trigger, run_refresh
from pipeline.runner import Stages


@flow(name="refresh", log_prints=False)
def refresh(
    config_path: Path,
    as_of: date | None = None,
    reason: str | None = None,
    trigger: Trigger = "ad-hoc",
    make_current: bool = False,
) -> RefreshResult:
    """Run one full refresh from the sources in `config_path` into its warehouse.

    Args:
        config_path: the TOML configuration.
        as_of: reference date; orders dated after it are ignored. Today when None.
        reason: why the refresh runs, recorded in refresh_runs.
        trigger: schedule / ad-hoc / drift / launch.
        make_current: make it current even when its as_of is older than the current
            refresh's (a backfill otherwise goes to history only).
    """
    config = load_config(config_path)
    return run_refresh(
        config,
        as_of=as_of,
        reason=reason,
        trigger=trigger,
        make_current=make_current,
        stages=Stages.for_settings(config.settings, with_prefect=True),
    )
