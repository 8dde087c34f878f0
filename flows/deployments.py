"""The scheduled Prefect deployment of the refresh: served from this process or registered.

Produces the `personas-refresh` deployment of the `refresh` flow for one config:
a schedule every `[schedule] cadence_months` months (an RRule, as cron cannot say
"every 7 months"), firing on the 1st of the month at 06:00 UTC counted from
January 2026, whose runs carry `trigger = "schedule"`. Runs started by hand
from the Prefect UI or API use the same deployment with `trigger = "ad-hoc"`
(the flow's default) and may set `as_of` and `reason`.

`serve` runs the deployment from this process (no work pool needed);
`register` sends it to a Prefect server for a process work pool's workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

from prefect.schedules import RRule

from config.loader import LoadedConfig
from flows.refresh import refresh

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

DEPLOYMENT_NAME = "personas-refresh"
DRIFT_DEPLOYMENT_NAME = "personas-drift-check"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = "flows/refresh.py:refresh"


def cadence_rrule(months: int) -> str:
    """Every `months` months, on the 1st at 06:00 UTC, counted from 1 January 2026."""
    return (
        "DTSTART:20260101T060000\n"
        f"RRULE:FREQ=MONTHLY;INTERVAL={months};BYMONTHDAY=1;BYHOUR=6;BYMINUTE=0;BYSECOND=0"
    )


def refresh_schedule(months: int) -> RRule:
    """The schedule, with the parameters its runs get."""
    return RRule(
        cadence_rrule(months),
        timezone="UTC",
        parameters={"trigger": "schedule", "reason": f"scheduled refresh (every {months} months)"},
    )


def _common(config: LoadedConfig) -> dict[str, object]:
    months = config.settings.schedule.cadence_months
    return {
        "name": DEPLOYMENT_NAME,
        "schedules": [refresh_schedule(months)],
        "parameters": {"config_path": str(config.path)},
        "description": f"Refresh personas from {config.path} every {months} months.",
        "tags": ["personas"],
    }


def refresh_deployment(config: LoadedConfig) -> RunnerDeployment:
    """The deployment to serve from this process."""
    return refresh.to_deployment(**_common(config))  # type: ignore[arg-type]


def drift_deployment(config: LoadedConfig) -> RunnerDeployment:
    """The drift monitor, on the 1st of every `[drift] check_every_months` month at 07:00."""
    from flows.drift import drift_check

    every = config.settings.drift.check_every_months
    months = "*" if every == 1 else f"*/{every}"
    return drift_check.to_deployment(
        name=DRIFT_DEPLOYMENT_NAME,
        cron=f"0 7 1 {months} *",
        parameters={"config_path": str(config.path)},
        description=f"Check {config.path} for drift every {every} month(s); refresh early.",
        tags=["personas"],
    )


def register(config: LoadedConfig, work_pool: str) -> UUID:
    """Register the deployment with the Prefect server for `work_pool` (created if missing,
    as a process pool); its workers run the flow from this checkout."""
    _ensure_process_pool(work_pool)
    flow = refresh.from_source(source=str(PROJECT_ROOT), entrypoint=ENTRYPOINT)
    # RunnerDeployment.apply rather than Flow.deploy: deploy's "start a worker" hint
    # queries workers with a request that Prefect 3.8's own server rejects (422).
    deployment = flow.to_deployment(work_pool_name=work_pool, **_common(config))  # type: ignore[arg-type]
    return deployment.apply()


def _ensure_process_pool(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
