"""The report task: the refresh's HTML report on disk and as a Prefect artifact.

Produces `reports/<refresh_id>/report.html` (see `reporting.html_report`) and a
Markdown artifact on the flow run in the Prefect UI with the headline figures
and where the report is (only under Prefect: a run without an API has no UI).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext

from config.settings import Settings
from flows.tasks import timed
from reporting.html_report import ReportFacts, write_report
from warehouse.engine import display_url
from warehouse.publish import RunRecord


@task(name="report", cache_policy=NO_CACHE)
def write_refresh_report(
    tables: dict[str, pl.DataFrame],
    run: RunRecord,
    settings: Settings,
    folder: Path,
    current_as_of: date | None,
) -> Path:
    """Write the HTML report of a published refresh; inside a Prefect flow run, attach a
    summary to the run as an artifact."""
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
    )
    with timed("report"):
        path = write_report(tables, facts, folder)
    if FlowRunContext.get() is None:
        return path  # no Prefect run to attach an artifact to (the CLI without an API)
    tiers = "\n".join(
        f"| {row['tier']} | {row['purchases']:,} | {row['buying_customers']:,} | "
        f"{row['sales_share'] or 0:.1%} |"
        for row in tables["tier_summary"].iter_rows(named=True)
    )
    create_markdown_artifact(
        key="personas-refresh-report",
        description=f"personas refresh {run.refresh_id}",
        markdown=(
            f"# personas refresh {run.refresh_id}\n\nas of {run.as_of}; "
            f"{facts.rows_rejected:,} of {facts.rows_in:,} input rows quarantined.\n\n"
            f"| tier | purchases | buying customers | sales share |\n|---|---:|---:|---:|\n"
            f"{tiers}\n\n"
            f"Full report: `{path}`\n"
        ),
    )
    return path
