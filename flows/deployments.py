"""The scheduled Prefect deployment of the refresh: served from this process or registered.

Produces the `personas-refresh` deployment of the `refresh` flow for one config.
Its schedule follows the same rule as `personas status`: the next refresh is
due `[schedule] cadence_months` after the current refresh finished (an RRule
starting at that due date, then every cadence; cron cannot say "every 7
months"). Each refresh that becomes current moves the schedule to its own due
date (`reanchor_schedules`), so the schedule's next run and the status's next
due date are always the same moment. Scheduled runs carry `trigger =
"schedule"`; runs started by hand from the Prefect UI or API use the same
deployment with `trigger = "ad-hoc"` (the flow's default) and may set `as_of`
and `reason`.

`serve` runs the deployment from this process (no work pool needed);
`register` sends it to a Prefect server for a process work pool's workers.
Both use the one name, and the later replaces the earlier: serving removes a
registered work-pool deployment of that name, and registering removes a
served one, so a run started from the UI always lands where it can run.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from prefect.schedules import RRule

from config.loader import LoadedConfig
from config.settings import Settings
from flows.freshness import freshness
from flows.refresh import refresh
from warehouse.publish import open_warehouse

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

DEPLOYMENT_NAME = "personas-refresh"
FULL_NAME = f"refresh/{DEPLOYMENT_NAME}"
DRIFT_DEPLOYMENT_NAME = "personas-drift-check"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = "flows/refresh.py:refresh"
logger = logging.getLogger("personas")


def cadence_rrule(months: int, first_run: datetime) -> str:
    """Every `months` months from `first_run` (naive UTC), the first run included."""
    return f"DTSTART:{first_run:%Y%m%dT%H%M%S}\nRRULE:FREQ=MONTHLY;INTERVAL={months}"


def next_scheduled_run(settings: Settings, now: datetime | None = None) -> datetime:
    """When the schedule runs next: the status's next due date (current refresh finished
    + cadence), or the next minute when personas were never refreshed or are overdue."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    with open_warehouse(settings) as warehouse:
        current = warehouse.current_run()
    finished = None if current is None else current["finished_at"]
    state = freshness(
        finished if isinstance(finished, datetime) else None,
        cadence_months=settings.schedule.cadence_months,
        now=now,
    )
    soon = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if state.next_due_at is None or state.next_due_at < soon:
        return soon
    return state.next_due_at


def refresh_schedule(months: int, first_run: datetime) -> RRule:
    """The schedule, with the parameters its runs get."""
    return RRule(
        cadence_rrule(months, first_run),
        timezone="UTC",
        parameters={"trigger": "schedule", "reason": f"scheduled refresh (every {months} months)"},
    )


def _common(config: LoadedConfig, first_run: datetime) -> dict[str, object]:
    months = config.settings.schedule.cadence_months
    return {
        "name": DEPLOYMENT_NAME,
        "schedules": [refresh_schedule(months, first_run)],
        "parameters": {"config_path": str(config.path)},
        "description": f"Refresh personas from {config.path} every {months} months.",
        "tags": ["personas"],
    }


def refresh_deployment(config: LoadedConfig, first_run: datetime | None = None) -> RunnerDeployment:
    """The deployment to serve from this process."""
    first_run = first_run or next_scheduled_run(config.settings)
    return refresh.to_deployment(**_common(config, first_run))  # type: ignore[arg-type]


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


def prepare_to_serve() -> bool:
    """Remove a work-pool deployment of the refresh registered by `personas schedule`:
    this process serves it now. True when one was removed."""
    return _remove_existing(lambda deployment: deployment.work_pool_name is not None)


def register(config: LoadedConfig, work_pool: str) -> UUID:
    """Register the deployment with the Prefect server for `work_pool` (created if missing,
    as a process pool); its workers run the flow from this checkout. A deployment of the
    same name served by `personas serve` is replaced."""
    _ensure_process_pool(work_pool)
    _remove_existing(lambda deployment: deployment.work_pool_name is None)
    flow = refresh.from_source(source=str(PROJECT_ROOT), entrypoint=ENTRYPOINT)
    # RunnerDeployment.apply rather than Flow.deploy: deploy's "start a worker" hint
    # queries workers with a request that Prefect 3.8's own server rejects (422).
    common = _common(config, next_scheduled_run(config.settings))
    deployment = flow.to_deployment(work_pool_name=work_pool, **common)  # type: ignore[arg-type]
    return deployment.apply()


def reanchor_schedules(config: LoadedConfig, next_due_at: datetime) -> int:
    """Move the schedule of this config's refresh deployment to `next_due_at`, the new
    current refresh's due date; how many schedules moved. Best effort: without a
    reachable Prefect API, or without a deployment of this config, nothing moves."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.schedules import RRuleSchedule
    from prefect.exceptions import ObjectNotFound

    months = config.settings.schedule.cadence_months
    rule = RRuleSchedule(rrule=cadence_rrule(months, next_due_at), timezone="UTC")
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(FULL_NAME)
        except ObjectNotFound:
            return 0
        if deployment.parameters.get("config_path") != str(config.path):
            return 0  # another config's deployment
        for schedule in deployment.schedules:
            client.update_deployment_schedule(deployment.id, schedule.id, schedule=rule)
        return len(deployment.schedules)


def _remove_existing(should_remove: Any) -> bool:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(FULL_NAME)
        except ObjectNotFound:
            return False
        if not should_remove(deployment):
            return False
        client.delete_deployment(deployment.id)
        return True


def _ensure_process_pool(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
