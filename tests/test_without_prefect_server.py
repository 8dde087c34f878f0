"""`personas` with no Prefect API configured runs the refresh directly: no temporary server.

The same stages, the same tables, the same run record and the same log lines as
under Prefect (test_flow.py runs that path), without starting a Prefect server.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import read_view, without_prefect

pytestmark = pytest.mark.slow


def test_refresh_runs_directly_with_no_prefect_server_configured(
    orders_only: Path, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "refresh",
            "--config",
            str(orders_only),
            "--as-of",
            "2024-06-01",
            "--reason",
            "no server",
        ],
        env=without_prefect(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "temporary server" not in result.stderr
    assert "Flow run" not in result.stderr and "Task run" not in result.stderr
    for stage in (
        "open warehouse",
        "extract orders: rows 5",
        "validate orders: rows 5",
        "transform: customers 3",
        "publish to duckdb",
    ):
        assert stage in result.stderr  # each stage logs its row counts and time
    here = orders_only.parent
    assert read_view(here, "select count(*) from personas.customer_segments") == [(3,)]
    (run,) = read_view(here, "select status, reason, rows_in from personas.refresh_runs")
    assert run == ("succeeded", "no server", 5)
    assert list(here.glob("reports/*/report.html"))


def test_drift_runs_directly_with_no_prefect_server_configured(
    orders_only: Path, tmp_path: Path
) -> None:
    environment = without_prefect(tmp_path)
    for args in (
        ["refresh", "--config", str(orders_only), "--as-of", "2024-06-01"],
        ["drift", "--config", str(orders_only), "--dry-run"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "flows.cli", *args],
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert "temporary server" not in result.stderr
    assert "No early refresh needed." in result.stdout
    assert "as of 2024-06-01 against the published refresh as of 2024-06-01" in result.stdout


@pytest.mark.parametrize(
    ("profiles", "configured"),
    [
        (None, False),
        (
            'active = "local"\n[profiles.local]\nPREFECT_API_URL = "http://127.0.0.1:4200/api"\n',
            True,
        ),
        (
            'active = "local"\n[profiles.local]\n[profiles.other]\nPREFECT_API_URL = "http://x/api"\n',
            False,
        ),
    ],
)
def test_an_api_in_the_active_profile_is_seen_without_importing_prefect(
    tmp_path: Path, profiles: str | None, configured: bool
) -> None:
    if profiles is not None:
        (tmp_path / "prefect-home").mkdir()
        (tmp_path / "prefect-home" / "profiles.toml").write_text(profiles, encoding="utf-8")
    probe = (
        "import sys; from pipeline.runner import prefect_api_configured; "
        "print(prefect_api_configured(), 'prefect' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env=without_prefect(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == [str(configured), "False"]
