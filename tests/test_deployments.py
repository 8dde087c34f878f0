"""The scheduled deployment under a real (temporary) Prefect API: its schedule, `serve`
and `schedule`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dateutil.rrule import rrulestr
from prefect.client.orchestration import get_client
from typer.testing import CliRunner

from config.loader import load_config
from flows.cli import app
from flows.deployments import (
    DEPLOYMENT_NAME,
    DRIFT_DEPLOYMENT_NAME,
    cadence_rrule,
    refresh_deployment,
)
from tests.conftest import read_view, write


def start_serving(config: Path, prefect_api: str) -> subprocess.Popen[str]:
    """`personas serve` in the background, against the test's Prefect API."""
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve", "--config", str(config)],
        env={**os.environ, "PREFECT_API_URL": prefect_api},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("months", [6, 7, 12])
def test_the_schedule_starts_when_the_refresh_is_due_and_repeats_every_cadence(
    months: int,
) -> None:
    due = datetime(2027, 5, 23, 9, 30, 15)
    rule = rrulestr(cadence_rrule(months, due))
    first = rule.after(datetime(2026, 11, 23))
    second = rule.after(first)
    assert first == due
    assert (second.day, second.hour, second.minute) == (23, 9, 30)
    assert (second.year * 12 + second.month) - (first.year * 12 + first.month) == months


def test_the_deployment_of_a_config_carries_its_schedule_and_parameters(tmp_path: Path) -> None:
    config = write(
        tmp_path / "personas.toml",
        '[sources.orders]\npath = "o.csv"\n[schedule]\ncadence_months = 9\n',
    )
    deployment = refresh_deployment(load_config(config))
    assert deployment.name == DEPLOYMENT_NAME
    assert deployment.parameters == {"config_path": str(config.resolve())}
    (schedule,) = deployment.schedules
    assert "INTERVAL=9" in schedule.schedule.rrule
    # never refreshed: due now, so the schedule's first run is within a minute or two
    first = rrulestr(schedule.schedule.rrule).after(datetime(2000, 1, 1))
    assert abs((first - datetime.now(UTC).replace(tzinfo=None)).total_seconds()) < 120
    assert schedule.parameters == {
        "trigger": "schedule",
        "reason": "scheduled refresh (every 9 months)",
    }


def read_deployment(name: str):
    with get_client(sync_client=True) as client:
        return client.read_deployment_by_name(name)


def test_schedule_registers_the_deployment_with_a_work_pool(
    flow_runner: CliRunner, tmp_path: Path
) -> None:
    config = write(tmp_path / "personas.toml", '[sources.orders]\npath = "o.csv"\n')
    result = flow_runner.invoke(
        app, ["schedule", "--config", str(config), "--work-pool", "personas-test"]
    )
    assert result.exit_code == 0, result.output
    assert "every 6 months in work pool personas-test" in result.stdout
    deployment = read_deployment(f"refresh/{DEPLOYMENT_NAME}")
    assert deployment.work_pool_name == "personas-test"
    assert deployment.parameters == {"config_path": str(config.resolve())}
    (schedule,) = deployment.schedules
    assert "INTERVAL=6" in schedule.schedule.rrule
    assert schedule.parameters["trigger"] == "schedule"


def test_serve_serves_the_scheduled_deployment_until_stopped(
    prefect_api: str, tmp_path: Path
) -> None:
    config = write(
        tmp_path / "personas.toml",
        '[sources.orders]\npath = "o.csv"\n[schedule]\ncadence_months = 12\n',
    )
    server = start_serving(config, prefect_api)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.communicate()
            try:  # serve registers both deployments, one after the other
                deployment = read_deployment(f"refresh/{DEPLOYMENT_NAME}")
                drift = read_deployment(f"drift-check/{DRIFT_DEPLOYMENT_NAME}")
                if "INTERVAL=12" in deployment.schedules[0].schedule.rrule:
                    break
            except Exception:  # not registered yet
                pass
            assert time.monotonic() < deadline, "serve never registered its deployment"
            time.sleep(0.5)
        assert deployment.parameters == {"config_path": str(config.resolve())}
        assert deployment.updated > datetime(2026, 1, 1, tzinfo=UTC)
        assert drift.schedules[0].schedule.cron == "0 7 1 * *"  # monthly
        assert drift.parameters == {"config_path": str(config.resolve())}
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()


ORDERS = "customer_id,order_date,amount\nA,2024-01-01,100\nB,2024-02-01,50\n"


def first_run_of(deployment) -> datetime:
    (schedule,) = deployment.schedules
    return rrulestr(schedule.schedule.rrule).after(datetime(2000, 1, 1))


def status_next_due(config: Path) -> datetime:
    result = CliRunner().invoke(app, ["status", "--config", str(config), "--json"])
    return datetime.fromisoformat(json.loads(result.stdout)["next_due_at"])


def test_the_schedule_next_run_is_the_status_next_due_date_and_moves_with_each_refresh(
    flow_runner: CliRunner, tmp_path: Path
) -> None:
    write(tmp_path / "data" / "orders.csv", ORDERS)
    config = write(tmp_path / "personas.toml", '[sources.orders]\npath = "data/orders.csv"\n')
    refreshed = flow_runner.invoke(
        app, ["refresh", "--config", str(config), "--as-of", "2024-06-01"]
    )
    assert refreshed.exit_code == 0, refreshed.output
    registered = flow_runner.invoke(
        app, ["schedule", "--config", str(config), "--work-pool", "personas-due"]
    )
    assert registered.exit_code == 0, registered.output
    due = status_next_due(config)
    assert first_run_of(read_deployment(f"refresh/{DEPLOYMENT_NAME}")) == due.replace(microsecond=0)
    # another refresh becomes current: the schedule follows its due date
    again = flow_runner.invoke(app, ["refresh", "--config", str(config), "--as-of", "2024-07-01"])
    assert again.exit_code == 0, again.output
    moved = status_next_due(config)
    assert moved > due
    assert first_run_of(read_deployment(f"refresh/{DEPLOYMENT_NAME}")) == moved.replace(
        microsecond=0
    )


def wait_for(condition, *, what: str, process: subprocess.Popen, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while True:
        assert process.poll() is None, process.communicate()
        try:
            found = condition()
        except Exception:  # not there yet
            found = None
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_schedule_then_serve_on_one_server_and_a_run_started_from_the_api_completes(
    flow_runner: CliRunner, prefect_api: str, tmp_path: Path
) -> None:
    from prefect.deployments import run_deployment

    write(tmp_path / "data" / "orders.csv", ORDERS)
    config = write(tmp_path / "personas.toml", '[sources.orders]\npath = "data/orders.csv"\n')
    registered = flow_runner.invoke(
        app, ["schedule", "--config", str(config), "--work-pool", "personas-both"]
    )
    assert registered.exit_code == 0, registered.output
    assert read_deployment(f"refresh/{DEPLOYMENT_NAME}").work_pool_name == "personas-both"
    server = start_serving(config, prefect_api)
    try:
        # serve replaces the work-pool deployment with the one it serves
        wait_for(
            lambda: (
                read_deployment(f"refresh/{DEPLOYMENT_NAME}").work_pool_name is None
                and read_deployment(f"drift-check/{DRIFT_DEPLOYMENT_NAME}")
            ),
            what="serve to take over the deployment",
            process=server,
        )
        time.sleep(2)  # the runner starts polling once both deployments are applied
        flow_run = run_deployment(
            f"refresh/{DEPLOYMENT_NAME}",
            parameters={"as_of": "2024-06-01", "reason": "from the API"},
            timeout=240,
        )
        assert flow_run.state is not None and flow_run.state.is_completed(), flow_run.state
        (run,) = read_view(
            tmp_path, "select status, trigger, reason, as_of from personas.refresh_runs"
        )
        assert run[:3] == ("succeeded", "ad-hoc", "from the API")
        assert str(run[3]) == "2024-06-01"
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
