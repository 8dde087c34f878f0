"""The `drift-check` Prefect flow: `pipeline.drift.run_drift_check` with its stages as tasks.

Produces the monthly flow that `personas serve` runs; an early refresh it starts
is a subflow, visible in the UI as its own run.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import flow

from config.loader import load_config
from pipeline.drift import DriftReport, run_drift_check
from pipeline.runner import Stages


@flow(name="drift-check", log_prints=False)
def drift_check(
    config_path: Path, today: date | None = None, dry_run: bool = False, as_of: date | None = None
) -> DriftReport:
    """Compare the current data with the published refresh; refresh early past the threshold.

    Args:
        config_path: the TOML configuration.
        today: the date of the check (default today): launches up to it count.
        dry_run: measure and report, but never start a refresh.
        as_of: the date to measure the data as of; by default the newest order date up
            to `today`, never earlier than the published refresh's as_of.
    """
    config = load_config(config_path)
    return run_drift_check(
        config,
        today=today,
        dry_run=dry_run,
        as_of=as_of,
        stages=Stages.for_settings(config.settings, with_prefect=True),
    )
