"""Extract and publish retry transient failures with backoff; lasting failures fail at once."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import read_view, without_prefect


def run(cli: CliRunner, config: Path, tmp_path: Path, failpoint: str):
    env = {
        "PERSONAS_FAILPOINT": failpoint,
        "PERSONAS_FAILPOINT_MARK": str(tmp_path / "failed-once"),
        "PERSONAS_SCHEDULE__RETRY_DELAY_SECONDS": "0",
    }
    return cli.invoke(app, ["refresh", "--config", str(config), "--as-of", "2024-06-01"], env=env)


def test_a_transient_publishing_failure_is_retried_and_the_refresh_publishes(
    flow_runner: CliRunner, orders_only: Path, tmp_path: Path
) -> None:
    result = run(flow_runner, orders_only, tmp_path, "mid load:raise-once")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "failed-once").exists()  # the first attempt did fail
    rows = read_view(
        orders_only.parent, "select status, count(*) from personas.refresh_runs_history group by 1"
    )
    assert rows == [("succeeded", 1)]
    assert read_view(orders_only.parent, "select count(*) from personas.customer_segments") == [
        (3,)
    ]


def test_a_lasting_failure_is_not_retried(
    flow_runner: CliRunner, orders_only: Path, tmp_path: Path, caplog
) -> None:
    result = run(flow_runner, orders_only, tmp_path, "mid load:raise")
    assert result.exit_code == 1
    assert "injected failure at 'mid load'" in result.stderr
    assert "Retry 1/" not in caplog.text


def test_the_transient_failure_was_logged_as_a_retry(
    flow_runner: CliRunner, orders_only: Path, tmp_path: Path, caplog
) -> None:
    assert run(flow_runner, orders_only, tmp_path, "before load:raise-once").exit_code == 0
    assert "Retry 1/3 will start" in caplog.text


def test_without_a_prefect_api_the_same_retries_apply(orders_only: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    def refresh(failpoint: str) -> subprocess.CompletedProcess[str]:
        environment = without_prefect(
            tmp_path,
            PERSONAS_FAILPOINT=failpoint,
            PERSONAS_FAILPOINT_MARK=str(tmp_path / "failed-once"),
            PERSONAS_SCHEDULE__RETRY_DELAY_SECONDS="0.1",
        )
        return subprocess.run(
            [sys.executable, "-m", "flows.cli", "refresh", "--config", str(orders_only)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    result = refresh("mid load:raise-once")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "failed-once").exists()
    assert "retry 1 of 3 in 0.1 s" in result.stderr
    rows = read_view(
        orders_only.parent, "select status, count(*) from personas.refresh_runs_history group by 1"
    )
    assert rows == [("succeeded", 1)]
    # a lasting failure is not retried
    failed = refresh("mid load:raise")
    assert failed.returncode == 1
    assert "retry" not in failed.stderr
