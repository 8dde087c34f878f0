"""The drift monitor: PSI by hand, and planted drift (or a launch) triggering an early
refresh under a real Prefect API, while unchanged data does not."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.drift import drift_check
from tests.conftest import ORDERS_CSV, read_view, write
from transforms.drift import psi


def shares(pairs: dict[str, float]) -> pl.DataFrame:
    return pl.DataFrame({"key": list(pairs), "share": list(pairs.values())})


def test_psi_by_hand() -> None:
    expected = shares({"a": 0.5, "b": 0.5})
    assert psi(expected, expected) == 0
    by_hand = 0.4 * math.log(0.9 / 0.5) + (-0.4) * math.log(0.1 / 0.5)  # 0.878890
    assert psi(expected, shares({"a": 0.9, "b": 0.1})) == pytest.approx(by_hand, abs=1e-12)
    # counts are normalised; a category missing on one side counts with a tiny share
    assert psi(shares({"a": 1, "b": 1}), shares({"a": 9, "b": 1})) == pytest.approx(by_hand)
    assert psi(shares({"a": 1.0}), shares({"a": 0.5, "new": 0.5})) > 2


@pytest.fixture
def published(runner: CliRunner, orders_only: Path) -> Path:
    """orders_only refreshed as of 2024-06-01: 00018 Large (500), 00017 Medium, 00019 Small."""
    result = runner.invoke(app, ["refresh", "--config", str(orders_only), "--as-of", "2024-06-01"])
    assert result.exit_code == 0, result.output
    return orders_only


def runs(config: Path) -> list[tuple]:
    return read_view(
        config.parent,
        "select as_of, trigger, reason from personas.refresh_runs_history "
        "where status = 'succeeded' order by finished_at",
    )


def test_unchanged_data_triggers_no_refresh(published: Path, prefect_api: str) -> None:
    report = drift_check(config_path=published, today=date(2024, 6, 1))
    assert report.trigger is None and report.refresh is None
    assert {m.name for m in report.measures} >= {"tier revenue share", "segments: rfm"}
    assert max(m.psi for m in report.measures) == pytest.approx(0, abs=1e-9)
    assert len(runs(published)) == 1


def test_planted_drift_past_the_threshold_refreshes_early(
    published: Path, prefect_api: str
) -> None:
    # 00019 (Small, 50) suddenly buys 10,000: the tiers' revenue mix moves a lot
    write(
        published.parent / "data" / "orders.csv",
        ORDERS_CSV + "00019,F,2024-05-20,10000,completed\n",
    )
    report = drift_check(config_path=published, today=date(2024, 6, 1))
    tier = next(m for m in report.measures if m.name == "tier revenue share")
    assert tier.psi > 0.2
    assert report.trigger == "drift"
    assert report.refresh is not None
    (_, second) = runs(published)
    assert second[1] == "drift"
    assert second[2].startswith("drift past PSI 0.2: tier revenue share PSI ")


def test_drift_below_a_raised_threshold_does_not_refresh(
    published: Path, prefect_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        published.parent / "data" / "orders.csv",
        ORDERS_CSV + "00019,F,2024-05-20,10000,completed\n",
    )
    monkeypatch.setenv("PERSONAS_DRIFT__PSI_THRESHOLD", "50")
    report = drift_check(config_path=published, today=date(2024, 6, 1))
    assert report.trigger is None
    assert len(runs(published)) == 1


def test_a_product_launched_since_the_refresh_triggers_a_launch_refresh(
    published: Path, runner: CliRunner
) -> None:
    here = published.parent
    write(here / "data" / "products.csv", "product_id,name,launched_at\nP9,Gói AI,2024-06-10\n")
    config = published.read_text() + '[sources.products]\npath = "data/products.csv"\n'
    published.write_text(config)
    result = runner.invoke(app, ["drift", "--config", str(published), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Launched since: P9 (2024-06-10)" in result.stdout
    assert "Would refresh early (launch)" in result.stdout
    assert len(runs(published)) == 1  # a dry run refreshes nothing
    result = runner.invoke(app, ["drift", "--config", str(published)])
    assert result.exit_code == 0, result.output
    assert runs(published)[-1][1:] == ("launch", "launched since the last refresh: P9 (2024-06-10)")
