"""Every failure is a recorded failure, printed as one `error:` line.

Whatever stops a refresh, including a panic inside polars (not an `Exception`),
is recorded in refresh_runs_history with its one-line error and notified, and
the CLI prints exactly one `error:` line, no traceback (and no Rust backtrace)
unless `--debug`. Usage errors, a missing source file and an unreachable
warehouse (found before any computing) are one line too, with no Prefect server
configured and under a real Prefect API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import read_view, write
from tests.conftest import without_prefect as no_prefect_server

# Run the CLI's real entry point in a process with no Prefect API configured, after
# making the lead scoring stage hit a genuine polars panic (an unpivot over columns
# that have no common type, as a hash-seed-dependent column order once did).
PANIC_SCRIPT = """
import sys
from datetime import datetime
import polars as pl
import pipeline.profile as profile

def panicking_lead_scores(*args, **kwargs):
    frame = pl.LazyFrame(
        {"lead_id": ["a"], "d": [1.5], "t": [datetime(2024, 1, 1)]}
    ).select("lead_id", pl.col("d").cast(pl.Decimal(38, 4)), pl.col("t"))
    return frame.unpivot(index="lead_id", on=["d", "t"])

profile.lead_scores = panicking_lead_scores
from flows.cli import main
sys.argv = ["personas", *sys.argv[1:]]
main()
"""

LEADS = "lead_id,created_at,industry\nL1,2024-01-01,Phần mềm\n"


def without_prefect(tmp_path: Path) -> dict[str, str]:
    """No Prefect server configured, and a Rust backtrace switched on (as on this
    machine): neither may reach the terminal."""
    return no_prefect_server(tmp_path, PYTHONIOENCODING="utf-8", RUST_BACKTRACE="1")


def errors_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def with_leads(orders_only: Path) -> Path:
    write(orders_only.parent / "data" / "leads.csv", LEADS)
    config = orders_only.read_text(encoding="utf-8") + '[sources.leads]\npath = "data/leads.csv"\n'
    return write(orders_only, config)


def test_a_native_panic_is_recorded_notified_and_one_line(
    with_leads: Path,
    tmp_path: Path,
    webhook: tuple[str, list[dict]],
) -> None:
    url, received = webhook
    result = subprocess.run(
        [sys.executable, "-c", PANIC_SCRIPT, "refresh", "--config", str(with_leads)],
        env={**without_prefect(tmp_path), "PERSONAS_NOTIFY__WEBHOOK_URL": url},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    (error,) = errors_in(result.stderr)
    assert error.startswith("error: internal error in a native library (PanicException): ")
    assert "failed to determine supertype" in error
    for noise in ("Traceback", "panicked at", "stack backtrace", "Starting temporary server"):
        assert noise not in result.stderr, result.stderr
    (run,) = read_view(with_leads.parent, "select status, error from personas.refresh_runs_history")
    assert run[0] == "failed"
    assert run[1] == error.removeprefix("error: ")
    (event,) = received
    assert event["event"] == "refresh_failed" and event["error"] == run[1]


def test_with_debug_the_panic_shows_its_traceback(with_leads: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PANIC_SCRIPT, "--debug", "refresh", "--config", str(with_leads)],
        env=without_prefect(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "panicked at" in result.stderr


def test_a_panic_under_prefect_is_recorded_too(
    runner: CliRunner, with_leads: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.profile

    def panicking(*args: object, **kwargs: object) -> pl.LazyFrame:
        frame = pl.LazyFrame(
            {"lead_id": ["a"], "t": [None]}, schema={"lead_id": pl.String, "t": pl.Datetime}
        )
        decimal = pl.lit(1, dtype=pl.Decimal(38, 4)).alias("d")
        return frame.with_columns(decimal).unpivot(index="lead_id", on=["d", "t"])

    monkeypatch.setattr(pipeline.profile, "lead_scores", panicking)
    result = runner.invoke(app, ["refresh", "--config", str(with_leads), "--as-of", "2024-06-01"])
    assert result.exit_code == 1
    (error,) = errors_in(result.stderr)
    assert "internal error in a native library (PanicException)" in error
    assert "Traceback" not in result.output
    (run,) = read_view(with_leads.parent, "select status, error from personas.refresh_runs_history")
    assert run == ("failed", error.removeprefix("error: "))


def run_personas(args: list[str], environment: dict[str, str], cwd: Path):
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_missing_source_file_is_one_line_without_prefect(tmp_path: Path) -> None:
    config = write(tmp_path / "personas.toml", '[sources.orders]\npath = "data/nope.csv"\n')
    result = run_personas(["refresh", "--config", str(config)], without_prefect(tmp_path), tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("file not found") == 1, result.stderr
    (error,) = errors_in(result.stderr)
    assert error.startswith("error: sources.orders.path: file not found: ")
    assert "Traceback" not in result.stderr and "temporary server" not in result.stderr


def test_a_missing_source_file_is_one_line_under_prefect(tmp_path: Path, prefect_api: str) -> None:
    config = write(tmp_path / "personas.toml", '[sources.orders]\npath = "data/nope.csv"\n')
    environment = {**os.environ, "PREFECT_API_URL": prefect_api, "PYTHONIOENCODING": "utf-8"}
    result = run_personas(["refresh", "--config", str(config)], environment, tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("file not found") == 1, result.stderr  # not once per log line
    assert len(errors_in(result.stderr)) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["refresh", "--as-of", "2024-13-01"], "error: Invalid value for '--as-of'"),
        (["refresh", "--as-of", "yesterday"], "error: Invalid value for '--as-of'"),
        (["status", "--json", "yes"], "error: Got unexpected extra argument(s) (yes)"),
        (["refresh", "--bogus"], "error: No such option: --bogus"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path
) -> None:
    result = run_personas(args, without_prefect(tmp_path), tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [result.stderr.splitlines()[0]], result.stderr
    assert result.stderr.startswith(message), result.stderr
    assert "╭" not in result.stderr  # no Rich box
    assert f"(see: personas {args[0]} --help)" in result.stderr


def test_an_unreachable_warehouse_stops_the_run_before_any_work(
    orders_only: Path, tmp_path: Path
) -> None:
    environment = {
        **without_prefect(tmp_path),
        # nothing listens on port 9: refused at once
        "PERSONAS_WAREHOUSE__URL": "postgresql+psycopg://nobody@127.0.0.1:9/nowhere",
    }
    result = run_personas(["refresh", "--config", str(orders_only)], environment, tmp_path)
    assert result.returncode == 1
    (error,) = errors_in(result.stderr)
    assert error.startswith("error: warehouse postgresql+psycopg://nobody@127.0.0.1:9/nowhere")
    assert "extract orders" not in result.stderr  # found before reading any source
    assert "Traceback" not in result.stderr


def test_a_failure_after_publishing_is_a_warning_on_the_succeeded_run(
    runner: CliRunner,
    orders_only: Path,
    monkeypatch: pytest.MonkeyPatch,
    webhook: tuple[str, list[dict]],
) -> None:
    import pipeline.report

    def full_disk(*args: object, **kwargs: object) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pipeline.report, "write_report", full_disk)
    url, received = webhook
    result = runner.invoke(
        app,
        ["refresh", "--config", str(orders_only), "--as-of", "2024-06-01"],
        env={"PERSONAS_NOTIFY__WEBHOOK_URL": url},
    )
    assert result.exit_code == 0, result.output
    assert "error:" not in result.stderr
    assert "Report: not written" in result.stdout
    runs = read_view(
        orders_only.parent, "select run_id, status, notes from personas.refresh_runs_history"
    )
    assert len(runs) == 1  # one record of the run, never a second "failed" one
    (run_id, status, notes) = runs[0]
    assert status == "succeeded"
    assert "warning: the report could not be written: [Errno 28] No space left" in notes
    assert read_view(orders_only.parent, "select run_id from personas.refresh_runs") == [(run_id,)]
    assert [event["event"] for event in received] == ["refresh_warning"]


def test_a_bi_reader_holding_the_duckdb_file_is_named_and_the_failure_kept_aside(
    runner: CliRunner, orders_only: Path
) -> None:
    first = runner.invoke(app, ["refresh", "--config", str(orders_only), "--as-of", "2024-06-01"])
    assert first.exit_code == 0, first.output
    database = orders_only.parent / "warehouse" / "warehouse.duckdb"
    reader = subprocess.Popen(  # a BI tool keeps the file open, read-only
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time\n"
            f"c = duckdb.connect({str(database)!r}, read_only=True)\n"
            "print('open', flush=True)\n"
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "open"
        result = runner.invoke(
            app,
            ["refresh", "--config", str(orders_only), "--as-of", "2024-06-02"],
            env={"PERSONAS_WAREHOUSE__LOCK_TIMEOUT_SECONDS": "0.5"},
        )
    finally:
        reader.kill()
        reader.wait()
    assert result.exit_code == 1
    (error,) = errors_in(result.stderr)
    assert f"another process holds the DuckDB file (PID {reader.pid}, " in error
    assert "a reader such as a BI tool" in error
    kept = (orders_only.parent / "reports" / "unrecorded_runs.jsonl").read_text(encoding="utf-8")
    (record,) = [json.loads(line) for line in kept.splitlines()]
    assert record["status"] == "failed" and record["as_of"] == "2024-06-02"
    assert f"PID {reader.pid}" in record["error"]
    status = runner.invoke(app, ["status", "--config", str(orders_only)])
    assert "1 failed attempt(s) could not be recorded in the warehouse" in " ".join(
        status.stdout.split()
    )


def test_a_failed_rerun_keeps_its_reports_apart_from_the_published_ones(
    runner: CliRunner, orders_only: Path
) -> None:
    args = ["refresh", "--config", str(orders_only), "--as-of", "2024-06-01"]
    assert runner.invoke(app, args).exit_code == 0
    (published,) = (orders_only.parent / "reports").glob("*/quarantine.csv")
    before = published.read_bytes()
    # the same refresh again, on data with too many bad rows: it fails
    write(orders_only.parent / "data" / "orders.csv", "customer_id,order_date,amount\n,x,1\n")
    failed = runner.invoke(app, args)
    assert failed.exit_code == 1
    assert published.read_bytes() == before  # what readers were shown is untouched
    (kept,) = published.parent.glob("failed-*/quarantine.csv")
    assert (
        str(kept) in " ".join(failed.stderr.split()).replace(" ", "") or kept.name in failed.stderr
    )
    assert "missing value in a required column" in kept.read_text(encoding="utf-8-sig")
    assert not list(published.parent.glob(".attempt-*"))  # no attempt folder left behind
