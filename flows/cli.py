"""The `personas` command line: demo, refresh, validate, status, serve, schedule, prune.

Produces the console script. Exit codes follow the contract: 0 success,
1 the run failed (bad data, a warehouse error), 2 bad usage or
configuration. Errors are one line on stderr; `--debug` adds the traceback.
"""

from __future__ import annotations

import atexit
import gc
import io
import json
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, NoReturn, TypeVar

import polars as pl
import typer
from rich.console import Console
from rich.table import Table
from typer.exceptions import TyperException

from config.loader import DEFAULT_CONFIG_PATH, ConfigError, LoadedConfig, load_config
from config.settings import Settings
from flows.freshness import Freshness, freshness
from flows.progress import log_to_console, terminal_progress
from quality.reports import unrecorded_runs_path
from schemas.quarantine import CLEARED
from sources.extract import SourceError
from warehouse.publish import Warehouse, WarehouseError, open_warehouse
from warehouse.tables import OUTPUT_TABLES

if TYPE_CHECKING:  # Prefect is slow to import: the flow module is loaded only when it runs
    from pipeline.refresh import RefreshResult, Trigger
    from pipeline.runner import Stages

Result = TypeVar("Result")

# This machine may have no route to Prefect's telemetry; a failed send is noise in our logs.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# With no Prefect server configured, Prefect starts a temporary one; its first start
# creates its database and can take longer than Prefect's 20 s default on a busy machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

app = typer.Typer(
    help="Customer tiers, Pareto shares, segments and personas from CRM and sales data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: Rich markup would swallow "[notify]" in help texts and Rich panels show
    # flags such as --json as if they took a value.
    rich_markup_mode=None,
)
console = Console()
_state = {"debug": False}

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="TOML configuration file.", show_default=True),
]
AsOfOption = Annotated[
    datetime | None,
    typer.Option(
        "--as-of", formats=["%Y-%m-%d"], help="Reference date YYYY-MM-DD (default: today)."
    ),
]


@app.callback()
def _global(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    _state["debug"] = debug


def _fail(message: str, code: int) -> NoReturn:
    if _state["debug"]:
        traceback.print_exc()
    failure = sys.exc_info()[1]
    if failure is not None and failure.__traceback__ is not None:
        # The traceback's frames hold the warehouse engine; left alive until interpreter
        # shutdown, DuckDB's bindings print dozens of "leaked instance" lines after ours.
        traceback.clear_frames(failure.__traceback__)
        gc.collect()
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _exit_code(exc: BaseException) -> int:
    """2 for configuration problems; 1 for everything else (bad data, warehouse, bugs)."""
    return 2 if isinstance(exc, ConfigError | SourceError) else 1


def _load(config: Path) -> LoadedConfig:
    try:
        return load_config(config)
    except ConfigError as exc:
        _fail(str(exc), 2)


# Prefect's engine logs a failure as it goes: the task, then the flow, each with the
# error. The CLI prints that error once as its `error:` line, and the API keeps the logs.
_ENGINE_FAILURE_LINES = (
    "Finished in state Failed",
    "Finished in state Crashed",
    "Encountered exception",
    "Crash detected",
)


class _ConsoleWithoutFailures(logging.Filter):
    """On the console, keep Prefect's log lines but not its tracebacks nor its repeats of
    the error that the CLI prints once."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        message = record.getMessage()
        return not any(line in message for line in _ENGINE_FAILURE_LINES)


def _quiet_prefect_console() -> None:
    if _state["debug"] or "prefect" not in sys.modules:
        return
    for name in ("prefect", "prefect.flow_runs", "prefect.task_runs", ""):
        for handler in logging.getLogger(name).handlers:
            # Only console handlers: the API handler keeps every line for the UI.
            if type(handler).__name__ == "PrefectConsoleHandler" and not any(
                isinstance(f, _ConsoleWithoutFailures) for f in handler.filters
            ):
                handler.addFilter(_ConsoleWithoutFailures())


def _run_pipeline(
    label: str,
    settings: Settings,
    *,
    under_prefect: Callable[[], Result],
    directly: Callable[[Stages], Result],
) -> Result:
    """Run a refresh or a drift check: as a Prefect flow when an API is configured, else
    directly (no temporary server). Any failure, a native panic too, is one line."""
    from pipeline.refresh import describe_failure
    from pipeline.runner import Stages, prefect_api_configured

    with_prefect = prefect_api_configured()
    if with_prefect:
        import flows.refresh  # noqa: F401  (Prefect sets up its logging: quieted next)
    _quiet_prefect_console()
    log_to_console()
    try:
        with terminal_progress(console, f"{label}: starting"):
            if with_prefect:
                return under_prefect()
            return directly(Stages.for_settings(settings, with_prefect=False))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # recorded by the run itself; one line here
        report = getattr(exc, "report", None)  # rejected rows, for a data problem
        message = describe_failure(exc, limit=None)
        _fail(f"{message} (quarantine: {report})" if report else message, _exit_code(exc))


def _run_refresh(
    config: LoadedConfig,
    *,
    as_of: date | None,
    reason: str | None,
    trigger: Trigger = "ad-hoc",
    make_current: bool = False,
) -> RefreshResult:
    from pipeline.refresh import run_refresh

    def under_prefect() -> RefreshResult:
        from flows.refresh import refresh  # Prefect is imported only to run under it

        return refresh(
            config_path=config.path,
            as_of=as_of,
            reason=reason,
            trigger=trigger,
            make_current=make_current,
        )

    return _run_pipeline(
        "refresh",
        config.settings,
        under_prefect=under_prefect,
        directly=lambda stages: run_refresh(
            config,
            as_of=as_of,
            reason=reason,
            trigger=trigger,
            make_current=make_current,
            stages=stages,
        ),
    )


@app.command()
def refresh(
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    as_of: AsOfOption = None,
    reason: Annotated[str | None, typer.Option(help="Why this refresh runs.")] = None,
    make_current: Annotated[
        bool,
        typer.Option(
            "--make-current",
            help="Make this refresh current even when its as_of is older than the current "
            "refresh's (a backfill otherwise goes to history only).",
        ),
    ] = False,
) -> None:
    """One full refresh: extract → validate → compute → publish."""
    loaded = _load(config)
    result = _run_refresh(
        loaded, as_of=as_of.date() if as_of else None, reason=reason, make_current=make_current
    )
    _print_summary(result)


@app.command()
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the sample data, config and warehouse go.")
    ] = Path("personas-demo"),
    customers: Annotated[int, typer.Option(min=10, help="Customers to generate.")] = 5_000,
    order_lines: Annotated[int, typer.Option(min=10, help="Order lines to generate.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed of the sample data.")] = 42,
) -> None:
    """Generate the sample CRM + sales data (if absent) and refresh it into DuckDB."""
    from sampledata import SAMPLE_END_DATE

    _prepare_sample(directory / "data", customers=customers, order_lines=order_lines, seed=seed)
    config_path = directory / "personas.toml"
    if not config_path.is_file():
        template = resources.files("config").joinpath("demo.toml").read_text(encoding="utf-8")
        config_path.write_text(template, encoding="utf-8")
    loaded = _load(config_path)
    result = _run_refresh(loaded, as_of=SAMPLE_END_DATE, reason="personas demo", trigger="ad-hoc")
    _print_summary(result)
    console.print(f"Config: {config_path}  (try: personas status --config {config_path})")


SAMPLE_RECORD = "sample.json"  # the generator's arguments, kept next to the data they made


def _prepare_sample(data_dir: Path, *, customers: int, order_lines: int, seed: int) -> None:
    """Generate the sample data unless the folder already holds exactly what was asked."""
    from sampledata import generate_sample

    wanted = {"customers": customers, "order_lines": order_lines, "seed": seed}
    record = data_dir / SAMPLE_RECORD
    held = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else None
    size = f"{customers:,} customers, {order_lines:,} order lines, seed {seed}"
    if not (data_dir / "orders.csv").is_file():
        console.print(f"Generating sample data ({size})")
    elif held == wanted:
        console.print(f"Using the sample data in {data_dir} ({size})", highlight=False)
        return
    elif held is None:  # not written by the demo: never overwrite someone's files
        console.print(
            f"Using the data already in {data_dir}; it was not generated by personas demo, "
            "so --customers, --order-lines and --seed do not apply (use another --dir to "
            "generate a new sample)",
            highlight=False,
        )
        return
    else:
        was = f"{held['customers']:,} customers, {held['order_lines']:,} order lines, seed "
        console.print(
            f"Regenerating the sample data in {data_dir}: it held {was}{held['seed']}; "
            f"asked for {size}",
            highlight=False,
        )
    generate_sample(data_dir, customers=customers, order_lines=order_lines, seed=seed)
    record.write_text(json.dumps(wanted), encoding="utf-8")


@app.command()
def validate(config: ConfigOption = DEFAULT_CONFIG_PATH) -> None:
    """Extract and validate only: a table per source and per problem; publishes nothing.

    Exits 0 when every source is usable (rows that would be quarantined are listed),
    1 when a source is unusable or rejects more than its max_rejected_share.
    """
    from pipeline.stages import DataValidationError, extract
    from pipeline.stages import validate as validate_task

    loaded = _load(config)
    try:
        raw = extract(loaded.settings)
        inputs = validate_task(raw, loaded.settings)
    except DataValidationError as exc:
        counts = {n: (split.rows_in, split.rows_rejected) for n, split in exc.splits.items()}
        _print_validation(loaded.settings, counts, exc.quarantine, blocking=exc.problems)
        _fail(str(exc), 1)
    except Exception as exc:
        _fail(str(exc), _exit_code(exc))
    _print_validation(loaded.settings, inputs.counts, inputs.quarantine)
    if inputs.identical_lines:
        console.print(
            f"{inputs.identical_lines:,} order line(s) identical to an earlier line are kept as "
            "separate purchases (only a repeated line key makes a duplicate; see "
            "sources.orders.line_key)."
        )
    if inputs.quarantine.is_empty():
        console.print("All rows valid.")
    else:
        console.print(
            f"Usable: a refresh would quarantine {inputs.rows_rejected:,} of "
            f"{inputs.rows_in:,} rows and publish the rest."
        )


def _print_validation(
    settings: Settings,
    counts: dict[str, tuple[int, int]],
    quarantine: pl.DataFrame,
    *,
    blocking: pl.DataFrame | None = None,
) -> None:
    """Per source: rows, rejected, cleared, limit, verdict; then the problems by kind."""
    cleared = quarantine.filter(pl.col("action") == CLEARED).group_by("source").len()
    cleared_by_source = dict(cleared.iter_rows())
    unusable = (
        set()
        if blocking is None
        else set(blocking.filter(pl.col("row_number").is_null())["source"].to_list())
    )
    table = Table(title="Sources")
    for column in ("source", "rows", "accepted", "rejected", "values cleared", "limit", "verdict"):
        table.add_column(column, justify="left" if column in ("source", "verdict") else "right")
    for name, (rows_in, rejected) in counts.items():
        limit = settings.sources[name].max_rejected_share
        over = rows_in and rejected > limit * rows_in
        verdict = "unusable" if name in unusable else "over limit" if over else "ok"
        share = f" ({rejected / rows_in:.1%})" if rows_in and rejected else ""
        table.add_row(
            name, f"{rows_in:,}", f"{rows_in - rejected:,}", f"{rejected:,}{share}",
            f"{cleared_by_source.get(name, 0):,}", f"{float(limit):.1%}", verdict,
        )  # fmt: skip
    console.print(table)
    problems = (
        quarantine
        if blocking is None
        else pl.concat([quarantine.select(blocking.columns), blocking], how="vertical").unique(
            maintain_order=True
        )
    )
    if problems.is_empty():
        return
    kinds = (
        problems.group_by("source", "column", "problem", maintain_order=True)
        .agg(
            rows=pl.len(),
            first_rows=pl.col("row_number").drop_nulls().head(3),
            example=pl.col("value").drop_nulls().first(),
        )
        .sort("rows", descending=True, maintain_order=True)
    )
    table = Table(title=f"Problems ({problems.height:,})")
    for column in ("source", "column", "problem", "rows", "first rows", "example value"):
        table.add_column(column, overflow="fold", justify="right" if column == "rows" else "left")
    for row in kinds.head(30).iter_rows(named=True):
        table.add_row(
            row["source"], row["column"] or "(row)", row["problem"], f"{row['rows']:,}",
            ", ".join(str(n) for n in row["first_rows"]) or "(file)",
            "" if row["example"] is None else repr(row["example"]),
        )  # fmt: skip
    console.print(table)


@app.command()
def status(
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    limit: Annotated[int, typer.Option(min=1, help="How many refreshes to list.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
    notify_stale: Annotated[
        bool, typer.Option("--notify", help="Post to [notify] webhook_url unless fresh.")
    ] = False,
) -> None:
    """The last refreshes, when the next is due, and whether the personas are stale.

    Exits 0 when fresh, 1 when stale (past due), alarmingly old (over 12 months) or
    never refreshed, so monitoring can act on the exit code alone.
    """
    loaded = _load(config)
    settings = loaded.settings
    try:
        with open_warehouse(settings) as warehouse:
            runs = warehouse.recent_runs(limit)
            current = warehouse.current_run()
    except WarehouseError as exc:
        _fail(str(exc), 1)
    state = freshness(
        None if current is None else current["finished_at"],
        cadence_months=settings.schedule.cadence_months,
        now=datetime.now(UTC).replace(tzinfo=None),
    )
    if notify_stale and state.state != "fresh":
        from flows.notify import notify

        notify(
            settings,
            "personas_stale",
            f"personas in {warehouse.display_url} are {state.describe()}",
            state=state.state,
            next_due_at=str(state.next_due_at),
            days_overdue=state.days_overdue,
            warehouse=warehouse.display_url,
        )
    if as_json:
        document = _status_document(warehouse, settings, runs, current, state)
        typer.echo(json.dumps(document, default=str))
        raise typer.Exit(state.exit_code)
    if runs.is_empty():
        console.print(f"No refresh yet in {warehouse.display_url}; run: personas refresh")
        raise typer.Exit(state.exit_code)
    console.print(f"Refreshes in {warehouse.display_url}, schema {warehouse.schema}:")
    # Two lines per refresh instead of a table: readable on any terminal width, never cut.
    current_as_of = None if current is None else current["as_of"]
    for run in runs.iter_rows(named=True):
        marker = "▶" if run["is_current"] else " "
        kept = (
            " (history only: older as_of than the current refresh)"
            if run["status"] == "succeeded"
            and not run["is_current"]
            and current_as_of is not None
            and run["as_of"] < current_as_of
            else ""
        )
        customers = "" if run["customers"] is None else f" · {run['customers']:,} customers"
        console.print(
            f"{marker} {run['refresh_id']}  {run['status']}  as_of {run['as_of']}  "
            f"at {run['finished_at']:%Y-%m-%d %H:%M}Z{kept}",
            highlight=False,
            markup=False,
        )
        console.print(
            f"    {run['trigger']}{customers}"
            + (f" · {run['error'] or run['reason']}" if run["error"] or run["reason"] else ""),
            highlight=False,
            markup=False,
        )
    if current is None:
        console.print("No successful refresh is current.")
    else:
        console.print(
            f"Current refresh: {current['refresh_id']} (as_of {current['as_of']})",
            highlight=False,
        )
    unrecorded = _unrecorded_failures(settings)
    if unrecorded:
        console.print(
            f"{len(unrecorded)} failed attempt(s) could not be recorded in the warehouse; "
            f"they are in {unrecorded_runs_path(settings.quality.reports_dir)} (latest: "
            f"{unrecorded[-1].get('refresh_id')} at {unrecorded[-1].get('finished_at')}: "
            f"{unrecorded[-1].get('error')})",
            highlight=False,
            markup=False,
        )
    console.print(f"Personas are {state.describe()}.", highlight=False)
    raise typer.Exit(state.exit_code)


def _unrecorded_failures(settings: Settings) -> list[dict[str, object]]:
    """Failed attempts the warehouse could not take, kept next to the reports."""
    path = unrecorded_runs_path(settings.quality.reports_dir)
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


STATUS_COLUMNS = (
    "refresh_id",
    "run_id",
    "status",
    "trigger",
    "reason",
    "as_of",
    "started_at",
    "finished_at",
    "next_due_at",
    "customers",
    "rows_in",
    "rows_quarantined",
    "error",
    "is_current",
)


def _status_document(
    warehouse: Warehouse,
    settings: Settings,
    runs: pl.DataFrame,
    current: dict[str, object] | None,
    state: Freshness,
) -> dict[str, object]:
    """What `status --json` prints: the state, the dates and the recent refreshes."""
    present = [c for c in STATUS_COLUMNS if c in runs.columns]
    return {
        "warehouse": warehouse.display_url,
        "schema": warehouse.schema,
        "state": state.state,
        "exit_code": state.exit_code,
        "summary": state.describe(),
        "cadence_months": settings.schedule.cadence_months,
        "current_refresh_id": None if current is None else current["refresh_id"],
        "current_as_of": None if current is None else current["as_of"],
        "last_success_at": state.last_success_at,
        "next_due_at": state.next_due_at,
        "days_overdue": state.days_overdue,
        "refreshes": runs.select(present).to_dicts() if not runs.is_empty() else [],
        "unrecorded_failures": _unrecorded_failures(settings),
    }


@app.command()
def serve(config: ConfigOption = DEFAULT_CONFIG_PATH) -> None:
    """Serve the scheduled refresh from this process until stopped (Ctrl-C).

    Runs `refresh` every [schedule] cadence_months months, and whenever it is started
    from the Prefect UI or API. Needs a Prefect server (PREFECT_API_URL) to keep the
    schedule between restarts; without one, a temporary one lives as long as this process.
    """
    loaded = _load(config)
    from prefect import serve as prefect_serve

    from flows.deployments import (
        drift_deployment,
        next_scheduled_run,
        prepare_to_serve,
        refresh_deployment,
    )

    months = loaded.settings.schedule.cadence_months
    try:
        first_run = next_scheduled_run(loaded.settings)
        replaced = prepare_to_serve()
    except Exception as exc:
        _fail(f"cannot serve the deployment: {exc}", 1)
    if replaced:
        console.print(
            "Replaced the work-pool deployment registered by `personas schedule`: this "
            "process serves refresh/personas-refresh now."
        )
    console.print(
        f"Serving personas-refresh every {months} months (next run {first_run:%Y-%m-%d %H:%M} "
        f"UTC, when the current refresh is due) and the drift check every "
        f"{loaded.settings.drift.check_every_months} month(s) from {loaded.path}.",
        highlight=False,
    )
    prefect_serve(
        refresh_deployment(loaded, first_run),
        drift_deployment(loaded),
        print_starting_message=False,
    )


@app.command()
def schedule(
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    work_pool: Annotated[
        str, typer.Option(help="Prefect work pool (created as a process pool if missing).")
    ] = "personas",
) -> None:
    """Register the scheduled refresh with the Prefect server for a work pool's workers."""
    loaded = _load(config)
    from flows.deployments import DEPLOYMENT_NAME, register

    try:
        deployment_id = register(loaded, work_pool)
    except Exception as exc:
        _fail(f"cannot register the deployment: {exc}", 1)
    months = loaded.settings.schedule.cadence_months
    console.print(
        f"Registered refresh/{DEPLOYMENT_NAME} ({deployment_id}) every {months} months in work "
        f"pool {work_pool} (next run when the current refresh is due). Start a worker: "
        f"prefect worker start --pool {work_pool}",
        highlight=False,
    )


@app.command()
def drift(
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Measure only; never start a refresh.")
    ] = False,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of",
            formats=["%Y-%m-%d"],
            help="Measure the data as of this date YYYY-MM-DD (default: the newest order "
            "date up to today, never before the published refresh's as_of).",
        ),
    ] = None,
) -> None:
    """Compare today's data with the published refresh; refresh early if the market moved."""
    loaded = _load(config)
    from pipeline.drift import DriftReport, run_drift_check

    measure_as_of = as_of.date() if as_of else None

    def under_prefect() -> DriftReport:
        from flows.drift import drift_check  # Prefect is imported only to run under it

        return drift_check(config_path=loaded.path, dry_run=dry_run, as_of=measure_as_of)

    report = _run_pipeline(
        "drift",
        loaded.settings,
        under_prefect=under_prefect,
        directly=lambda stages: run_drift_check(
            loaded, today=None, dry_run=dry_run, as_of=measure_as_of, stages=stages
        ),
    )
    if not report.measures:
        console.print("No published refresh to compare with: run personas refresh first.")
        return
    threshold = float(loaded.settings.drift.psi_threshold)
    console.print(
        f"Data measured as of {report.as_of} against the published refresh as of "
        f"{report.published_as_of}.",
        highlight=False,
    )
    table = Table(title=f"Drift since the published refresh (threshold PSI {threshold:g})")
    for column in ("measure", "PSI", "past threshold"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for measure in report.measures:
        table.add_row(measure.name, f"{measure.psi:.3f}", "yes" if measure.psi > threshold else "")
    console.print(table)
    if report.launches:
        console.print(f"Launched since: {', '.join(report.launches)}")
    if report.trigger is None:
        console.print("No early refresh needed.")
    elif report.refresh is None:
        console.print(f"Would refresh early ({report.trigger}): {report.reason}")
    else:
        console.print(
            f"Refreshed early ({report.trigger}): {report.reason}; "
            f"published {report.refresh.refresh_id}."
        )


@app.command()
def prune(
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    keep: Annotated[
        int | None,
        typer.Option(min=1, help="Refreshes to keep (default: warehouse.keep_refreshes)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be removed; remove nothing.")
    ] = False,
) -> None:
    """Remove the rows of all but the newest refreshes (the current one is always kept)."""
    from warehouse.retention import prune as prune_refreshes

    loaded = _load(config)
    keep = keep or loaded.settings.warehouse.keep_refreshes
    if keep is None:
        _fail("nothing to prune by: pass --keep N or set warehouse.keep_refreshes", 2)
    try:
        with open_warehouse(loaded.settings) as warehouse:
            change = warehouse.ensure_schema()  # retention needs the current layout
            if change:
                console.print(f"Warehouse schema {warehouse.schema}: {change}.")
            result = prune_refreshes(warehouse, keep, dry_run=dry_run)
    except WarehouseError as exc:
        _fail(str(exc), 1)
    verb = "Would remove" if dry_run else "Removed"
    if not result.pruned:
        console.print(f"Nothing to prune: {len(result.kept)} refresh(es) held, keeping {keep}.")
        return
    table = Table(title=f"{verb} {len(result.pruned)} refresh(es), {result.rows_pruned:,} rows")
    for column in ("refresh_id", "as_of", "last published", "rows"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for refresh_held in result.pruned:
        table.add_row(
            refresh_held.refresh_id,
            f"{refresh_held.as_of}",
            f"{refresh_held.last_published_at:%Y-%m-%d %H:%M}Z",
            f"{refresh_held.rows:,}",
        )
    console.print(table)
    current = next((r.refresh_id for r in result.kept if r.is_current), "none")
    console.print(f"Kept {len(result.kept)} refresh(es); current: {current}.")


def _print_summary(result: RefreshResult) -> None:
    tiers = result.tables["tier_summary"]
    pareto = result.tables["pareto_summary"].row(0, named=True)
    table = Table(title=f"Revenue tiers as of {result.as_of} (sales of each tier's purchases)")
    columns = ("tier", "from", "purchases", "sales revenue", "share", "buyers", "customers", "key")
    for column in columns:
        table.add_column(column, justify="left" if column == "tier" else "right")
    for row in tiers.iter_rows(named=True):
        share, low = row["sales_share"], row["lower_bound"]
        key = ("yes" + (" (>50%)" if row["is_majority"] else " (below 50%)")) * row["is_key_tier"]
        table.add_row(
            row["tier"],
            "" if low is None else f"{low:,.0f}",
            f"{row['purchases']:,}",
            f"{row['sales_revenue']:,.0f}",
            "" if share is None else f"{share:.1%}",
            f"{row['buying_customers']:,}",
            f"{row['customers']:,}",
            key,
        )
    console.print(table)
    key_row = tiers.filter("is_key_tier").row(0, named=True)
    console.print(f"Tiers by {key_row['bounds_basis']}", markup=False)
    console.print(
        f"Key tier {key_row['tier']} ({key_row['decided_by']}): {key_row['key_reason']}",
        markup=False,
    )
    top = pareto["top_share_revenue"]
    console.print(
        f"Pareto: the top {pareto['top_share_customers']:.0%} of customers "
        f"({pareto['top_customers']:,} of {pareto['customers']:,}) make "
        f"{'n/a' if top is None else f'{top:.1%}'} of revenue; "
        f"customers needed for 80% of revenue: {pareto['customers_for_80pct']:,}; "
        f"Gini {pareto['gini'] or 0:.2f}"
    )
    for card in result.tables["persona_cards"].iter_rows(named=True):
        console.print(
            f"Persona {card['persona_id']}: {card['name']} — {card['best_customers']:,} best "
            f"customers of the {card['key_tier']} tier ({card['best_basis']})"
        )
        if card["profile_note"]:
            console.print(f"  warning: {card['profile_note']}", markup=False)
        if card["goals"]:
            console.print(f"  goals: {card['goals']}")
        if card["pain_points"]:
            console.print(f"  pain points: {card['pain_points']}")
        if card["quote"]:
            console.print(f"  quote: “{card['quote']}”")
    leads = result.tables["lead_scores"]
    if leads.height:
        auc = "" if result.lead_score_auc is None else f"; AUC {result.lead_score_auc:.2f}"
        console.print(
            f"Leads: {int(leads['is_target'].sum()):,} of {leads.height:,} are target "
            f"customers{auc}"
        )
    docs = result.report_dir / "data_docs" / "index.html"
    console.print(
        f"Report: {result.report_path or 'not written (see the warning above)'}"
        + (f" (Data Docs: {docs.parent.name}/{docs.name})" if docs.exists() else "")
    )
    if result.rows_rejected:
        console.print(
            f"Quarantine: {result.rows_rejected:,} of {result.rows_in:,} input rows rejected "
            f"(table quarantine; {result.report_dir / 'quarantine.csv'})"
        )
    views = ", ".join(spec.name for spec in OUTPUT_TABLES)
    if not result.is_current:
        console.print(
            f"Backfill: published refresh {result.refresh_id} (as_of {result.as_of}) to the "
            f"_history tables of {result.warehouse_url}, schema {result.schema}, only. The "
            f"current refresh stays the one as_of {result.current_as_of}, which is newer; "
            "to make this one current, run again with --make-current.",
            highlight=False,
        )
        return
    console.print(
        f"Published refresh {result.refresh_id} to {result.warehouse_url}, schema "
        f"{result.schema}: views {views} (each with a _history table). "
        f"Current as_of {result.as_of}. Next refresh due {result.next_due_at:%Y-%m-%d}."
    )


# Commands that keep running and start child processes of their own (Prefect's runner
# starts one per flow run): their children must write to the real stderr.
LONG_RUNNING = ("serve",)


def main() -> None:
    """Entry point of the `personas` console script."""
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    native = NativeStderr.capture() if command not in LONG_RUNNING else NativeStderr(None, None)
    try:
        code = _run_app()
    finally:
        native.release(show=_state["debug"])
    _exit_without_finalizing(code)


def _run_app() -> int:
    """Run the command; a usage error (unknown option, bad value) is one `error:` line."""
    try:
        result = app(standalone_mode=False)
    except typer.Exit as exit_request:
        return exit_request.exit_code
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        return 1
    except TyperException as exc:  # the command line itself is wrong
        message = exc.format_message()  # type: ignore[attr-defined]
        if type(exc).__name__ == "NoArgsIsHelpError":  # `personas` alone: its help
            typer.echo(message)
            return 2
        hint = f" (see: {_command_of(getattr(exc, 'ctx', None))} --help)"
        typer.echo(f"error: {message}{hint}", err=True)
        return getattr(exc, "exit_code", 2)
    except SystemExit as exit_request:  # sys.exit inside a command
        code = exit_request.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return result if isinstance(result, int) else 0


def _command_of(context: typer.Context | None) -> str:
    """`personas <command>` however the program was started (`python -m flows.cli` too)."""
    names = []
    while context is not None and context.parent is not None:
        names.append(context.info_name or "")
        context = context.parent
    return " ".join(["personas", *reversed(names)])


class NativeStderr:
    """Keeps what native libraries write straight to file descriptor 2 off the terminal.

    A Rust panic in polars prints its message and, with RUST_BACKTRACE set, a stack
    trace on fd 2 before Python sees the exception; C extensions print there too. The
    CLI says what failed in one `error:` line and records it, so that output is
    captured into a temporary file and shown only with `--debug`. Python's own
    `sys.stderr` keeps writing to the terminal through a duplicate of fd 2.
    """

    def __init__(self, saved_fd: int | None, capture: IO[bytes] | None) -> None:
        self._saved_fd = saved_fd
        self._capture = capture

    @classmethod
    def capture(cls) -> NativeStderr:
        """Start capturing fd 2 (a no-op where fd 2 cannot be duplicated)."""
        try:
            sys.stderr.flush()
            saved = os.dup(2)
            capture = tempfile.TemporaryFile()  # noqa: SIM115 - lives until release()
            os.dup2(capture.fileno(), 2)
        except (OSError, ValueError, io.UnsupportedOperation):
            return cls(None, None)
        encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
        sys.stderr = io.TextIOWrapper(
            io.FileIO(saved, "w", closefd=False),
            encoding=encoding,
            errors="backslashreplace",
            line_buffering=True,
        )
        return cls(saved, capture)

    def release(self, *, show: bool) -> None:
        """Stop capturing; with `show`, copy what was captured to the real stderr."""
        if self._saved_fd is None or self._capture is None:
            return
        sys.stderr.flush()
        os.dup2(self._saved_fd, 2)
        sys.stderr = sys.__stderr__
        if show:
            self._capture.seek(0)
            os.write(2, self._capture.read())
        self._capture.close()
        os.close(self._saved_fd)


def _exit_without_finalizing(code: int) -> NoReturn:
    """Run the exit handlers (logging flushes, Prefect's clients close), then leave
    without interpreter finalization.

    DuckDB's nanobind bindings print dozens of "leaked instance" lines while the
    interpreter finalizes, after our last line, whenever one of its module objects is
    still referenced then; they are not real leaks (warehouse connections are closed
    by now). Skipping finalization keeps the command's output exactly what it printed.
    """
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
