"""Retention on both backends: keep the newest N refreshes, never the current one's rows.

Also `personas prune` as a user runs it, and pruning after each refresh when
`warehouse.keep_refreshes` is set.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import read_view, write
from tests.publish_worker import run_for, tables_for
from warehouse.publish import RunRecord, Warehouse
from warehouse.retention import prune


def published_at(refresh_id: str, minutes: int) -> RunRecord:
    run = run_for(refresh_id, f"{refresh_id}-{minutes}")
    at = datetime(2026, 11, 23, 10, 0) + timedelta(minutes=minutes)
    return RunRecord(**{**run.__dict__, "started_at": at, "finished_at": at})


def held(warehouse: Warehouse) -> dict[str, int]:
    """Customer rows per refresh_id in the history table."""
    frame = warehouse.read_current("customer_segments_history")
    return dict(frame.group_by("refresh_id").len().sort("refresh_id").rows())


@pytest.fixture
def four_refreshes(warehouse_url: str) -> Warehouse:
    """r1..r4 published in that order (r4 current), with 1..4 customers each."""
    warehouse = Warehouse(warehouse_url, schema="personas", scale=4)
    warehouse.ensure_schema()
    for n in range(1, 5):
        customers = {f"c{i}": "1" for i in range(n)}
        warehouse.publish(tables_for(customers), published_at(f"r{n}", minutes=n))
    yield warehouse
    warehouse.dispose()


def test_prune_keeps_the_newest_refreshes_and_stamps_the_others(four_refreshes: Warehouse) -> None:
    result = prune(four_refreshes, keep=2)
    assert [r.refresh_id for r in result.pruned] == ["r2", "r1"]
    assert [r.rows for r in result.pruned] == [2, 1]  # customer rows; the other tables are empty
    assert [(r.refresh_id, r.is_current) for r in result.kept] == [("r4", True), ("r3", False)]
    assert held(four_refreshes) == {"r3": 3, "r4": 4}
    runs = four_refreshes.read_current("refresh_runs_history").sort("refresh_id")
    stamped = dict(zip(runs["refresh_id"], runs["pruned_at"].is_not_null(), strict=True))
    assert stamped == {"r1": True, "r2": True, "r3": False, "r4": False}  # records are kept
    assert four_refreshes.read_current("customer_segments").height == 4  # current untouched
    assert prune(four_refreshes, keep=2).pruned == []  # nothing more to do


def test_the_current_refresh_is_kept_even_when_an_older_one_was_rerun(
    four_refreshes: Warehouse,
) -> None:
    four_refreshes.publish(tables_for({"again": "1"}), published_at("r1", minutes=10))
    result = prune(four_refreshes, keep=1)
    assert [r.refresh_id for r in result.kept] == ["r1"]
    assert held(four_refreshes) == {"r1": 1}
    assert four_refreshes.read_current("customer_segments")["customer_id"].to_list() == ["again"]


def test_a_dry_run_reports_and_removes_nothing(four_refreshes: Warehouse) -> None:
    result = prune(four_refreshes, keep=1, dry_run=True)
    assert [r.refresh_id for r in result.pruned] == ["r3", "r2", "r1"]
    assert result.rows_pruned == 6
    assert held(four_refreshes) == {"r1": 1, "r2": 2, "r3": 3, "r4": 4}


def test_a_pruned_refresh_is_not_the_previous_one_for_segment_movement(
    four_refreshes: Warehouse,
) -> None:
    prune(four_refreshes, keep=1)
    # all four share one as_of: a refresh as of a later day compares with the newest held
    later = date(2026, 7, 31)
    assert four_refreshes.previous_refresh("customer_segments", ["customer_id"], later).height == 4
    assert four_refreshes.previous_run(later)["refresh_id"] == "r4"
    assert four_refreshes.previous_run(date(2026, 6, 30)) is None  # nothing earlier


def test_keep_below_one_is_refused(four_refreshes: Warehouse) -> None:
    with pytest.raises(ValueError, match="keep must be at least 1"):
        prune(four_refreshes, keep=0)


ORDERS = "customer_id,order_date,amount\nA,2024-01-01,100\nB,2024-02-01,50\n"


def test_the_prune_command_and_retention_after_each_refresh(
    runner: CliRunner, tmp_path: Path
) -> None:
    write(tmp_path / "data" / "orders.csv", ORDERS)
    config = write(tmp_path / "personas.toml", '[sources.orders]\npath = "data/orders.csv"\n')
    for as_of in ("2024-03-01", "2024-04-01", "2024-05-01"):
        result = runner.invoke(app, ["refresh", "--config", str(config), "--as-of", as_of])
        assert result.exit_code == 0, result.output
    ids = "select distinct refresh_id from personas.customer_segments_history order by 1"
    assert [row[0][:8] for row in read_view(tmp_path, ids)] == ["20240301", "20240401", "20240501"]

    result = runner.invoke(app, ["prune", "--config", str(config)])
    assert result.exit_code == 2
    assert "pass --keep N or set warehouse.keep_refreshes" in result.output

    result = runner.invoke(app, ["prune", "--config", str(config), "--keep", "2", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Would remove 1 refresh(es)" in result.stdout
    assert "20240301-" in result.stdout
    assert len(read_view(tmp_path, ids)) == 3

    result = runner.invoke(app, ["prune", "--config", str(config), "--keep", "2"])
    assert result.exit_code == 0, result.output
    assert "Removed 1 refresh(es)" in result.stdout
    assert "current: 20240501-" in result.stdout
    assert [row[0][:8] for row in read_view(tmp_path, ids)] == ["20240401", "20240501"]

    env = {"PERSONAS_WAREHOUSE__KEEP_REFRESHES": "1"}
    args = ["refresh", "--config", str(config), "--as-of", "2024-06-01"]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert [row[0][:8] for row in read_view(tmp_path, ids)] == ["20240601"]
    result = runner.invoke(app, ["prune", "--config", str(config)], env=env)
    assert result.exit_code == 0, result.output
    assert "Nothing to prune: 1 refresh(es) held, keeping 1." in result.stdout
