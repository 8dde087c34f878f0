"""Each refresh leaves a self-contained HTML report; headless Chromium renders it offline,
charts included."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def report(runner: CliRunner, orders_only: Path) -> Path:
    result = runner.invoke(app, ["refresh", "--config", str(orders_only), "--as-of", "2024-06-01"])
    assert result.exit_code == 0, result.output
    (path,) = (orders_only.parent / "reports").glob("*/report.html")
    assert "report.html" in result.stdout
    return path


def test_the_report_has_every_section_and_needs_nothing_from_the_network(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    for section in (
        "revenue-tiers",
        "pareto-curve",
        "rfm-grid",
        "segment-sizes",
        "personas",
        "segment-movement",
        "data-quality",
    ):
        assert f'<section id="{section}">' in html
    assert html.count('<svg class="chart"') >= 3  # tiers, Pareto, segments
    assert "<script" not in html  # nothing to run, nothing to fetch
    assert 'src="http' not in html and 'href="http' not in html and "@import" not in html
    assert "80.6%" in html  # Large: 500 of 620 revenue
    assert "5 input rows; 5 accepted, 0 set aside" in html


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="no Chromium (CI=true requires it)"
)
def test_headless_chromium_renders_the_report_with_its_charts_offline(
    report: Path, tmp_path: Path
) -> None:
    assert CHROMIUM, "Chromium is required under CI: apt-get install chromium"
    offline = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--proxy-server=127.0.0.1:9",  # any network request would fail
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [*offline, "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert dom.count("<svg") >= 3
    assert '<polyline class="curve"' in dom  # the Pareto curve was parsed and laid out
    assert dom.count('class="bar"') >= 3
    screenshot = tmp_path / "report.png"
    subprocess.run(
        [*offline, f"--screenshot={screenshot}", "--window-size=1000,1600", report.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 20_000  # a rendered page with charts, not a blank one
