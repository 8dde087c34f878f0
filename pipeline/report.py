"""The report stage: the refresh's HTML report on disk.

Produces `reports/<refresh_id>/report.html` (see `reporting.html_report`).
Under Prefect, `flows.tasks` also attaches the headline figures to the flow
run as a Markdown artifact.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from config.settings import Settings
from pipeline.stages import timed
from reporting.html_report import ReportFacts, write_report
from warehouse.engine import display_url
from warehouse.publish import RunRecord


def write_refresh_report(
    tables: dict[str, pl.DataFrame],
    run: RunRecord,
    settings: Settings,
    folder: Path,
    current_as_of: date | None,
    checks: tuple[str, ...] = (),
) -> Path:
    """Write the HTML report of a published refresh, with the `checks` its tables passed;
    return its path."""
    facts = ReportFacts(
        refresh_id=run.refresh_id,
        as_of=f"{run.as_of}",
        finished_at=f"{run.finished_at:%Y-%m-%d %H:%M}",
        warehouse=display_url(settings.warehouse.url.get_secret_value()),
        rows_in=run.rows_in or 0,
        rows_rejected=run.rows_quarantined or 0,
        next_due_at=f"{run.next_due_at:%Y-%m-%d}" if run.next_due_at else "",
        currency=settings.money.currency,
        current_as_of=f"{current_as_of}" if current_as_of else "",
        checks=checks,
    )
    with timed("report"):
        path = write_report(tables, facts, folder)
    return path
