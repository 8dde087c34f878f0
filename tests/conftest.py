"""Shared fixtures: a real temporary Prefect API, small input files, and CLI runners."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import duckdb
import polars as pl
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# A wide terminal for every CLI output the tests read, set before the CLI's console is
# made: pytest-xdist gives its workers COLUMNS=80, which Rich would keep for good.
os.environ["COLUMNS"] = "200"
# Spark's driver JVM, in every test process and every refresh a test starts, compiles
# with the quick compiler only and collects garbage on one thread: the tests' jobs are
# small and short-lived, so the optimising compiler's work would never pay back (the
# Splink-on-Spark test: 65 core-seconds instead of 97, in the same time; the Spark
# engine adds its own logging option after these).
os.environ.setdefault("SPARK_SUBMIT_OPTS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
# Prefect configures its log handlers on import. Importing it here, while pytest's
# session-wide capture is in place, keeps the handlers off the per-test streams that
# the CLI runner closes after each invocation.
from prefect import flow  # noqa: F401


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A temporary Prefect API server for the whole session; yields its URL."""
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())


@contextmanager
def no_prefect_api() -> Iterator[None]:
    """The CLI run in this process sees no Prefect API (the common path: a refresh runs
    directly), even where this worker started the temporary API."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        yield


def _runner_without_api() -> CliRunner:
    # a wide terminal: tables print unfolded; no API from the environment either
    return CliRunner(env={"COLUMNS": "200", "PREFECT_API_URL": None})


@pytest.fixture
def runner() -> Iterator[CliRunner]:
    """Runs the CLI in this process as a user with no Prefect API configured."""
    with no_prefect_api():
        yield _runner_without_api()


def invoke_without_prefect(args: list[str], env: dict[str, str] | None = None) -> Result:
    """`personas ARGS` in this process as the `runner` fixture runs it (no Prefect API),
    for module fixtures and helpers, which cannot take a test's fixture."""
    from flows.cli import app

    with no_prefect_api():
        return _runner_without_api().invoke(app, args, env=env)


@pytest.fixture
def flow_runner(prefect_api: str) -> CliRunner:
    """Runs the CLI in this process against the temporary Prefect API: a refresh runs as
    the Prefect flow."""
    return CliRunner(env={"COLUMNS": "200"})


POSTGRES_ADMIN_URL = os.environ.get(
    "PERSONAS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database on the live server, dropped afterwards."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            name = f"personas_test_{uuid.uuid4().hex[:10]}"
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required under CI and is not reachable: {exc}")
        pytest.skip("no PostgreSQL server reachable (set CI=true to make this a failure)")
    url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh warehouse of each kind: a DuckDB file, then a new PostgreSQL database."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    return request.getfixturevalue("postgres_url")


def run_cli(
    args: list[str], *, prefect_api: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `personas ARGS` as a user would, in a subprocess."""
    environment = {
        **os.environ,
        "PREFECT_API_URL": prefect_api,
        "PYTHONIOENCODING": "utf-8",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def without_prefect(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a user with no Prefect server configured (nothing of Prefect's
    outside tmp_path), plus `extra` variables."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    environment["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    return {**environment, **extra}


def run_without_prefect(
    args: list[str], *, cwd: Path, python_flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run `personas ARGS` in a subprocess as a user with no Prefect server configured."""
    return python_without_prefect([*python_flags, "-m", "flows.cli", *args], cwd=cwd)


def python_without_prefect(args: list[str], *, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `python ARGS` in a subprocess as a user with no Prefect server configured."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=without_prefect(cwd),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture
def uninstalled(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Make a package look uninstalled (importlib finds no spec for it) for one test."""
    import importlib.util

    def hide(module: str) -> None:
        found = importlib.util.find_spec
        monkeypatch.setattr(
            importlib.util, "find_spec", lambda name: None if name == module else found(name)
        )

    return hide


def write(path: Path, text: str) -> Path:
    """Write a text file (UTF-8), creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


ORDERS_CSV = """customer_id,order_id,order_date,amount,status
00017,A,2024-01-01,100,completed
00017,B,2024-02-01,30,refunded
00018,C,2024-03-01,500,completed
00019,D,2024-03-02,50,completed
00019,E,2024-03-05,999,cancelled
"""


@pytest.fixture
def orders_only(tmp_path: Path) -> Path:
    """A config with orders alone; returns the config path."""
    write(tmp_path / "data" / "orders.csv", ORDERS_CSV)
    return write(
        tmp_path / "personas.toml",
        '[sources.orders]\npath = "data/orders.csv"\n',
    )


def refresh_customer_records(
    folder: Path, records: pl.DataFrame, orders: pl.DataFrame, settings: str = ""
) -> None:
    """Refresh planted customer records (`sampledata.duplicates`, the truth column left
    out) with their `orders`, in this process as a user with no Prefect server; `settings`
    is TOML added to the config. The refresh must succeed."""
    folder.mkdir(parents=True, exist_ok=True)
    records.drop("true_customer").write_csv(folder / "customers.csv")
    orders.write_csv(folder / "orders.csv")
    config = write(
        folder / "personas.toml",
        '[sources.orders]\npath = "orders.csv"\n[sources.customers]\npath = "customers.csv"\n'
        + settings,
    )
    done = invoke_without_prefect(["refresh", "--config", str(config), "--as-of", "2024-06-30"])
    assert done.exit_code == 0, done.output[-3000:]


def read_view(config_dir: Path, sql: str) -> list[tuple]:
    """Query the DuckDB warehouse next to a test config, read-only, as a BI tool would."""
    database = config_dir / "warehouse" / "warehouse.duckdb"
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.sql(sql).fetchall()


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:  # the http.server API names it so
        length = int(self.headers["Content-Length"])
        Receiver.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:  # keep the test output quiet
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A local HTTP server; yields its URL and the JSON bodies it received."""
    Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook?token=s3cret", Receiver.received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def java() -> None:
    """Java for the Spark engine's tests: skipped without it, a failure under CI."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        if os.environ.get("CI"):
            pytest.fail("the Spark engine's tests need Java 17 under CI and none is installed")
        pytest.skip("no Java: the Spark engine cannot start (set CI=true to make this a failure)")
