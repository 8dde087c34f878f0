"""Publish a refresh's tables to the warehouse: all at once, or not at all.

Produces, in the warehouse schema: `<table>_history` tables keyed by
`refresh_id`, a one-row pointer `_current_refresh`, and plain views
(`customer_segments`, `tier_summary` …) that show the refresh the pointer
names. Publishing writes the new refresh's rows (replacing any earlier rows
of the same refresh_id, so a rerun never duplicates), its run record, and
moves the pointer, all in one transaction: a reader sees the old refresh or
the new one, never a mix, and a failure leaves the old one current.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import time
import uuid
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from config.settings import Settings
from schemas.reasons import joined_reason
from warehouse.bulk_load import bulk_load
from warehouse.engine import create_engine_from_url, display_url, is_duckdb, redact
from warehouse.layout import (
    Layout,
    LayoutChange,
    LayoutError,
    ensure_layout,
    personas_version,
    version_table,
)
from warehouse.tables import (
    DATA_TABLES,
    OUTPUT_TABLES,
    REFRESH_RUNS,
    OutputTable,
    history_table,
    pointer_table,
)

# DuckDB holds a transaction's new rows in memory, uncompressed, until it commits: for
# 500,000 customers and their reasons about 0.5 GB on top of the refresh's own. With its
# memory bounded while a refresh is loaded, it writes them out as it goes instead (a 10M
# line refresh: peak 1,490 to 1,260 MiB, its load 0.4-0.9 s slower).
DUCKDB_LOAD_MEMORY = "256MiB"
_MEMORY_LIMIT = "SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'"

logger = logging.getLogger(__name__)


@cache
def _default_duckdb_memory_limit() -> str:
    """DuckDB's own memory limit on this machine (80% of its memory), as it shows it."""
    import duckdb

    with duckdb.connect(":memory:") as connection:
        return connection.execute(_MEMORY_LIMIT).fetchall()[0][0]


class WarehouseError(Exception):
    """The warehouse could not be read or written; the CLI exits 1."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        # A dropped connection or a busy warehouse may pass on a retry; a refused layout
        # or a constraint violation will not.
        self.transient = transient


@dataclass(frozen=True)
class RunRecord:
    """One row of `refresh_runs_history`: what an attempt did and how it ended."""

    refresh_id: str
    run_id: str
    as_of: date
    started_at: datetime
    finished_at: datetime
    status: str
    trigger: str
    reason: str | None
    config_hash: str
    rows_in: int | None = None
    rows_accepted: int | None = None
    rows_quarantined: int | None = None
    customers: int | None = None
    lead_score_auc: float | None = None
    next_due_at: datetime | None = None
    notes: str | None = None
    error: str | None = None
    personas_version: str = field(default_factory=personas_version)


# Named moments of publishing where crash tests inject a failure. Setting
# PERSONAS_FAILPOINT=<moment>:kill makes the process SIGKILL itself there (for tests
# of real crashes); <moment>:raise raises. Unset, a failpoint does nothing.
FAILPOINTS = ("before load", "mid load", "between load and switch", "inside switch", "after switch")


class _LockTimeout(Exception):
    """Another refresh held the publishing lock longer than the lock timeout."""


class InjectedFailure(sa.exc.SQLAlchemyError):
    """Raised at a failpoint by PERSONAS_FAILPOINT=<moment>:raise (or :raise-once)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def failpoint(moment: str) -> None:
    """Fail here if PERSONAS_FAILPOINT names this moment (tests only)."""
    wanted = os.environ.get("PERSONAS_FAILPOINT")
    if not wanted or wanted.rsplit(":", 1)[0] != moment:
        return
    if wanted.endswith(":kill"):
        os.kill(os.getpid(), signal.SIGKILL)
    if wanted.endswith(":raise-once"):  # a transient failure: the retry gets through
        mark = Path(os.environ["PERSONAS_FAILPOINT_MARK"])
        if mark.exists():
            return
        mark.touch()
        raise InjectedFailure(f"injected failure at {moment!r}", transient=True)
    if wanted.endswith(":hold"):  # keep the warehouse busy, as a slow refresh would
        mark = os.environ.get("PERSONAS_FAILPOINT_MARK")
        if mark:
            Path(mark).touch()
        time.sleep(float(os.environ.get("PERSONAS_FAILPOINT_SECONDS", "3")))
        return
    raise InjectedFailure(f"injected failure at {moment!r}")


def _duckdb_lock_holder(message: str) -> str:
    """The process DuckDB names as holding its file's lock ("PID 5319, /usr/bin/python3")."""
    found = re.search(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)", message)
    return f"PID {found['pid']}, {found['program']}" if found else "a process"


def new_run_id() -> str:
    """A unique id for one attempt."""
    return uuid.uuid4().hex


class Warehouse:
    """The output schema of one warehouse URL."""

    def __init__(
        self, url: str, *, schema: str, scale: int, lock_timeout_seconds: float = 60
    ) -> None:
        self._url = url
        self.schema = schema
        self.lock_timeout_seconds = lock_timeout_seconds
        self.engine = create_engine_from_url(url)
        # DuckDB names a file's catalog after the file: personas.duckdb holds catalog
        # "personas", which a schema "personas" would make ambiguous. Qualifying with
        # the catalog always works.
        self._schema_path = [*self._duckdb_catalog(), schema]
        self.metadata = sa.MetaData(schema=".".join(self._schema_path))
        self.history = {
            spec.name: history_table(spec, self.metadata, scale=scale) for spec in OUTPUT_TABLES
        }
        self.pointer = pointer_table(self.metadata)
        self.layout = Layout(
            metadata=self.metadata,
            history=self.history,
            pointer=self.pointer,
            versions=version_table(self.metadata),
            quote=self._quote,
            qualified=self._qualified,
            schema_label=schema,
        )

    @property
    def display_url(self) -> str:
        """The URL without its password."""
        return display_url(self._url)

    def _error(self, action: str, exc: Exception) -> WarehouseError:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return WarehouseError(
            f"warehouse {self.display_url}: {action}: {redact(first, self._url)}",
            transient=isinstance(exc, (sa.exc.OperationalError, *_psycopg("OperationalError")))
            or getattr(exc, "transient", False),
        )

    def ensure_schema(self) -> LayoutChange | None:
        """Create the output tables, or migrate an older layout; None if already current.

        Takes the publishing lock, so two refreshes never run DDL at once.
        """
        with self.writing("cannot create the output tables") as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {self.quoted_schema}")
            return ensure_layout(connection, self.layout)

    @contextmanager
    def writing(self, failure: str) -> Iterator[sa.Connection]:
        """A transaction holding the writer lock; any error becomes one WarehouseError.

        Args:
            failure: what failed, for the message ("publishing failed, …").
        """
        try:
            with self.engine.begin() as connection:
                self.lock(connection)
                yield connection
        except _LockTimeout:
            raise self._locked() from None
        except LayoutError as exc:
            raise WarehouseError(f"warehouse {self.display_url}: {exc}") from None
        except (sa.exc.SQLAlchemyError, *_psycopg("Error")) as exc:  # COPY speaks psycopg itself
            raise self._error(failure, exc) from None

    def _duckdb_catalog(self) -> list[str]:
        if not is_duckdb(self._url):
            return []
        # A DuckDB file takes one writing process at a time: wait (bounded) for another
        # refresh to let go of it rather than fail at once.
        deadline = time.monotonic() + self.lock_timeout_seconds
        while True:
            try:
                with self.engine.connect() as connection:
                    return [connection.exec_driver_sql("SELECT current_database()").scalar_one()]
            except sa.exc.SQLAlchemyError as exc:
                if "lock" not in str(exc).lower():
                    raise self._error("cannot open the DuckDB file", exc) from None
                if time.monotonic() >= deadline:
                    raise self._locked(_duckdb_lock_holder(str(exc))) from None
                self.engine.dispose()
                time.sleep(0.25)

    def _locked(self, holder: str | None = None) -> WarehouseError:
        # PostgreSQL's lock is only ever taken by a refresh; a DuckDB file is held by any
        # process that opened it, readers included.
        who = (
            f"another process holds the DuckDB file ({holder}: a refresh, or a reader such "
            "as a BI tool or notebook with the file open)"
            if holder
            else "another refresh is using it"
        )
        return WarehouseError(
            f"warehouse {self.display_url}: locked: {who}; waited "
            f"{self.lock_timeout_seconds:g} s "
            "(raise warehouse.lock_timeout_seconds to wait longer)",
            transient=True,
        )

    def lock(self, connection: sa.Connection) -> None:
        """PostgreSQL: one writer per schema at a time, waiting at most the lock timeout.

        A transaction-level advisory lock: it is released at commit or rollback, and
        with the session if the process dies, so a killed refresh never leaves it held.
        """
        if connection.dialect.name != "postgresql":
            return
        key = zlib.crc32(f"personas:{self.schema}".encode())
        timeout_ms = int(self.lock_timeout_seconds * 1000)
        if timeout_ms <= 0:
            # 0 means "do not wait", as on DuckDB; PostgreSQL's lock_timeout = 0 would
            # mean "wait forever", so take the lock only if it is free.
            taken = connection.execute(
                sa.text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}
            ).scalar_one()
            if not taken:
                raise _LockTimeout
            return
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = {timeout_ms}")
        try:
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        except sa.exc.OperationalError as exc:
            if "lock timeout" in str(exc).lower() or "55P03" in str(
                getattr(exc.orig, "sqlstate", "")
            ):
                raise _LockTimeout from exc
            raise

    @property
    def quoted_schema(self) -> str:
        """The output schema, quoted and (DuckDB) qualified with its catalog, for SQL."""
        return ".".join(self._quote(part) for part in self._schema_path)

    def _quote(self, name: str) -> str:
        return self.engine.dialect.identifier_preparer.quote(name)

    def _qualified(self, name: str) -> str:
        return ".".join(self._quote(part) for part in [*self._schema_path, name])

    def publish(
        self, tables: Mapping[str, pl.DataFrame], run: RunRecord, *, make_current: bool = False
    ) -> bool:
        """Write one refresh, in a single transaction, and make it current unless it is a
        backfill.

        A backfill is a refresh whose as_of is older than the current refresh's: its rows
        and run record go to history, and the newer refresh stays current unless
        `make_current` asks otherwise. The comparison happens under the publishing lock,
        so refreshes published in any order, or two at once, leave the newest as_of
        current.

        Args:
            tables: a frame per data table (`customer_segments`, `tier_summary` …).
            run: the run record, status `succeeded`.
            make_current: make this refresh current even when it is a backfill.

        Returns:
            True when the refresh became current, False for a backfill kept in history.
        """
        missing = [spec.name for spec in DATA_TABLES if spec.name not in tables]
        if missing:
            raise ValueError(f"publish needs every data table; missing: {', '.join(missing)}")
        with (
            self._loading_memory(),
            self.writing("publishing failed, the previous refresh stays current") as connection,
        ):
            failpoint("before load")
            current_as_of = self._current_as_of(connection)
            becomes_current = make_current or current_as_of is None or run.as_of >= current_as_of
            for position, spec in enumerate(DATA_TABLES):
                table = self.history[spec.name]
                connection.execute(table.delete().where(table.c.refresh_id == run.refresh_id))
                self._bulk_insert(connection, spec, tables[spec.name], run.refresh_id)
                if position == len(DATA_TABLES) // 2:
                    failpoint("mid load")
            failpoint("between load and switch")
            self._insert_run(connection, run)
            if becomes_current:
                connection.execute(self.pointer.delete())
                failpoint("inside switch")
                connection.execute(
                    self.pointer.insert().values(
                        singleton=1, refresh_id=run.refresh_id, run_id=run.run_id
                    )
                )
            failpoint("after switch")
        return becomes_current

    @contextmanager
    def _loading_memory(self) -> Iterator[None]:
        """DuckDB's memory bounded while a refresh is loaded (`DUCKDB_LOAD_MEMORY`), then
        DuckDB's own limit again (RESET). Only where the limit is DuckDB's own: a limit
        someone set is theirs. Not for an in-memory database (its rows have nowhere
        else to go), nor for other warehouses. A limit that cannot be changed leaves
        the load unbounded (a warning), never failed."""
        url = make_url(self._url)
        if not is_duckdb(url) or url.database in (None, "", ":memory:"):
            yield
            return
        lowered = False
        try:
            # A setting of the database (every connection to it in this process), made
            # outside the publishing transaction: a failed load leaves nothing to undo.
            with self.engine.connect() as connection:
                limit = connection.exec_driver_sql(_MEMORY_LIMIT).scalar_one()
                if limit == _default_duckdb_memory_limit():
                    connection.exec_driver_sql(f"SET memory_limit = '{DUCKDB_LOAD_MEMORY}'")
                    lowered = True
        except sa.exc.SQLAlchemyError as exc:
            logger.warning("DuckDB's memory left unbounded while loading: %s", exc)
        try:
            yield
        finally:
            if lowered:
                try:
                    with self.engine.connect() as connection:
                        connection.exec_driver_sql("RESET memory_limit")
                except sa.exc.SQLAlchemyError as exc:
                    logger.warning("DuckDB's memory limit not reset after loading: %s", exc)

    def _current_as_of(self, connection: sa.Connection) -> date | None:
        runs = self.history[REFRESH_RUNS.name]
        query = (
            sa.select(runs.c.as_of)
            .join(self.pointer, runs.c.run_id == self.pointer.c.run_id)
            .where(runs.c.status == "succeeded")
            .limit(1)
        )
        return connection.execute(query).scalar_one_or_none()

    def add_note(self, run_id: str, note: str) -> None:
        """Append `note` to a published run's notes (a warning after publishing)."""
        runs = self.history[REFRESH_RUNS.name]
        notes = sa.func.coalesce(runs.c.notes + "; ", "") + note
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    runs.update()
                    .where(runs.c.run_id == run_id, runs.c.status == "succeeded")
                    .values(notes=notes)
                )
        except sa.exc.SQLAlchemyError as exc:
            raise self._error("cannot add a note to the run", exc) from None

    def record_failure(self, run: RunRecord) -> None:
        """Keep a failed attempt's run record; the current refresh does not change."""
        try:
            with self.engine.begin() as connection:
                self._insert_run(connection, run)
        except sa.exc.SQLAlchemyError as exc:
            raise self._error("cannot record the failed run", exc) from None

    def _insert_run(self, connection: sa.Connection, run: RunRecord) -> None:
        connection.execute(self.history[REFRESH_RUNS.name].insert().values(**asdict(run)))

    def _bulk_insert(
        self, connection: sa.Connection, spec: OutputTable, frame: pl.DataFrame, refresh_id: str
    ) -> None:
        # A plan over the frame: a reason kept in parts is joined a slice at a time.
        rows = joined_reason(frame.lazy()).select(
            pl.lit(refresh_id, dtype=pl.String).alias("refresh_id"), *spec.column_names
        )
        bulk_load(connection, self._qualified(f"{spec.name}_history"), rows)

    def recent_runs(self, limit: int = 10) -> pl.DataFrame:
        """The latest attempts, newest first, with whether each is the current refresh."""
        runs = self.history[REFRESH_RUNS.name]
        query = (
            sa.select(
                runs,
                # No current refresh (only failed attempts so far): false, not null.
                sa.func.coalesce(runs.c.run_id == self.pointer.c.run_id, False).label("is_current"),
            )
            .select_from(runs.outerjoin(self.pointer, runs.c.run_id == self.pointer.c.run_id))
            .order_by(runs.c.finished_at.desc())
            .limit(limit)
        )
        return self._read_runs(query)

    def current_run(self) -> dict[str, object] | None:
        """The run record of the current refresh; None before any refresh was published.

        Read through the pointer, not from the latest attempts: failed attempts after
        the last success must not hide it.
        """
        runs = self.history[REFRESH_RUNS.name]
        query = (
            sa.select(runs)
            .join(self.pointer, runs.c.run_id == self.pointer.c.run_id)
            .where(runs.c.status == "succeeded")
        )
        frame = self._read_runs(query)
        return frame.row(0, named=True) if frame.height else None

    def _read_runs(self, query: sa.Select) -> pl.DataFrame:
        """Rows of a query over refresh_runs; empty before the warehouse has its tables."""
        runs = self.history[REFRESH_RUNS.name]
        try:
            with self.engine.connect() as connection:
                if not sa.inspect(connection).has_table(runs.name, schema=self.metadata.schema):
                    return pl.DataFrame()
                result = connection.execute(query)
                return pl.DataFrame(
                    [tuple(row) for row in result], schema=list(result.keys()), orient="row"
                )
        except sa.exc.SQLAlchemyError as exc:
            raise self._error("cannot read refresh_runs", exc) from None

    def previous_run(self, as_of: date) -> dict[str, object] | None:
        """The run record of the refresh a refresh as of `as_of` is compared with: the
        latest published refresh of an earlier as_of (still held), whatever order
        refreshes were run in; None when there is none."""
        runs = self.history[REFRESH_RUNS.name]
        query = (
            sa.select(runs)
            .where(runs.c.status == "succeeded", runs.c.as_of < as_of, runs.c.pruned_at.is_(None))
            .order_by(runs.c.as_of.desc(), runs.c.finished_at.desc(), runs.c.run_id)
            .limit(1)
        )
        frame = self._read_runs(query)
        return frame.row(0, named=True) if frame.height else None

    def previous_refresh(self, name: str, columns: list[str], as_of: date) -> pl.DataFrame | None:
        """`columns` of table `name` in the refresh a refresh as of `as_of` is compared with
        (see `previous_run`); None when there is none."""
        previous = self.previous_run(as_of)
        if previous is None:
            return None
        table = self.history[name]
        try:
            with self.engine.connect() as connection:
                result = connection.execute(
                    sa.select(*(table.c[c] for c in columns)).where(
                        table.c.refresh_id == previous["refresh_id"]
                    )
                )
                rows = [tuple(row) for row in result]
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(f"cannot read the previous {name}", exc) from None
        return pl.DataFrame(rows, schema=columns, orient="row") if rows else None

    def read_current(self, name: str) -> pl.DataFrame:
        """A current view as a frame (used by the CLI summary and tests)."""
        try:
            with self.engine.connect() as connection:
                result = connection.exec_driver_sql(f"SELECT * FROM {self._qualified(name)}")
                return pl.DataFrame(
                    [tuple(row) for row in result], schema=list(result.keys()), orient="row"
                )
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(f"cannot read {name}", exc) from None

    def dispose(self) -> None:
        """Close the engine's connections."""
        self.engine.dispose()


@contextmanager
def open_warehouse(settings: Settings) -> Iterator[Warehouse]:
    """The configured warehouse, its connections closed on the way out.

    Tasks open it themselves rather than take it as a parameter: Prefect keeps task
    parameters with the run, and an engine kept alive that way outlives the run.
    """
    warehouse = Warehouse(
        settings.warehouse.url.get_secret_value(),
        schema=settings.warehouse.schema_name,
        scale=settings.money.scale,
        lock_timeout_seconds=settings.warehouse.lock_timeout_seconds,
    )
    try:
        yield warehouse
    finally:
        warehouse.dispose()


def _psycopg(error: str) -> tuple[type[Exception], ...]:
    """psycopg's exception class `error`, once psycopg is loaded (nothing before: no
    psycopg error can be raised then). A DuckDB run never loads psycopg, whose import
    costs every command about 0.1 s."""
    module = sys.modules.get("psycopg")
    return () if module is None else (getattr(module, error),)
