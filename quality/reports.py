"""The files a refresh leaves next to its configuration: the quarantine as CSV, and the
failed attempts a warehouse could not record.

Produces `reports/<refresh_id>/quarantine.csv` (UTF-8 with a BOM so that Excel
shows Vietnamese text correctly), one row per problem found in an input row.
Values that a spreadsheet would run as a formula (starting with = + - @, a tab
or a carriage return) are neutralised with a leading apostrophe, the OWASP
advice for CSV injection; the warehouse table keeps them verbatim.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

FORMULA_START = r"^[=+\-@\t\r]"
UNRECORDED_RUNS = "unrecorded_runs.jsonl"


def unrecorded_runs_path(reports_dir: Path) -> Path:
    """Where the failed attempts a warehouse could not record are kept (JSON lines)."""
    return reports_dir / UNRECORDED_RUNS


def report_dir(reports_dir: Path, refresh_id: str) -> Path:
    """The folder of one refresh's reports (created)."""
    folder = reports_dir / refresh_id
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def attempt_dir(reports_dir: Path, refresh_id: str, run_id: str) -> Path:
    """The folder one attempt writes its reports into (created): beside the refresh's own
    reports, which only a published attempt replaces (`promote`)."""
    folder = report_dir(reports_dir, refresh_id) / f".attempt-{run_id}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def promote(attempt: Path) -> Path:
    """Make a published attempt's reports the refresh's reports; returns that folder."""
    folder = attempt.parent
    for item in sorted(attempt.iterdir()):
        target = folder / item.name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        item.rename(target)
    attempt.rmdir()
    return folder


def set_aside(attempt: Path, run_id: str) -> Path:
    """Keep a failed attempt's reports apart (`failed-<run id>`): a failed rerun never
    overwrites the reports of the refresh that is published."""
    failed = attempt.parent / f"failed-{run_id[:12]}"
    if attempt.exists():
        attempt.rename(failed)
    return failed


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Text cells that start like a spreadsheet formula get a leading apostrophe."""
    text_columns = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(FORMULA_START))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in text_columns
    )


def write_quarantine_csv(quarantine: pl.DataFrame, folder: Path) -> Path:
    """Write the quarantine to `folder/quarantine.csv`; returns its path."""
    path = folder / "quarantine.csv"
    neutralise_formulas(quarantine).write_csv(path, include_bom=True)
    return path
