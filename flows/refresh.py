"""The `refresh` Prefect flow: extract → validate → transform → publish, as one run.

Produces one refresh in the warehouse (every output table under one
`refresh_id`, made current at once) and its `refresh_runs` record; a failed
attempt is recorded too and leaves the previous refresh current. Returns a
`RefreshResult` for the caller (the CLI prints it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import polars as pl
from dateutil.relativedelta import relativedelta
from prefect import flow, get_run_logger
from prefect.tasks import exponential_backoff

from config.loader import LoadedConfig, load_config
from config.settings import Settings
from flows.notify import notify
from flows.profile import profile, transitions
from flows.report import write_refresh_report
from flows.tasks import (
    USED_SOURCES,
    DataValidationError,
    check_tables,
    extract,
    publish,
    transform,
    validate,
)
from quality.reports import report_dir, write_quarantine_csv
from warehouse.engine import display_url
from warehouse.publish import RunRecord, WarehouseError, new_run_id, open_warehouse

Trigger = Literal["schedule", "ad-hoc", "drift", "launch"]


@dataclass(frozen=True)
class RefreshResult:
    """What a successful refresh published."""

    refresh_id: str
    run_id: str
    as_of: date
    warehouse_url: str
    schema: str
    tables: dict[str, pl.DataFrame]
    next_due_at: datetime
    rows_in: int
    rows_rejected: int
    report_dir: Path
    report_path: Path
    lead_score_auc: float | None = None


def refresh_id_for(as_of: date, config_hash: str) -> str:
    """The refresh's identity: the same as_of and configuration is the same refresh."""
    return f"{as_of:%Y%m%d}-{config_hash[:12]}"


@flow(name="refresh", log_prints=False)
def refresh(
    config_path: Path,
    as_of: date | None = None,
    reason: str | None = None,
    trigger: Trigger = "ad-hoc",
) -> RefreshResult:
    """Run one full refresh from the sources in `config_path` into its warehouse.

    Args:
        config_path: the TOML configuration.
        as_of: reference date; orders dated after it are ignored. Today when None.
        reason: why the refresh runs, recorded in refresh_runs.
        trigger: schedule / ad-hoc / drift / launch.
    """
    config = load_config(config_path)
    settings = config.settings
    as_of = as_of or date.today()
    run = _run_record(config, as_of=as_of, reason=reason, trigger=trigger)
    logger = get_run_logger()
    # Extract and publish talk to other systems: retry their transient failures with
    # exponential backoff (10 s, 20 s, 40 s by default).
    retrying = {
        "retries": settings.schedule.retries,
        "retry_delay_seconds": exponential_backoff(settings.schedule.retry_delay_seconds)(
            settings.schedule.retries
        ),
    }
    logger.info("refresh %s (as_of %s, trigger %s)", run.refresh_id, as_of, trigger)
    try:
        raw = extract.with_options(**retrying)(settings)
        try:
            inputs = validate(raw, settings)
        except DataValidationError as exc:
            rows_in = sum(split.rows_in for split in exc.splits.values())
            rejected = sum(split.rows_rejected for split in exc.splits.values())
            run = _finish(
                run,
                run.finished_at,
                rows_in=rows_in,
                rows_accepted=rows_in - rejected,
                rows_quarantined=rejected,
            )
            exc.report = _write_quarantine(settings, run.refresh_id, exc.quarantine)
            raise
        report = _write_quarantine(settings, run.refresh_id, inputs.quarantine)
        if inputs.rows_rejected:
            logger.warning(
                "%s of %s input rows rejected into the quarantine (see %s)",
                f"{inputs.rows_rejected:,}",
                f"{inputs.rows_in:,}",
                report,
            )
        computed = transform(inputs, settings, as_of, config.config_hash)
        profiles = profile(computed, inputs, settings, as_of)
        moves = transitions(computed, settings, run.refresh_id)
        tables = {
            **computed.tables,
            **profiles.tables,
            "segment_transitions": moves,
            "quarantine": inputs.quarantine,
        }
        check_tables(settings, tables, run.refresh_id)
        finished = _now()
        run = _finish(
            run,
            finished,
            status="succeeded",
            rows_in=inputs.rows_in,
            rows_accepted=inputs.rows_accepted,
            rows_quarantined=inputs.rows_rejected,
            customers=tables["customer_segments"].height,
            lead_score_auc=profiles.lead_score_auc,
            next_due_at=finished + relativedelta(months=settings.schedule.cadence_months),
            notes="; ".join(
                [
                    _notes(config),
                    _lines_after(inputs.orders, as_of),
                    identical_lines_note(inputs.identical_lines),
                    f"best customers: {computed.best_basis}",
                    *profiles.notes,
                ]
            ),
        )
        publish.with_options(**retrying)(settings, tables, run)
        report_path = write_refresh_report(tables, run, settings, report.parent)
    except Exception as exc:
        _record_failure(settings, _finish(run, _now(), status="failed", error=_one_line(exc)))
        notify(
            settings,
            "refresh_failed",
            f"refresh {run.refresh_id} failed: {_one_line(exc)}",
            refresh_id=run.refresh_id,
            as_of=str(as_of),
            trigger=trigger,
            error=_one_line(exc),
            warehouse=display_url(settings.warehouse.url.get_secret_value()),
        )
        raise
    return RefreshResult(
        refresh_id=run.refresh_id,
        run_id=run.run_id,
        as_of=as_of,
        warehouse_url=display_url(settings.warehouse.url.get_secret_value()),
        schema=settings.warehouse.schema_name,
        tables=tables,
        next_due_at=run.next_due_at or finished,
        rows_in=inputs.rows_in,
        rows_rejected=inputs.rows_rejected,
        report_dir=report.parent,
        report_path=report_path,
        lead_score_auc=profiles.lead_score_auc,
    )


def _lines_after(orders: pl.LazyFrame, as_of: date) -> str:
    """How many valid order lines the as_of cut-off left out (not problems: ignored)."""
    later = orders.filter(pl.col("order_date").dt.date() > as_of).select(pl.len()).collect().item()
    return f"order lines dated after as_of ignored: {later:,}"


def identical_lines_note(identical_lines: int) -> str:
    """The run note on identical order lines: purchases, kept (only a line key makes a
    duplicate)."""
    return f"identical order lines kept as separate purchases: {identical_lines:,}"


def _write_quarantine(settings: Settings, refresh_id: str, quarantine: pl.DataFrame) -> Path:
    folder = report_dir(settings.quality.reports_dir, refresh_id)
    return write_quarantine_csv(quarantine, folder)


def _now() -> datetime:
    # Stored as naive UTC: the warehouse columns are TIMESTAMP without time zone.
    return datetime.now(UTC).replace(tzinfo=None)


def _run_record(
    config: LoadedConfig, *, as_of: date, reason: str | None, trigger: Trigger
) -> RunRecord:
    started = _now()
    return RunRecord(
        refresh_id=refresh_id_for(as_of, config.config_hash),
        run_id=new_run_id(),
        as_of=as_of,
        started_at=started,
        finished_at=started,
        status="running",
        trigger=trigger,
        reason=reason,
        config_hash=config.config_hash,
    )


def _finish(run: RunRecord, finished: datetime, **changes: object) -> RunRecord:
    return RunRecord(**{**run.__dict__, "finished_at": finished, **changes})


def _notes(config: LoadedConfig) -> str:
    used = [name for name in USED_SOURCES if name in config.settings.sources]
    missing = [name for name in USED_SOURCES if name not in config.settings.sources]
    parts = [f"sources used: {', '.join(used)}"]
    if missing:
        parts.append(f"absent (outputs that need them skipped): {', '.join(missing)}")
    return "; ".join(parts)


def _record_failure(settings: Settings, run: RunRecord) -> None:
    """Best effort: a failure to record a failure must not hide the original error."""
    try:
        with open_warehouse(settings) as warehouse:
            warehouse.ensure_schema()
            warehouse.record_failure(run)
    except WarehouseError as exc:
        get_run_logger().warning("could not record the failed run: %s", exc)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:1000]
