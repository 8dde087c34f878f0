"""`personas refresh` with no Prefect server configured: Prefect runs a temporary local API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import read_view

pytestmark = pytest.mark.slow


def test_refresh_runs_with_no_prefect_server_configured(orders_only: Path, tmp_path: Path) -> None:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")
    }
    environment["PREFECT_HOME"] = str(tmp_path / "prefect-home")  # nothing outside tmp_path
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
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Starting temporary server" in result.stderr
    for stage in ("extract orders: rows 5", "validate orders: rows 5", "transform: customers 3"):
        assert stage in result.stderr  # each stage logs its row counts and time
    assert read_view(orders_only.parent, "select count(*) from personas.customer_segments") == [
        (3,)
    ]
