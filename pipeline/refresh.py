"""The refresh: open the warehouse → extract → validate → transform → profile → check → publish.

Produces one refresh in the warehouse (every output table under one
`refresh_id`, made current at once unless it is a backfill) and its
`refresh_runs` record. `run_refresh` is the whole run and imports no Prefect:
it executes its stages as Prefect tasks inside the `refresh` flow of
`flows.refresh` (a Prefect API is configured, or `serve` / a worker runs it)
or as plain calls (no API: the CLI runs it directly, no temporary server).
Whatever stops a run, a Python exception or a native library's panic, is
recorded as a failed attempt with its one-line error and notified, and the
previous refresh stays current. Returns a `RefreshResult` for the caller (the
CLI prints it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import polars as pl
from dateutil.relativedelta import relativedelta

from config.loader import LoadedConfig
from config.settings import Settings
from engines import engine_note
from flows.notify import notify
from pipeline.profile import profile, transitions
from pipeline.report import write_refresh_report
from pipeline.runner import Stages
from pipeline.stages import (
    USED_SOURCES,
    DataValidationError,
    check_tables,
    extract,
    open_warehouse_for_run,
    publish,
    resolve_customers,
    stage_logger,
    transform,
    validate,
)
from quality.reports import (
    attempt_dir,
    promote,
    set_aside,
    unrecorded_runs_path,
    write_quarantine_csv,
)
from sources.buckets import release
from warehouse.engine import display_url
from warehouse.publish import RunRecord, new_run_id, open_warehouse

Trigger = Literal["schedule", "ad-hoc", "drift", "launch"]


@dataclass(frozen=True)
class RefreshResult:
    """What a successful refresh published."""

    refresh_id: str
    run_id: str
    as_of: date
    warehouse_url: str
    schema: str
    # As the refresh holds them: customer_segments' reason is in parts
    # (`schemas.reasons.joined_reason` gives the published column).
    tables: dict[str, pl.DataFrame]
    next_due_at: datetime
    rows_in: int
    rows_rejected: int
    report_dir: Path
    report_path: Path | None  # None when writing the report failed after publishing
    lead_score_auc: float | None = None
    is_current: bool = True  # False: a backfill, published to history only
    current_as_of: date | None = None  # the current refresh's as_of after this run


def refresh_id_for(as_of: date, config_hash: str) -> str:
    """The refresh's identity: the same as_of and configuration is the same refresh."""
    return f"{as_of:%Y%m%d}-{config_hash[:12]}"


def run_refresh(
    config: LoadedConfig,
    *,
    as_of: date | None,
    reason: str | None,
    trigger: Trigger,
    stages: Stages,
    make_current: bool = False,
) -> RefreshResult:
    """The whole refresh, its stages run by `stages` (Prefect tasks or plain calls)."""
    settings = config.settings
    as_of = as_of or date.today()
    make_current = make_current or settings.warehouse.make_backfills_current
    run = _run_record(config, as_of=as_of, reason=reason, trigger=trigger)
    logger = stage_logger()
    logger.info("refresh %s (as_of %s, trigger %s)", run.refresh_id, as_of, trigger)
    # Reports go to a folder of this attempt's own; they become the refresh's reports only
    # once it is published, so a failed rerun never overwrites what readers see.
    attempt = attempt_dir(settings.quality.reports_dir, run.refresh_id, run.run_id)
    spilled = None  # the order lines' spill area, once validated: removed however it ends
    try:
        # First the warehouse: unreachable or refused, the run stops before any work.
        state = stages.run(open_warehouse_for_run, settings, as_of)
        try:
            # The text rows live only while they are validated: the typed rows go on.
            inputs = stages.run(validate, stages.run(extract, settings, retry=True), settings)
            spilled = inputs.spilled
            inputs = stages.run(resolve_customers, inputs, settings)
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
            write_quarantine_csv(exc.quarantine, attempt)
            exc.report = set_aside(attempt, run.run_id) / "quarantine.csv"
            raise
        report = write_quarantine_csv(inputs.quarantine, attempt)
        if inputs.rows_rejected:
            logger.warning(
                "%s of %s input rows rejected into the quarantine (see %s)",
                f"{inputs.rows_rejected:,}",
                f"{inputs.rows_in:,}",
                report,
            )
        computed = stages.run(transform, inputs, settings, as_of, config.config_hash)
        profiles = stages.run(profile, computed, inputs, settings, as_of)
        moves = stages.run(transitions, computed, state.previous_segments)
        tables = {
            **computed.tables,
            **profiles.tables,
            "segment_transitions": moves,
            "quarantine": inputs.quarantine,
            "customer_identity": inputs.identity,
            "identity_review": inputs.review,
        }
        previous_customers = None if state.previous is None else state.previous["customers"]
        checked = stages.run(
            check_tables, settings, tables, run.refresh_id, previous_customers, attempt
        )
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
                    engine_note(
                        settings.engine,
                        matching=settings.identity.enabled and settings.identity.probabilistic,
                    ),
                    lines_after_note(computed.lines_after),
                    identical_lines_note(inputs.identical_lines),
                    *inputs.notes,
                    f"best customers: {computed.best_basis}",
                    *computed.notes,
                    *profiles.notes,
                    *_compared_with(state.previous),
                ]
            ),
        )
        is_current = stages.run(publish, settings, tables, run, make_current, retry=True)
        current_as_of = as_of if is_current else _as_of(state.current)
        if not is_current:
            logger.warning(
                "backfill: refresh %s (as_of %s) is kept in history; the current refresh "
                "stays as_of %s (use --make-current to make it current)",
                run.refresh_id,
                as_of,
                current_as_of,
            )
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise  # an interrupted run is not a failed one
        error = describe_failure(exc)
        set_aside(attempt, run.run_id)
        _record_failure(settings, _finish(run, _now(), status="failed", error=error))
        notify(
            settings,
            "refresh_failed",
            f"refresh {run.refresh_id} failed: {error}",
            refresh_id=run.refresh_id,
            as_of=str(as_of),
            trigger=trigger,
            error=error,
            warehouse=display_url(settings.warehouse.url.get_secret_value()),
        )
        raise
    finally:
        release(spilled)
    # Published: from here on a failure is a warning on a succeeded run, never a failed one.
    report_path = _report_or_warn(stages, tables, run, settings, attempt, current_as_of, checked)
    folder = _promote_or_warn(attempt, run, settings)
    report_path = None if report_path is None else folder / report_path.name
    if is_current and run.next_due_at is not None:
        _move_schedule(config, run.next_due_at)
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
        report_dir=folder,
        report_path=report_path,
        lead_score_auc=profiles.lead_score_auc,
        is_current=is_current,
        current_as_of=current_as_of,
    )


def _promote_or_warn(attempt: Path, run: RunRecord, settings: Settings) -> Path:
    """The published attempt's reports become the refresh's; on failure they stay where
    they are, noted as a warning."""
    try:
        return promote(attempt)
    except OSError as exc:
        _warn_after_publishing(
            settings, run, f"warning: the reports stay in {attempt}: {describe_failure(exc)}"
        )
        return attempt


def _report_or_warn(
    stages: Stages,
    tables: dict[str, pl.DataFrame],
    run: RunRecord,
    settings: Settings,
    folder: Path,
    current_as_of: date | None,
    checked: tuple[str, ...],
) -> Path | None:
    """Write the refresh report; a failure (a full disk) is a warning noted on the
    published run and notified as `refresh_warning`, since the refresh is already live."""
    try:
        return stages.run(
            write_refresh_report, tables, run, settings, folder, current_as_of, checked
        )
    except Exception as exc:
        warning = f"warning: the report could not be written: {describe_failure(exc)}"
        _warn_after_publishing(settings, run, warning)
        return None


def _warn_after_publishing(settings: Settings, run: RunRecord, warning: str) -> None:
    """A failure after publishing: logged, noted on the run, notified as a warning."""
    stage_logger().warning(warning)
    try:
        with open_warehouse(settings) as warehouse:
            warehouse.add_note(run.run_id, warning)
    except Exception as note_failure:  # the refresh is published: only say so
        stage_logger().warning("could not note the warning on the run: %s", note_failure)
    notify(
        settings,
        "refresh_warning",
        f"refresh {run.refresh_id} published with a warning: {warning}",
        refresh_id=run.refresh_id,
        as_of=str(run.as_of),
        warning=warning,
    )


def _move_schedule(config: LoadedConfig, next_due_at: datetime) -> None:
    """Move the scheduled deployment (if any) to this refresh's due date: the schedule's
    next run and `personas status` follow one rule. Best effort: it never fails a
    published refresh."""
    from pipeline.runner import prefect_api_configured

    if not prefect_api_configured():
        return  # no Prefect server: no deployment to move
    from flows.deployments import reanchor_schedules

    try:
        if reanchor_schedules(config, next_due_at):
            stage_logger().info("schedule moved: next scheduled refresh %s UTC", next_due_at)
    except Exception as exc:
        stage_logger().warning("could not move the refresh schedule: %s", describe_failure(exc))


def describe_failure(exc: BaseException, *, limit: int | None = 1000) -> str:
    """One line for the run record (at most `limit` characters), the notification and the
    CLI's `error:` line.

    A native library's panic (polars raises `PanicException`, which is not an
    `Exception`) is named as such: it is a bug to report, not bad input.
    """
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if not isinstance(exc, Exception):
        first = f"internal error in a native library ({type(exc).__name__}): {first}"
    return first[:limit]


def _as_of(run: dict[str, object] | None) -> date | None:
    value = None if run is None else run["as_of"]
    return value if isinstance(value, date) else None


def _compared_with(previous: dict[str, object] | None) -> list[str]:
    if previous is None:
        return ["segment movement: first refresh, nothing earlier to compare with"]
    return [f"compared with refresh {previous['refresh_id']} (as_of {previous['as_of']})"]


def identical_lines_note(identical_lines: int) -> str:
    """The run note on identical order lines: purchases, kept (only a line key makes a
    duplicate)."""
    return f"identical order lines kept as separate purchases: {identical_lines:,}"


def lines_after_note(later: int) -> str:
    """The run note on the order lines the as_of cut-off left out (not problems: ignored)."""
    return f"order lines dated after as_of ignored: {later:,}"


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
    """Record a failed attempt in the warehouse; when the warehouse cannot take it (it is
    what failed, or a reader holds the DuckDB file), in `reports_dir/unrecorded_runs.jsonl`
    instead. A failure to record a failure never hides the original error."""
    try:
        with open_warehouse(settings) as warehouse:
            warehouse.ensure_schema()
            warehouse.record_failure(run)
        return
    except Exception as exc:  # the warehouse may be what failed
        refused = describe_failure(exc)
    path = unrecorded_runs_path(settings.quality.reports_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(json.dumps({**asdict(run), "not_recorded_because": refused}, default=str))
            log.write("\n")
    except OSError as exc:
        stage_logger().warning("could not record the failed run anywhere: %s; %s", refused, exc)
        return
    stage_logger().warning(
        "the warehouse could not record the failed run (%s); recorded in %s", refused, path
    )
