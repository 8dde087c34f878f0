"""Publishing to every warehouse kind: DuckDB always, PostgreSQL on the live server.

Each test runs once per backend: whole refreshes become current at once, a rerun
replaces instead of duplicating, a failure mid-load leaves the previous refresh
current, and the tables carry their comments.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from flows.cli import app
from tests.publish_worker import run_for, tables_for
from warehouse import publish as publishing
from warehouse.publish import FAILPOINTS, Warehouse, WarehouseError
from warehouse.tables import CUSTOMER_SEGMENTS, DATA_TABLES, REFRESH_RUNS

MONEY = pl.Decimal(38, 4)


def current_customers(warehouse: Warehouse) -> list[tuple]:
    frame = warehouse.read_current("customer_segments")
    return sorted(frame.select("refresh_id", "customer_id", "revenue").rows())


def test_a_refresh_is_published_and_read_back_exactly(warehouse_url: str) -> None:
    warehouse = Warehouse(warehouse_url, schema="personas", scale=4)
    warehouse.ensure_schema()
    warehouse.publish(tables_for({"00017": "999999999999999.9999", "7": "0"}), run_for("r1", "a"))
    assert current_customers(warehouse) == [
        ("r1", "00017", Decimal("999999999999999.9999")),
        ("r1", "7", Decimal("0.0000")),
    ]
    rows = warehouse.read_current("customer_segments")
    assert rows["reason"].to_list() == ['Hà Nội, "quoted", '] * 2
    assert rows["persona_id"].to_list() == ["", ""]
    assert rows["tier"].to_list() == [None, None]
    warehouse.dispose()


def test_running_the_same_refresh_three_times_replaces_and_never_duplicates(
    warehouse_url: str,
) -> None:
    warehouse = Warehouse(warehouse_url, schema="personas", scale=4)
    warehouse.ensure_schema()
    for attempt in range(3):
        warehouse.publish(tables_for({"a": "1", "b": "2"}), run_for("r1", f"attempt{attempt}"))
    assert current_customers(warehouse) == [("r1", "a", Decimal(1)), ("r1", "b", Decimal(2))]
    with warehouse.engine.connect() as connection:
        history = connection.exec_driver_sql(
            f"SELECT count(*), count(DISTINCT customer_id) FROM "
            f"{warehouse._qualified('customer_segments_history')}"
        ).one()
    assert tuple(history) == (2, 2)
    assert len(warehouse.recent_runs()) == 3  # every attempt is logged
    warehouse.dispose()


def test_a_failure_mid_load_leaves_the_previous_refresh_current(
    warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = Warehouse(warehouse_url, schema="personas", scale=4)
    warehouse.ensure_schema()
    warehouse.publish(tables_for({"old": "1"}), run_for("r1", "a"))
    loaded: list[str] = []
    real_bulk_load = publishing.bulk_load

    def failing_bulk_load(connection: sa.Connection, table: str, frame: pl.DataFrame) -> None:
        real_bulk_load(connection, table, frame)
        loaded.append(table)
        if len(loaded) == 3:  # after customer_segments and two more tables are loaded
            raise sa.exc.OperationalError("INSERT", {}, Exception("disk full"))

    monkeypatch.setattr(publishing, "bulk_load", failing_bulk_load)
    with pytest.raises(WarehouseError, match="previous refresh stays current"):
        warehouse.publish(tables_for({"new": "2"}), run_for("r2", "b"))
    assert current_customers(warehouse) == [("r1", "old", Decimal(1))]
    monkeypatch.setattr(publishing, "bulk_load", real_bulk_load)
    warehouse.publish(tables_for({"new": "2"}), run_for("r2", "c"))  # the next one succeeds
    assert current_customers(warehouse) == [("r2", "new", Decimal(2))]
    warehouse.dispose()


def test_every_history_column_carries_its_comment(warehouse_url: str) -> None:
    warehouse = Warehouse(warehouse_url, schema="personas", scale=4)
    warehouse.ensure_schema()
    with warehouse.engine.connect() as connection:
        if connection.dialect.name == "duckdb":  # its SQLAlchemy inspector cannot read comments
            rows = connection.exec_driver_sql(
                "SELECT column_name, comment FROM duckdb_columns() "
                "WHERE schema_name = 'personas' AND table_name = 'customer_segments_history'"
            ).all()
            comments = dict(rows)
        else:
            columns = sa.inspect(connection).get_columns(
                "customer_segments_history", schema=warehouse.metadata.schema
            )
            comments = {column["name"]: column.get("comment") for column in columns}
    assert all(comments[c] for c in ["refresh_id", *CUSTOMER_SEGMENTS.column_names]), comments
    assert comments["revenue"].startswith("sum of valid order-line amounts")
    warehouse.dispose()


@pytest.mark.postgres
def test_the_full_refresh_publishes_to_postgresql_twice_without_duplicates(
    postgres_url: str, tmp_path: Path, runner: CliRunner
) -> None:
    from importlib import resources

    from sampledata import generate_sample

    generate_sample(tmp_path / "data", customers=400, order_lines=6_000, seed=3)
    template = resources.files("config").joinpath("demo.toml").read_text(encoding="utf-8")
    config = tmp_path / "personas.toml"
    config.write_text(template, encoding="utf-8")
    env = {"PERSONAS_WAREHOUSE__URL": postgres_url}  # the URL is a secret: from the environment
    for _ in range(2):
        result = runner.invoke(
            app, ["refresh", "--config", str(config), "--as-of", "2026-06-30"], env=env
        )
        assert result.exit_code == 0, result.output
    engine = sa.create_engine(postgres_url)
    with engine.connect() as connection:
        counts = connection.exec_driver_sql(
            "SELECT (SELECT count(*) FROM personas.customer_segments), "
            "(SELECT count(DISTINCT customer_id) FROM personas.customer_segments_history), "
            "(SELECT count(*) FROM personas.customer_segments_history), "
            "(SELECT count(*) FROM personas.persona_cards), "
            "(SELECT count(*) FROM personas.refresh_runs_history)"
        ).one()
        best = connection.exec_driver_sql(
            "SELECT count(*) FROM personas.customer_segments WHERE is_best_customer"
        ).scalar_one()
    engine.dispose()
    customers, distinct, history, cards, runs = counts
    assert customers == distinct == history > 300
    assert cards == 1
    assert runs == 2
    assert best > 0


def current_state(warehouse: Warehouse) -> tuple[set[str], list[tuple]]:
    """The refresh ids every current view shows, and the current customers."""
    ids: set[str] = set()
    for spec in (*DATA_TABLES, REFRESH_RUNS):
        frame = warehouse.read_current(spec.name)
        ids |= set(frame["refresh_id"].to_list()) if frame.height else set()
    return ids, current_customers(warehouse)


@pytest.mark.parametrize("moment", FAILPOINTS)
def test_a_failure_at_any_moment_of_publishing_keeps_one_whole_refresh(
    warehouse_url: str, moment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = Warehouse(warehouse_url, schema="personas", scale=4)
    warehouse.ensure_schema()
    warehouse.publish(tables_for({"old": "1"}), run_for("r1", "a"))
    monkeypatch.setenv("PERSONAS_FAILPOINT", f"{moment}:raise")
    with pytest.raises(WarehouseError, match=f"injected failure at '{moment}'"):
        warehouse.publish(tables_for({"new": "2"}), run_for("r2", "b"))
    assert current_state(warehouse) == ({"r1"}, [("r1", "old", Decimal(1))])
    monkeypatch.delenv("PERSONAS_FAILPOINT")
    warehouse.publish(tables_for({"new": "2"}), run_for("r2", "c"))
    assert current_state(warehouse) == ({"r2"}, [("r2", "new", Decimal(2))])
    warehouse.dispose()


def publish_in_a_process(url: str, refresh_id: str, revenues: dict[str, str], failpoint: str = ""):
    env = {k: v for k, v in os.environ.items() if k != "PERSONAS_FAILPOINT"}
    if failpoint:
        env["PERSONAS_FAILPOINT"] = failpoint
    pairs = [f"{customer}={revenue}" for customer, revenue in revenues.items()]
    return subprocess.run(
        [sys.executable, "-m", "tests.publish_worker", url, refresh_id, *pairs],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("moment", FAILPOINTS)
def test_a_refresh_killed_at_any_moment_leaves_one_whole_refresh_current(
    warehouse_url: str, moment: str
) -> None:
    first = publish_in_a_process(warehouse_url, "r1", {"old": "1"})
    assert first.returncode == 0, first.stderr
    killed = publish_in_a_process(warehouse_url, "r2", {"new": "2"}, f"{moment}:kill")
    assert killed.returncode == -signal.SIGKILL
    warehouse = Warehouse(warehouse_url, schema="personas", scale=4)
    assert current_state(warehouse) == ({"r1"}, [("r1", "old", Decimal(1))])
    warehouse.dispose()
    after = publish_in_a_process(warehouse_url, "r2", {"new": "2"})
    assert after.returncode == 0, after.stderr
    warehouse = Warehouse(warehouse_url, schema="personas", scale=4)
    assert current_state(warehouse) == ({"r2"}, [("r2", "new", Decimal(2))])
    warehouse.dispose()


@pytest.mark.postgres
def test_the_documented_grants_let_a_read_only_role_read_the_views(postgres_url: str) -> None:
    warehouse = Warehouse(postgres_url, schema="personas", scale=4)
    warehouse.ensure_schema()
    warehouse.publish(tables_for({"a": "1"}), run_for("r1", "a"))
    warehouse.dispose()
    role = f"bi_reader_{os.getpid()}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA personas TO {role}")
        connection.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA personas TO {role}")
    reader = sa.create_engine(sa.engine.make_url(postgres_url).set(username=role))
    try:
        with reader.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT customer_id FROM personas.customer_segments"
            ).all()
            assert rows == [("a",)]
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                connection.exec_driver_sql("DELETE FROM personas.customer_segments_history")
    finally:
        reader.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP OWNED BY {role}")
            connection.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


def start_publisher(url: str, refresh_id: str, revenues: dict[str, str], **env: str):
    pairs = [f"{customer}={revenue}" for customer, revenue in revenues.items()]
    environment = {k: v for k, v in os.environ.items() if k != "PERSONAS_FAILPOINT"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.publish_worker", url, refresh_id, *pairs],
        env={**environment, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def hold_the_warehouse(url: str, tmp_path: Path, *, seconds: int) -> subprocess.Popen:
    """Start publishing refresh r1 and return once it holds the warehouse, mid-load."""
    mark = tmp_path / "holding-the-warehouse"
    holder = start_publisher(
        url,
        "r1",
        {"one": "1"},
        PERSONAS_FAILPOINT="mid load:hold",
        PERSONAS_FAILPOINT_SECONDS=str(seconds),
        PERSONAS_FAILPOINT_MARK=str(mark),
    )
    deadline = time.monotonic() + 60
    while not mark.exists():
        assert holder.poll() is None, holder.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return holder


# 0 means "do not wait" on both backends (PostgreSQL's own lock_timeout = 0 waits forever)
@pytest.mark.parametrize(("wait_seconds", "second_wins"), [(60, True), (0.5, False), (0, False)])
def test_two_refreshes_at_once_one_waits_or_says_locked_and_nothing_tears(
    warehouse_url: str, tmp_path: Path, wait_seconds: float, second_wins: bool
) -> None:
    first = hold_the_warehouse(warehouse_url, tmp_path, seconds=4)
    second = start_publisher(
        warehouse_url, "r2", {"two": "2"}, LOCK_TIMEOUT_SECONDS=str(wait_seconds)
    )
    _, second_errors = second.communicate(timeout=120)
    _, first_errors = first.communicate(timeout=120)
    assert first.returncode == 0, first_errors
    warehouse = Warehouse(warehouse_url, schema="personas", scale=4)
    if second_wins:  # it waited for the first, then published on top of it
        assert second.returncode == 0, second_errors
        assert current_state(warehouse) == ({"r2"}, [("r2", "two", Decimal(2))])
    else:
        assert second.returncode == 1
        assert "locked: " in second_errors
        assert f"; waited {wait_seconds:g} s" in second_errors
        if warehouse_url.startswith("duckdb"):  # it says which process holds the file
            assert "another process holds the DuckDB file (PID " in second_errors
        assert current_state(warehouse) == ({"r1"}, [("r1", "one", Decimal(1))])
    warehouse.dispose()


def test_a_lock_held_by_a_killed_refresh_is_released(warehouse_url: str, tmp_path: Path) -> None:
    holder = hold_the_warehouse(warehouse_url, tmp_path, seconds=600)
    holder.send_signal(signal.SIGKILL)  # dies holding the lock, mid-load
    holder.communicate(timeout=60)
    started = time.monotonic()
    after = start_publisher(warehouse_url, "r2", {"two": "2"}, LOCK_TIMEOUT_SECONDS="20")
    _, errors = after.communicate(timeout=120)
    assert after.returncode == 0, errors
    assert time.monotonic() - started < 20  # it did not wait out the timeout
    warehouse = Warehouse(warehouse_url, schema="personas", scale=4)
    assert current_state(warehouse) == ({"r2"}, [("r2", "two", Decimal(2))])
    warehouse.dispose()


@pytest.mark.postgres
def test_a_bi_query_on_a_current_view_reads_one_refresh_through_the_index(
    postgres_url: str,
) -> None:
    warehouse = Warehouse(postgres_url, schema="personas", scale=4)
    warehouse.ensure_schema()
    for n in range(40):  # 40 refreshes of 500 customers: history worth indexing
        customers = {f"c{i:04d}": str(i) for i in range(500)}
        warehouse.publish(tables_for(customers), run_for(f"r{n:02d}", f"run{n:02d}"))
    with warehouse.engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        plan = "\n".join(
            connection.exec_driver_sql(
                "EXPLAIN SELECT customer_id, revenue FROM personas.customer_segments "
                "WHERE customer_id = 'c0042'"
            ).scalars()
        )
        whole = "\n".join(
            connection.exec_driver_sql("EXPLAIN SELECT * FROM personas.customer_segments").scalars()
        )
    for explained in (plan, whole):
        assert "ix_customer_segments_history_refresh" in explained, explained
        assert "Seq Scan on customer_segments_history" not in explained, explained
    assert warehouse.read_current("customer_segments").height == 500
    warehouse.dispose()


@pytest.mark.postgres
def test_a_copy_the_server_refuses_is_one_warehouse_error(postgres_url: str) -> None:
    warehouse = Warehouse(postgres_url, schema="personas", scale=4)
    warehouse.ensure_schema()
    table = warehouse._qualified("customer_segments_history")
    copying = f"COPY {table} (refresh_id, revenue) FROM STDIN (FORMAT csv)"
    with (
        pytest.raises(WarehouseError) as caught,
        warehouse.writing("publishing failed") as connection,
    ):
        cursor = connection.connection.driver_connection.cursor()
        with cursor.copy(copying) as copy:
            copy.write(b'"r1","not a number"\n')
    message = str(caught.value)
    assert message.startswith("warehouse postgresql+psycopg://postgres@")
    assert "publishing failed: invalid input syntax for type numeric" in message
    assert "\n" not in message
    warehouse.dispose()


@pytest.mark.postgres
def test_a_dropped_postgresql_connection_is_transient_and_a_refused_statement_is_not(
    postgres_url: str,
) -> None:
    import psycopg  # loaded by the PostgreSQL engine; a DuckDB run never loads it

    warehouse = Warehouse(postgres_url, schema="personas", scale=4)
    dropped = warehouse._error("publishing failed", psycopg.OperationalError("server closed"))
    refused = warehouse._error("publishing failed", psycopg.errors.UndefinedTable("no table"))
    assert (dropped.transient, refused.transient) == (True, False)
    assert str(dropped).endswith("publishing failed: server closed")
    with (
        pytest.raises(WarehouseError, match="cannot write: no table"),
        warehouse.writing("cannot write"),
    ):
        raise psycopg.errors.UndefinedTable("no table")


def _memory_limit(connection: sa.Connection) -> str:
    return connection.exec_driver_sql(
        "SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'"
    ).scalar_one()


def _limits_seen_while_loading(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, *, fails: bool = False
) -> set[str]:
    """DuckDB's memory limit as each table of a refresh is loaded."""
    seen: set[str] = set()
    real_bulk_load = publishing.bulk_load

    def watched(connection: sa.Connection, table: str, rows: pl.LazyFrame) -> None:
        seen.add(_memory_limit(connection))
        if fails:
            raise sa.exc.OperationalError("INSERT", {}, Exception("disk full"))
        real_bulk_load(connection, table, rows)

    with monkeypatch.context() as patch:
        patch.setattr(publishing, "bulk_load", watched)
        warehouse.publish(tables_for({"a": "1"}), run_for("r1", f"{fails}{len(seen)}"))
    return seen


@pytest.mark.parametrize("fails", [False, True])
def test_duckdb_loads_a_refresh_in_bounded_memory_and_gets_its_own_limit_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    """While a refresh is loaded DuckDB's memory limit is DUCKDB_LOAD_MEMORY (it writes
    the new rows out rather than holding them); after it, loaded or failed, it is
    DuckDB's own limit again, exactly (twice over: nothing creeps)."""
    warehouse = Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}", schema="personas", scale=4)
    warehouse.ensure_schema()
    with warehouse.engine.connect() as connection:
        own = _memory_limit(connection)
    assert own == publishing._default_duckdb_memory_limit()
    for _ in range(2):
        if fails:
            with pytest.raises(WarehouseError, match="previous refresh stays current"):
                _limits_seen_while_loading(warehouse, monkeypatch, fails=True)
        else:
            assert _limits_seen_while_loading(warehouse, monkeypatch) == {"256.0 MiB"}
            assert current_customers(warehouse) == [("r1", "a", Decimal(1))]
        with warehouse.engine.connect() as connection:
            assert _memory_limit(connection) == own
    warehouse.dispose()


@pytest.mark.parametrize("limit", ["100.0 MiB", "3.0 GiB", "16383.9 PiB"])
def test_a_duckdb_memory_limit_someone_set_is_left_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str
) -> None:
    """Lower or higher than the bound, or none at all ('-1'): the setting is theirs."""
    warehouse = Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}", schema="personas", scale=4)
    warehouse.ensure_schema()
    with warehouse.engine.connect() as connection:
        connection.exec_driver_sql(f"SET memory_limit = '{'-1' if 'PiB' in limit else limit}'")
        assert _memory_limit(connection) == limit
    assert _limits_seen_while_loading(warehouse, monkeypatch) == {limit}
    with warehouse.engine.connect() as connection:
        assert _memory_limit(connection) == limit
    warehouse.dispose()


def test_an_in_memory_duckdb_keeps_its_memory_limit_while_loading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its rows have nowhere else to go: bounded, a large load would fail."""
    warehouse = Warehouse("duckdb:///:memory:", schema="personas", scale=4)
    warehouse.ensure_schema()
    own = publishing._default_duckdb_memory_limit()
    assert _limits_seen_while_loading(warehouse, monkeypatch) == {own}
    assert current_customers(warehouse) == [("r1", "a", Decimal(1))]
    warehouse.dispose()
