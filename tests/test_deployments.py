"""The scheduled deployment under a real (temporary) Prefect API: its schedule, `serve`
and `schedule`."""

from __future__ import annotations

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
from tests.conftest import write


@pytest.mark.parametrize("months", [6, 7, 12])
def test_the_schedule_fires_every_cadence_months_on_the_first_at_six(months: int) -> None:
    rule = rrulestr(cadence_rrule(months))
    first = rule.after(datetime(2026, 11, 23))
    second = rule.after(first)
    assert (first.day, first.hour, second.day) == (1, 6, 1)
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
    assert schedule.parameters == {
        "trigger": "schedule",
        "reason": "scheduled refresh (every 9 months)",
    }


def read_deployment(name: str):
    with get_client(sync_client=True) as client:
        return client.read_deployment_by_name(name)


def test_schedule_registers_the_deployment_with_a_work_pool(
    runner: CliRunner, tmp_path: Path
) -> None:
    config = write(tmp_path / "personas.toml", '[sources.orders]\npath = "o.csv"\n')
    result = runner.invoke(
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
    server = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve", "--config", str(config)],
        env={**os.environ, "PREFECT_API_URL": prefect_api},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
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
