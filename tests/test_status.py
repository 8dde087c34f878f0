"""`personas status` on fresh, due, stale and never-refreshed warehouses, for people and
for monitoring (`--json`, exit codes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.freshness import freshness
from tests.conftest import write
from tests.publish_worker import run_for, tables_for
from warehouse.publish import RunRecord, Warehouse

NOW = datetime(2026, 11, 23, 12, 0)


@pytest.mark.parametrize(
    ("finished", "cadence", "state", "next_due", "overdue"),
    [
        (datetime(2026, 6, 1), 6, "fresh", datetime(2026, 12, 1), 0),
        (datetime(2026, 5, 23, 12, 0), 6, "fresh", datetime(2026, 11, 23, 12, 0), 0),  # due now
        (datetime(2026, 5, 1), 6, "stale", datetime(2026, 11, 1), 22),
        (datetime(2026, 5, 1), 12, "fresh", datetime(2027, 5, 1), 0),
        (datetime(2025, 11, 1), 12, "alert", datetime(2026, 11, 1), 22),
        (datetime(2025, 1, 1), 6, "alert", datetime(2025, 7, 1), 510),
    ],
)
def test_freshness_from_the_last_refresh_and_the_cadence(
    finished: datetime, cadence: int, state: str, next_due: datetime, overdue: int
) -> None:
    result = freshness(finished, cadence_months=cadence, now=NOW)
    assert (result.state, result.next_due_at, result.days_overdue) == (state, next_due, overdue)
    assert result.exit_code == (0 if state == "fresh" else 1)


def test_never_refreshed_is_not_fresh() -> None:
    result = freshness(None, cadence_months=6, now=NOW)
    assert (result.state, result.exit_code) == ("never", 1)
    assert result.describe() == "never refreshed: run personas refresh"


def warehouse_refreshed(tmp_path: Path, days_ago: int | None) -> Path:
    """A config whose DuckDB warehouse's current refresh finished `days_ago` days ago."""
    config = write(
        tmp_path / "personas.toml",
        '[sources.orders]\npath = "data/orders.csv"\n',
    )
    if days_ago is not None:
        warehouse = Warehouse(
            f"duckdb:///{tmp_path / 'warehouse' / 'warehouse.duckdb'}", schema="personas", scale=4
        )
        warehouse.ensure_schema()
        finished = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days_ago)
        run = run_for("r1", "run1")
        run = RunRecord(**{**run.__dict__, "started_at": finished, "finished_at": finished})
        warehouse.publish(tables_for({"a": "1"}), run)
        warehouse.dispose()
    return config


def status(runner: CliRunner, config: Path, *extra: str, env: dict | None = None):
    return runner.invoke(app, ["status", "--config", str(config), *extra], env=env)


def test_status_right_after_a_refresh_is_fresh_and_due_six_months_out(
    runner: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "warehouse").mkdir()
    config = warehouse_refreshed(tmp_path, days_ago=0)
    result = status(runner, config, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["state"] == "fresh"
    assert document["current_refresh_id"] == "r1"
    last = datetime.fromisoformat(document["last_success_at"])
    due = datetime.fromisoformat(document["next_due_at"])
    assert (due.year * 12 + due.month) - (last.year * 12 + last.month) == 6
    assert document["refreshes"][0]["is_current"] is True
    human = status(runner, config)
    assert human.exit_code == 0
    assert f"Personas are fresh: last refreshed {last:%Y-%m-%d}; next due {due:%Y-%m-%d}." in (
        human.stdout.replace("\n", " ")
    )


def test_status_past_due_is_stale_and_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "warehouse").mkdir()
    config = warehouse_refreshed(tmp_path, days_ago=200)  # six months is at most 184 days
    result = status(runner, config, "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["state"] == "stale"
    assert document["days_overdue"] >= 200 - 184
    # with a 12-month cadence the same refresh is still fresh
    relaxed = status(runner, config, "--json", env={"PERSONAS_SCHEDULE__CADENCE_MONTHS": "12"})
    assert relaxed.exit_code == 0
    assert json.loads(relaxed.stdout)["state"] == "fresh"


def test_status_of_a_refresh_over_a_year_old_is_an_alert(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "warehouse").mkdir()
    config = warehouse_refreshed(tmp_path, days_ago=400)
    result = status(runner, config)
    assert result.exit_code == 1
    assert "Personas are alert: last refreshed" in result.stdout
    assert "more than 12 months ago" in result.stdout.replace("\n", " ")


def test_status_of_an_empty_warehouse_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    config = warehouse_refreshed(tmp_path, days_ago=None)
    result = status(runner, config, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["state"] == "never"


def test_a_cadence_outside_6_to_12_months_is_refused_by_every_command(
    runner: CliRunner, tmp_path: Path
) -> None:
    config = warehouse_refreshed(tmp_path, days_ago=None)
    for command in ("status", "refresh", "validate", "prune"):
        result = runner.invoke(
            app, [command, "--config", str(config)], env={"PERSONAS_SCHEDULE__CADENCE_MONTHS": "13"}
        )
        assert result.exit_code == 2, (command, result.output)
        assert "schedule.cadence_months" in result.stderr
