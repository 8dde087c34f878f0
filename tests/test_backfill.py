"""Backfills are explicit: a refresh older than the current one goes to history only.

Refreshes come in any order. The current refresh is always the one with the
newest as_of, unless `--make-current` (or `warehouse.make_backfills_current`)
asks for an older one; segment movement always compares with the latest
refresh of an earlier as_of; status and the CLI say which as_of is current.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import read_view
from tests.publish_worker import run_for, tables_for
from warehouse.publish import Warehouse


def refresh(runner: CliRunner, config: Path, as_of: str, *extra: str):
    result = runner.invoke(app, ["refresh", "--config", str(config), "--as-of", as_of, *extra])
    assert result.exit_code == 0, result.output
    return result


def current_as_of(config: Path) -> date:
    ((as_of,),) = read_view(config.parent, "select as_of from personas.refresh_runs")
    return as_of


def notes_of(config: Path, as_of: str) -> str:
    ((notes,),) = read_view(
        config.parent,
        f"select notes from personas.refresh_runs_history where as_of = '{as_of}' "
        "and status = 'succeeded' order by finished_at desc limit 1",
    )
    return notes


def test_a_backfill_goes_to_history_and_the_newer_refresh_stays_current(
    runner: CliRunner, orders_only: Path
) -> None:
    refresh(runner, orders_only, "2024-06-01")
    backfill = refresh(runner, orders_only, "2024-03-01")
    assert "Backfill: published refresh 20240301-" in backfill.stdout
    assert "stays the one as_of 2024-06-01" in backfill.stdout
    assert "--make-current" in backfill.stdout
    assert current_as_of(orders_only) == date(2024, 6, 1)
    held = read_view(
        orders_only.parent,
        "select distinct h.refresh_id from personas.customer_segments_history h order by 1",
    )
    assert [refresh_id[:8] for (refresh_id,) in held] == ["20240301", "20240601"]
    # the current views still show 2024-06-01's three customers
    assert read_view(orders_only.parent, "select count(*) from personas.customer_segments") == [
        (3,)
    ]
    status = runner.invoke(app, ["status", "--config", str(orders_only)])
    assert "(as_of 2024-06-01)" in status.stdout
    assert "history only: older as_of than the current refresh" in status.stdout
    document = json.loads(
        runner.invoke(app, ["status", "--config", str(orders_only), "--json"]).stdout
    )
    assert document["current_as_of"] == "2024-06-01"


def test_make_current_makes_a_backfill_current(runner: CliRunner, orders_only: Path) -> None:
    refresh(runner, orders_only, "2024-06-01")
    made = refresh(runner, orders_only, "2024-03-01", "--make-current")
    assert "Backfill" not in made.stdout
    assert current_as_of(orders_only) == date(2024, 3, 1)
    # ... and the setting does the same for every backfill
    env = {"PERSONAS_WAREHOUSE__MAKE_BACKFILLS_CURRENT": "true"}
    result = runner.invoke(
        app, ["refresh", "--config", str(orders_only), "--as-of", "2024-02-15"], env=env
    )
    assert result.exit_code == 0, result.output
    assert current_as_of(orders_only) == date(2024, 2, 15)


def test_movement_compares_with_the_latest_refresh_of_an_earlier_as_of(
    runner: CliRunner, orders_only: Path
) -> None:
    refresh(runner, orders_only, "2024-06-01")
    refresh(runner, orders_only, "2024-07-01")
    refresh(runner, orders_only, "2024-06-15")  # a backfill between the two
    assert current_as_of(orders_only) == date(2024, 7, 1)
    assert "segment movement: first refresh" in notes_of(orders_only, "2024-06-01")
    assert "compared with refresh 20240601-" in notes_of(orders_only, "2024-07-01")
    # the backfill compares with 2024-06-01, never with the later 2024-07-01
    assert "compared with refresh 20240601-" in notes_of(orders_only, "2024-06-15")
    refresh(runner, orders_only, "2024-03-01")  # older than all: nothing to compare with
    assert "segment movement: first refresh" in notes_of(orders_only, "2024-03-01")
    moves = read_view(
        orders_only.parent,
        "select count(*) from personas.segment_transitions_history "
        "where refresh_id like '20240301-%'",
    )
    assert moves == [(0,)]


def test_refreshes_published_in_any_order_leave_the_newest_current(warehouse_url: str) -> None:
    warehouse = Warehouse(warehouse_url, schema="personas", scale=4)
    warehouse.ensure_schema()
    for refresh_id, as_of in [("june", 6), ("march", 3), ("may", 5)]:
        run = replace(run_for(refresh_id, f"{refresh_id}-run"), as_of=date(2026, as_of, 1))
        became_current = warehouse.publish(tables_for({refresh_id: "1"}), run)
        assert became_current == (refresh_id == "june")
    assert warehouse.current_run()["refresh_id"] == "june"
    assert warehouse.read_current("customer_segments")["customer_id"].to_list() == ["june"]
    assert warehouse.previous_run(date(2026, 6, 1))["refresh_id"] == "may"
    assert warehouse.previous_run(date(2026, 5, 1))["refresh_id"] == "march"
    assert warehouse.previous_run(date(2026, 3, 1)) is None
    run = replace(run_for("march", "march-again"), as_of=date(2026, 3, 1))
    assert warehouse.publish(tables_for({"march": "1"}), run, make_current=True)
    assert warehouse.current_run()["refresh_id"] == "march"
    warehouse.dispose()
