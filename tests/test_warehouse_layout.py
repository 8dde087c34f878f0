"""The warehouse layout on both backends: comments BI tools show, schema versions, migration.

A warehouse records its layout version; one written before versions existed
(version 1) is migrated in place with its current refresh still readable; one
written by a newer personas, or a schema holding someone else's tables, is
refused with a clear message.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.publish_worker import run_for, tables_for
from warehouse.layout import SCHEMA_VERSION, view_comment
from warehouse.publish import Warehouse, WarehouseError
from warehouse.tables import CUSTOMER_SEGMENTS, OUTPUT_TABLES, REFRESH_RUNS, history_index_name


def comments_of(connection: sa.Connection, name: str) -> tuple[str | None, dict[str, str | None]]:
    """The comment of table or view `personas.name` and of each of its columns."""
    if connection.dialect.name == "duckdb":
        relation = connection.exec_driver_sql(
            "SELECT comment FROM duckdb_tables() WHERE schema_name = 'personas' "
            f"AND table_name = '{name}' UNION ALL SELECT comment FROM duckdb_views() "
            f"WHERE schema_name = 'personas' AND view_name = '{name}'"
        ).scalar_one()
        columns = connection.exec_driver_sql(
            "SELECT column_name, comment FROM duckdb_columns() "
            f"WHERE schema_name = 'personas' AND table_name = '{name}'"
        ).all()
    else:
        relation = connection.exec_driver_sql(
            f"SELECT obj_description('personas.{name}'::regclass, 'pg_class')"
        ).scalar_one()
        columns = connection.exec_driver_sql(
            f"SELECT attname, col_description(attrelid, attnum) FROM pg_attribute "
            f"WHERE attrelid = 'personas.{name}'::regclass AND attnum > 0 AND NOT attisdropped"
        ).all()
    return relation, dict(columns)


def test_every_view_and_view_column_carries_the_comment_bi_tools_show(
    warehouse_url: str,
) -> None:
    warehouse = Warehouse(warehouse_url, schema="personas", scale=4)
    warehouse.ensure_schema()
    with warehouse.engine.connect() as connection:
        for spec in OUTPUT_TABLES:
            view, columns = comments_of(connection, spec.name)
            assert view == view_comment(spec)
            assert set(columns) == {"refresh_id", *spec.column_names}
            assert all(columns.values()), (spec.name, columns)
        view, columns = comments_of(connection, "customer_segments")
    assert view.startswith("customer_segments of the current refresh. Grain: one customer")
    assert (
        columns["revenue"]
        == next(c for c in CUSTOMER_SEGMENTS.columns if c.name == "revenue").description
    )
    assert columns["pareto_class"].startswith("A: shortest prefix to 80% of revenue")
    warehouse.dispose()


def recorded_versions(warehouse: Warehouse) -> list[int]:
    with warehouse.engine.connect() as connection:
        return list(
            connection.exec_driver_sql(
                f"SELECT version FROM {warehouse._qualified('_schema_version')} ORDER BY version"
            ).scalars()
        )


def test_a_new_warehouse_records_its_schema_version_once(warehouse_url: str) -> None:
    warehouse = Warehouse(warehouse_url, schema="personas", scale=4)
    change = warehouse.ensure_schema()
    assert str(change) == f"created the output tables (schema version {SCHEMA_VERSION})"
    assert warehouse.ensure_schema() is None  # already current: no DDL at all
    assert recorded_versions(warehouse) == [SCHEMA_VERSION]
    warehouse.dispose()


def history_indexes(warehouse: Warehouse) -> set[str]:
    """The names of the indexes in the warehouse's schema."""
    with warehouse.engine.connect() as connection:
        if connection.dialect.name == "duckdb":
            query = "SELECT index_name FROM duckdb_indexes() WHERE schema_name = 'personas'"
        else:
            query = "SELECT indexname FROM pg_indexes WHERE schemaname = 'personas'"
        return set(connection.exec_driver_sql(query).scalars())


ALL_INDEXES = {history_index_name(spec) for spec in OUTPUT_TABLES}


def indexed_here(warehouse: Warehouse) -> set[str]:
    """The history indexes a current warehouse has: all of them, none on DuckDB."""
    return set() if warehouse.engine.dialect.name == "duckdb" else ALL_INDEXES


def test_a_version_7_duckdb_warehouse_loses_its_history_indexes_and_republishes(
    tmp_path: Path,
) -> None:
    warehouse = with_one_refresh(f"duckdb:///{tmp_path / 'w.duckdb'}")
    with warehouse.engine.begin() as connection:
        for spec in OUTPUT_TABLES:  # as version 7 made them
            connection.exec_driver_sql(
                f"CREATE INDEX {history_index_name(spec)} ON "
                f"{warehouse._qualified(spec.name + '_history')} (refresh_id)"
            )
        connection.exec_driver_sql(
            f"DELETE FROM {warehouse._qualified('_schema_version')} WHERE version > 7"
        )
        connection.exec_driver_sql(
            f"INSERT INTO {warehouse._qualified('_schema_version')} VALUES "
            "(7, TIMESTAMP '2026-11-01 00:00:00', '0.1.0')"
        )
    assert history_indexes(warehouse) >= ALL_INDEXES
    assert str(warehouse.ensure_schema()) == f"migrated from schema version 7 to {SCHEMA_VERSION}"
    assert not history_indexes(warehouse) & ALL_INDEXES
    # a rerun of the same refresh replaces its rows
    warehouse.publish(tables_for({"again": "3"}), run_for("r1", "b"))
    customers = warehouse.read_current("customer_segments")
    assert customers.select("refresh_id", "customer_id").rows() == [("r1", "again")]
    warehouse.dispose()


def with_one_refresh(warehouse_url: str) -> Warehouse:
    """A current warehouse holding one refresh (r1) of one customer ("old")."""
    warehouse = Warehouse(warehouse_url, schema="personas", scale=4)
    warehouse.ensure_schema()
    warehouse.publish(tables_for({"old": "1"}), run_for("r1", "a"))
    return warehouse


def downgrade_to_version_3(warehouse: Warehouse) -> None:
    """Turn a current warehouse into version 3's layout: no history indexes, no
    attribute_mix."""
    with warehouse.engine.begin() as connection:
        for spec in OUTPUT_TABLES:
            connection.exec_driver_sql(
                f"DROP INDEX IF EXISTS {warehouse._qualified(history_index_name(spec))}"
            )
        connection.exec_driver_sql(f"DROP VIEW {warehouse._qualified('attribute_mix')}")
        connection.exec_driver_sql(f"DROP TABLE {warehouse._qualified('attribute_mix_history')}")
        connection.exec_driver_sql(
            f"DELETE FROM {warehouse._qualified('_schema_version')} WHERE version > 3"
        )
        connection.exec_driver_sql(
            f"INSERT INTO {warehouse._qualified('_schema_version')} VALUES "
            "(3, TIMESTAMP '2026-01-01 00:00:00', '0.1.0')"
        )


def test_a_version_3_warehouse_gains_its_indexes_and_attribute_mix(warehouse_url: str) -> None:
    warehouse = with_one_refresh(warehouse_url)
    downgrade_to_version_3(warehouse)
    assert not history_indexes(warehouse) & {history_index_name(s) for s in OUTPUT_TABLES}
    change = warehouse.ensure_schema()
    assert str(change) == f"migrated from schema version 3 to {SCHEMA_VERSION}"
    assert history_indexes(warehouse) & ALL_INDEXES == indexed_here(warehouse)
    assert warehouse.read_current("attribute_mix").height == 0
    assert warehouse.read_current("customer_segments")["customer_id"].to_list() == ["old"]
    warehouse.dispose()


def downgrade_to_version_5(warehouse: Warehouse) -> None:
    """Turn a current warehouse into version 5's layout: no predicted customer value."""
    segments = warehouse._qualified("customer_segments_history")
    with warehouse.engine.begin() as connection:
        for view in ("customer_segments", "clv_model"):
            connection.exec_driver_sql(f"DROP VIEW {warehouse._qualified(view)}")
        connection.exec_driver_sql(f"DROP TABLE {warehouse._qualified('clv_model_history')}")
        index = warehouse._qualified(history_index_name(CUSTOMER_SEGMENTS))
        connection.exec_driver_sql(f"DROP INDEX IF EXISTS {index}")  # DuckDB: none to alter
        for column in ("p_alive", "expected_purchases", "predicted_clv"):
            connection.exec_driver_sql(f"ALTER TABLE {segments} DROP COLUMN {column}")
        connection.exec_driver_sql(
            f"DELETE FROM {warehouse._qualified('_schema_version')} WHERE version > 5"
        )
        connection.exec_driver_sql(
            f"INSERT INTO {warehouse._qualified('_schema_version')} VALUES "
            "(5, TIMESTAMP '2026-06-01 00:00:00', '0.1.0')"
        )


def test_a_version_5_warehouse_gains_the_predicted_value_with_nulls_for_old_refreshes(
    warehouse_url: str,
) -> None:
    warehouse = with_one_refresh(warehouse_url)
    downgrade_to_version_5(warehouse)
    change = warehouse.ensure_schema()
    assert str(change) == f"migrated from schema version 5 to {SCHEMA_VERSION}"
    customers = warehouse.read_current("customer_segments")
    assert customers.select(
        "customer_id", "p_alive", "expected_purchases", "predicted_clv"
    ).rows() == [("old", None, None, None)]
    assert warehouse.read_current("clv_model").height == 0
    assert history_indexes(warehouse) & ALL_INDEXES == indexed_here(warehouse)
    warehouse.dispose()


def downgrade_to_version_1(warehouse: Warehouse) -> None:
    """Turn a current warehouse into the layout personas wrote before versions existed."""
    downgrade_to_version_3(warehouse)
    runs = warehouse._qualified("refresh_runs_history")
    v1_columns = [
        c for c in REFRESH_RUNS.column_names if c not in ("personas_version", "pruned_at")
    ]
    with warehouse.engine.begin() as connection:
        connection.exec_driver_sql(f"DROP VIEW {warehouse._qualified('refresh_runs')}")
        connection.exec_driver_sql(f"DROP TABLE {warehouse._qualified('_schema_version')}")
        connection.exec_driver_sql(f"DROP VIEW {warehouse._qualified('quarantine')}")
        connection.exec_driver_sql(f"DROP TABLE {warehouse._qualified('quarantine_history')}")
        for column in ("personas_version", "pruned_at"):
            connection.exec_driver_sql(f"ALTER TABLE {runs} DROP COLUMN {column}")
        select = ", ".join(f"h.{c}" for c in ["refresh_id", *v1_columns])
        connection.exec_driver_sql(
            f"CREATE VIEW {warehouse._qualified('refresh_runs')} AS SELECT {select} "
            f"FROM {runs} AS h JOIN {warehouse._qualified('_current_refresh')} AS p "
            "ON h.run_id = p.run_id"
        )


def test_a_version_1_warehouse_is_migrated_and_keeps_its_current_refresh(
    warehouse_url: str,
) -> None:
    warehouse = with_one_refresh(warehouse_url)
    downgrade_to_version_1(warehouse)
    warehouse.dispose()

    warehouse = Warehouse(warehouse_url, schema="personas", scale=4)
    change = warehouse.ensure_schema()
    assert str(change) == f"migrated from schema version 1 to {SCHEMA_VERSION}"
    assert warehouse.read_current("quarantine").height == 0  # version 3's table exists now
    assert recorded_versions(warehouse) == [SCHEMA_VERSION]
    assert history_indexes(warehouse) & ALL_INDEXES == indexed_here(warehouse)
    runs = warehouse.read_current("refresh_runs")
    assert runs.select("refresh_id", "personas_version", "pruned_at").rows() == [("r1", None, None)]
    customers = warehouse.read_current("customer_segments")
    assert customers.select("refresh_id", "customer_id", "revenue").rows() == [
        ("r1", "old", Decimal(1))
    ]
    with warehouse.engine.connect() as connection:
        _, history_columns = comments_of(connection, "refresh_runs_history")
    assert history_columns["pruned_at"].startswith("when retention removed")
    warehouse.publish(tables_for({"new": "2"}), run_for("r2", "b"))
    assert warehouse.read_current("refresh_runs")["personas_version"].item()  # now recorded
    warehouse.dispose()


def test_a_warehouse_from_a_newer_personas_is_refused(warehouse_url: str) -> None:
    warehouse = Warehouse(warehouse_url, schema="personas", scale=4)
    warehouse.ensure_schema()
    warehouse.publish(tables_for({"kept": "1"}), run_for("r1", "a"))
    with warehouse.engine.begin() as connection:
        connection.exec_driver_sql(
            f"INSERT INTO {warehouse._qualified('_schema_version')} VALUES "
            f"({SCHEMA_VERSION + 1}, TIMESTAMP '2030-01-01 00:00:00', '9.0.0')"
        )
    expected = (
        f"schema personas was written by a newer personas \\(schema version {SCHEMA_VERSION + 1}\\)"
        ".*upgrade personas, or set warehouse.schema to another schema"
    )
    with pytest.raises(WarehouseError, match=expected):
        warehouse.ensure_schema()
    assert warehouse.read_current("customer_segments")["customer_id"].to_list() == ["kept"]
    warehouse.dispose()


def test_a_schema_holding_tables_personas_did_not_create_is_refused(warehouse_url: str) -> None:
    warehouse = Warehouse(warehouse_url, schema="personas", scale=4)
    with warehouse.engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {warehouse.quoted_schema}")
        connection.exec_driver_sql(
            f"CREATE TABLE {warehouse._qualified('customer_segments')} (id INTEGER)"
        )
    with pytest.raises(WarehouseError, match="already holds tables personas did not create"):
        warehouse.ensure_schema()
    warehouse.dispose()
