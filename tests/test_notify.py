"""Failure and staleness notifications, delivered to a real local HTTP server."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import write
from tests.test_status import warehouse_refreshed


def test_a_failed_refresh_is_announced(
    runner: CliRunner, orders_only: Path, webhook: tuple[str, list[dict]]
) -> None:
    url, received = webhook
    write(orders_only.parent / "data" / "orders.csv", "customer_id,order_date,amount\n,x,1\n")
    result = runner.invoke(
        app,
        ["refresh", "--config", str(orders_only), "--as-of", "2024-06-01"],
        env={"PERSONAS_NOTIFY__WEBHOOK_URL": url},
    )
    assert result.exit_code == 1
    (event,) = received
    assert event["event"] == "refresh_failed"
    assert event["refresh_id"].startswith("20240601-")
    assert event["as_of"] == "2024-06-01" and event["trigger"] == "ad-hoc"
    assert "missing value in a required column" in event["error"]
    assert event["text"].startswith("personas: refresh 20240601-")
    assert "s3cret" not in result.output  # the webhook URL is a secret


def test_stale_personas_are_announced_by_status_notify(
    runner: CliRunner, tmp_path: Path, webhook: tuple[str, list[dict]]
) -> None:
    url, received = webhook
    (tmp_path / "warehouse").mkdir()
    config = warehouse_refreshed(tmp_path, days_ago=200)
    env = {"PERSONAS_NOTIFY__WEBHOOK_URL": url}
    result = runner.invoke(app, ["status", "--config", str(config), "--notify"], env=env)
    assert result.exit_code == 1
    (event,) = received
    assert (event["event"], event["state"]) == ("personas_stale", "stale")
    assert event["days_overdue"] >= 16
    assert "are stale: next due" in event["text"]


def test_fresh_personas_and_unwanted_events_post_nothing(
    runner: CliRunner, tmp_path: Path, webhook: tuple[str, list[dict]]
) -> None:
    url, received = webhook
    (tmp_path / "warehouse").mkdir()
    config = warehouse_refreshed(tmp_path, days_ago=0)
    env = {"PERSONAS_NOTIFY__WEBHOOK_URL": url}
    result = runner.invoke(app, ["status", "--config", str(config), "--notify"], env=env)
    assert result.exit_code == 0  # fresh: nothing to say
    failing = {**env, "PERSONAS_NOTIFY__EVENTS": '["personas_stale"]'}
    write(tmp_path / "data" / "orders.csv", "customer_id,order_date,amount\n,x,1\n")
    result = runner.invoke(app, ["refresh", "--config", str(config)], env=failing)
    assert result.exit_code == 1  # a failure, but refresh_failed is not wanted
    assert received == []


def test_an_unreachable_webhook_does_not_hide_the_failure(
    runner: CliRunner, orders_only: Path
) -> None:
    write(orders_only.parent / "data" / "orders.csv", "customer_id,order_date,amount\n,x,1\n")
    result = runner.invoke(
        app,
        ["refresh", "--config", str(orders_only), "--as-of", "2024-06-01"],
        env={"PERSONAS_NOTIFY__WEBHOOK_URL": "http://127.0.0.1:9/closed"},
    )
    assert result.exit_code == 1
    assert "missing value in a required column" in result.stderr
