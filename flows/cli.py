"""The `personas` command line: demo, refresh, validate, status, serve, schedule, prune.

Produces the console script. Exit codes follow the contract: 0 success,
1 the run failed (bad data, a warehouse error), 2 bad usage or
configuration. Errors are one line on stderr; `--debug` adds the traceback.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from config.loader import DEFAULT_CONFIG_PATH, ConfigError, LoadedConfig, load_config
from config.settings import Settings
from flows.freshness import freshness
from flows.process import LONG_RUNNING, NativeStderr, exit_without_finalizing, run_app
from flows.progress import log_to_console, terminal_progress
from flows.render import (
    print_refresh_summary,
    print_runs,
    print_validation,
    status_document,
    unrecorded_failures,
)
from quality.reports import unrecorded_runs_path
from sources.extract import SourceError
from warehouse.publish import WarehouseError, open_warehouse

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
    print_refresh_summary(console, result)


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
    print_refresh_summary(console, result)
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
    from sources.buckets import release

    loaded = _load(config)
    try:
        raw = extract(loaded.settings)
        inputs = validate_task(raw, loaded.settings)
    except DataValidationError as exc:
        counts = {n: (split.rows_in, split.rows_rejected) for n, split in exc.splits.items()}
        print_validation(console, loaded.settings, counts, exc.quarantine, blocking=exc.problems)
        _fail(str(exc), 1)
    except Exception as exc:
        _fail(str(exc), _exit_code(exc))
    release(inputs.spilled)  # only the counts and the quarantine are shown
    print_validation(console, loaded.settings, inputs.counts, inputs.quarantine)
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
        document = status_document(warehouse, settings, runs, current, state)
        typer.echo(json.dumps(document, default=str))
        raise typer.Exit(state.exit_code)
    if runs.is_empty():
        console.print(f"No refresh yet in {warehouse.display_url}; run: personas refresh")
        raise typer.Exit(state.exit_code)
    print_runs(console, warehouse.display_url, warehouse.schema, runs, current)
    unrecorded = unrecorded_failures(settings)
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


def main() -> None:
    """Entry point of the `personas` console script."""
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    native = NativeStderr.capture() if command not in LONG_RUNNING else NativeStderr(None, None)
    try:
        code = run_app(app)
    finally:
        native.release(show=_state["debug"])
    exit_without_finalizing(code)


if __name__ == "__main__":
    main()
