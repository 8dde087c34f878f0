"""The warehouse's layout: create it, record its schema version, migrate it or refuse.

Produces the objects personas owns in its schema: the `<table>_history`
tables, the `_current_refresh` pointer, the plain views over them, a comment
on every table, view and column (what BI tools show), and `_schema_version`,
the log of layout versions applied. A warehouse written by an older personas
is migrated forward in one transaction; one written by a newer personas, or a
schema holding tables of the same names that personas did not create, is
refused with a clear message.

Schema versions:

1. history tables, pointer and views (personas 0.1 before versioning: no
   `_schema_version` table).
2. `_schema_version`; `refresh_runs` gains `personas_version` and `pruned_at`;
   the views and their columns carry comments.
3. `quarantine` (with `quarantine_history`): the input rows set aside.
4. every `<table>_history` has an index on (refresh_id, its lookup columns), so a
   BI query on a current view reads one refresh, not all of history;
   `attribute_mix` (with `attribute_mix_history`): the population mix of every
   company attribute, the drift monitor's baseline.
5. tiers by purchase size: `tier_summary` renames revenue / revenue_share to
   sales_revenue / sales_share (under the customer-level rules of before, a
   tier's sales are its customers' revenue) and gains bounds, purchases,
   buying customers, the preference measures and the key tier's reason;
   `customer_segments` gains key_tier_revenue; `personas` gains p_value and
   q_value; `persona_cards` gains profile_note and what the best customers buy
   and how they behave (top_purchases, repeat rates, median order values). Rows
   of older refreshes have nulls in the new columns.
6. predicted customer value: `customer_segments` gains p_alive,
   expected_purchases and predicted_clv; `clv_model` (with `clv_model_history`):
   the fitted parameters and diagnostics. Older refreshes: null, no rows.
7. Excel sources: `quarantine` gains `sheet` (older refreshes: null);
   `customer_identity` and `identity_review` (with their history tables): which
   customers records were resolved to one customer, and the uncertain pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib.metadata import PackageNotFoundError, version

import sqlalchemy as sa
from sqlalchemy.schema import CreateColumn, SetColumnComment, SetTableComment

from warehouse.tables import (
    CURRENT_POINTER,
    OUTPUT_TABLES,
    REFRESH_ID,
    REFRESH_RUNS,
    OutputTable,
    history_index_name,
    indexes_history,
)

SCHEMA_VERSION = 8
VERSION_TABLE = "_schema_version"
# Dialects that speak COMMENT ON (others keep their tables, without comments).
COMMENT_ON_DIALECTS = ("postgresql", "duckdb")
# Dialects whose drivers run several statements sent as one text (psycopg and DuckDB do;
# sqlite3 refuses, MySQL's drivers need a flag).
MULTI_STATEMENT_DIALECTS = ("postgresql", "duckdb")


@cache
def personas_version() -> str:
    """The installed personas package version (recorded with runs and migrations)."""
    try:
        return version("personas")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


class LayoutError(Exception):
    """The schema cannot be used by this personas: written by a newer one, or not ours."""


@dataclass(frozen=True)
class Layout:
    """Everything the DDL needs to know about one warehouse schema."""

    metadata: sa.MetaData
    history: dict[str, sa.Table]
    pointer: sa.Table
    versions: sa.Table
    quote: Callable[[str], str]  # identifier -> quoted for the dialect
    qualified: Callable[[str], str]  # table or view name -> quoted, schema-qualified name
    schema_label: str  # the schema as users configured it, for messages


def version_table(metadata: sa.MetaData) -> sa.Table:
    """`_schema_version`: one row per layout version applied to this schema."""
    return sa.Table(
        VERSION_TABLE,
        metadata,
        sa.Column("version", sa.Integer, nullable=False, comment="layout version applied"),
        sa.Column("applied_at", sa.DateTime, nullable=False, comment="when (UTC)"),
        sa.Column("personas_version", sa.String, comment="the personas that applied it"),
        comment="Layout versions of this schema; the highest is the current one.",
    )


@dataclass(frozen=True)
class LayoutChange:
    """What `ensure_layout` did: created the schema, or migrated it from an older version."""

    from_version: int | None
    to_version: int

    def __str__(self) -> str:
        if self.from_version is None:
            return f"created the output tables (schema version {self.to_version})"
        return f"migrated from schema version {self.from_version} to {self.to_version}"


def ensure_layout(connection: sa.Connection, layout: Layout) -> LayoutChange | None:
    """Bring the schema to SCHEMA_VERSION; None when it already is (no DDL at all)."""
    found = found_version(connection, layout)
    if found == SCHEMA_VERSION:
        return None
    if found is not None and found > SCHEMA_VERSION:
        raise LayoutError(
            f"schema {layout.schema_label} was written by a newer personas (schema version "
            f"{found}); personas {personas_version()} knows up to version {SCHEMA_VERSION}: "
            "upgrade personas, or set warehouse.schema to another schema"
        )
    for step in range(found or SCHEMA_VERSION, SCHEMA_VERSION):
        if step in _MIGRATIONS:  # steps that only add tables need none: create_all adds them
            _MIGRATIONS[step](connection, layout)
    layout.metadata.create_all(connection, checkfirst=True)
    if found is not None:
        _check_columns(connection, layout)
        _comment_tables(connection, layout)
    _execute_script(
        connection,
        [
            *(_view_sql(spec, layout) for spec in OUTPUT_TABLES),
            # after the views: DuckDB drops a view's comments when it replaces the view
            *(
                comment
                for spec in OUTPUT_TABLES
                for comment in _view_comments(connection.dialect.name, spec, layout)
            ),
        ],
    )
    connection.execute(
        layout.versions.insert().values(
            version=SCHEMA_VERSION,
            applied_at=datetime.now(UTC).replace(tzinfo=None),
            personas_version=personas_version(),
        )
    )
    return LayoutChange(found, SCHEMA_VERSION)


def found_version(connection: sa.Connection, layout: Layout) -> int | None:
    """The schema's layout version; None for a schema without personas tables."""
    inspector = sa.inspect(connection)
    tables = set(inspector.get_table_names(schema=layout.metadata.schema))
    if VERSION_TABLE in tables:
        return connection.execute(sa.select(sa.func.max(layout.versions.c.version))).scalar()
    if CURRENT_POINTER in tables or REFRESH_RUNS.name + "_history" in tables:
        return 1  # the layout from before versions were recorded
    clashes = sorted(tables & {spec.name for spec in OUTPUT_TABLES})
    if clashes:
        raise LayoutError(
            f"schema {layout.schema_label} already holds tables personas did not create "
            f"({', '.join(clashes)}): set warehouse.schema to a schema of its own"
        )
    return None


def _add_refresh_run_columns(connection: sa.Connection, layout: Layout) -> None:
    """Version 1 -> 2: refresh_runs gains personas_version and pruned_at."""
    _add_columns(connection, layout, REFRESH_RUNS.name, ["personas_version", "pruned_at"])


def _index_history_tables(connection: sa.Connection, layout: Layout) -> None:
    """Version 3 -> 4: index every existing history table on (refresh_id, lookup columns)
    (`create_all` indexes only the tables it creates, such as attribute_mix_history)."""
    if not indexes_history(dialect=connection.dialect):
        return
    present = set(sa.inspect(connection).get_table_names(schema=layout.metadata.schema))
    for table in layout.history.values():
        if table.name not in present:
            continue
        for index in table.indexes:
            columns = ", ".join(layout.quote(column.name) for column in index.columns)
            connection.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS {layout.quote(str(index.name))} "
                f"ON {layout.qualified(table.name)} ({columns})"
            )


_RENAMED_IN_5 = {"tier_summary": {"revenue": "sales_revenue", "revenue_share": "sales_share"}}
_ADDED_IN_5 = {
    "tier_summary": [
        "lower_bound",
        "upper_bound",
        "bounds_basis",
        "purchases",
        "buying_customers",
        "deal_days",
        "deal_days_basis",
        "paid_on_time_share",
        "repeat_rate",
        "decided_by",
        "key_reason",
    ],
    "customer_segments": ["key_tier_revenue"],
    "personas": ["p_value", "q_value"],
    "persona_cards": [
        "profile_note",
        "top_purchases",
        "best_repeat_rate",
        "others_repeat_rate",
        "best_median_order_value",
        "others_median_order_value",
    ],
}


_ADDED_IN_6 = {"customer_segments": ["p_alive", "expected_purchases", "predicted_clv"]}
_ADDED_IN_7 = {"quarantine": ["sheet"]}


def _sales_tiers(connection: sa.Connection, layout: Layout) -> None:
    """Version 4 -> 5: the tier, persona and card columns of tiers by purchase size."""
    _alter_history_tables(connection, layout, _ADDED_IN_5, _RENAMED_IN_5)


def _customer_value(connection: sa.Connection, layout: Layout) -> None:
    """Version 5 -> 6: customer_segments gains the predicted customer value (clv_model is
    a new table: `create_all` creates it)."""
    _alter_history_tables(connection, layout, _ADDED_IN_6, {})


def _excel_sheets(connection: sa.Connection, layout: Layout) -> None:
    """Version 6 -> 7: a quarantined row of an Excel source names its sheet
    (customer_identity is a new table: `create_all` creates it)."""
    _alter_history_tables(connection, layout, _ADDED_IN_7, {})


def _alter_history_tables(
    connection: sa.Connection,
    layout: Layout,
    added: dict[str, list[str]],
    renamed: dict[str, dict[str, str]],
) -> None:
    """Rename and add columns of existing history tables.

    The views go first (PostgreSQL cannot replace a view whose columns move; they are
    recreated after every migration) and so do the history indexes of the tables
    altered (DuckDB cannot alter an indexed table; `_index_history_tables` puts
    them back)."""
    present = set(sa.inspect(connection).get_table_names(schema=layout.metadata.schema))
    for spec in OUTPUT_TABLES:
        connection.exec_driver_sql(f"DROP VIEW IF EXISTS {layout.qualified(spec.name)}")
    for name in added:
        table = layout.history[name]
        if table.name not in present:
            continue
        spec = next(spec for spec in OUTPUT_TABLES if spec.name == name)
        index = layout.qualified(history_index_name(spec))
        connection.exec_driver_sql(f"DROP INDEX IF EXISTS {index}")
        found = _columns_present(connection, layout, table)
        for old, new in renamed.get(name, {}).items():
            if old in found and new not in found:
                connection.exec_driver_sql(
                    f"ALTER TABLE {layout.qualified(table.name)} "
                    f"RENAME COLUMN {layout.quote(old)} TO {layout.quote(new)}"
                )
        _add_columns(connection, layout, name, added[name])
    _index_history_tables(connection, layout)


def _unindex_duckdb_history(connection: sa.Connection, layout: Layout) -> None:
    """Version 7 -> 8: DuckDB's history tables lose their indexes (`indexes_history`):
    with them, republishing a refresh that is already there took 17 s instead of 2."""
    if indexes_history(dialect=connection.dialect):
        return
    for spec in OUTPUT_TABLES:
        connection.exec_driver_sql(
            f"DROP INDEX IF EXISTS {layout.qualified(history_index_name(spec))}"
        )


_MIGRATIONS: dict[int, Callable[[sa.Connection, Layout], None]] = {
    1: _add_refresh_run_columns,
    # 2 -> 3 only adds a table (quarantine), which `create_all` creates.
    3: _index_history_tables,
    4: _sales_tiers,
    5: _customer_value,
    6: _excel_sheets,
    7: _unindex_duckdb_history,
}


def _add_columns(
    connection: sa.Connection, layout: Layout, spec_name: str, names: list[str]
) -> None:
    table = layout.history[spec_name]
    present = _columns_present(connection, layout, table)
    for name in names:
        if name in present:
            continue
        column = CreateColumn(table.c[name]).compile(dialect=connection.dialect)
        target = layout.qualified(table.name)
        connection.exec_driver_sql(f"ALTER TABLE {target} ADD COLUMN {column}")


def _check_columns(connection: sa.Connection, layout: Layout) -> None:
    """After migrating, every history table must have every column its spec names."""
    for table in layout.history.values():
        present = _columns_present(connection, layout, table)
        missing = [c.name for c in table.columns if c.name not in present]
        if missing:
            raise LayoutError(
                f"schema {layout.schema_label}: table {table.name} lacks columns "
                f"{', '.join(missing)} that no migration adds: restore them or use another schema"
            )


def _columns_present(connection: sa.Connection, layout: Layout, table: sa.Table) -> set[str]:
    # An empty SELECT rather than the inspector: duckdb-engine's get_columns reads
    # PostgreSQL catalogs DuckDB lacks.
    query = f"SELECT * FROM {layout.qualified(table.name)} WHERE 1 = 0"
    return set(connection.exec_driver_sql(query).keys())


def _comment_tables(connection: sa.Connection, layout: Layout) -> None:
    """Re-apply every table and column comment (a migration may have added columns)."""
    if connection.dialect.name not in COMMENT_ON_DIALECTS:
        return
    for table in [*layout.history.values(), layout.pointer, layout.versions]:
        connection.execute(SetTableComment(table))
        for column in table.columns:
            connection.execute(SetColumnComment(column))


def _view_sql(spec: OutputTable, layout: Layout) -> str:
    columns = ", ".join(f"h.{layout.quote(c)}" for c in ["refresh_id", *spec.column_names])
    # refresh_runs keeps every attempt: its view shows the attempt that published.
    key = "run_id" if spec is REFRESH_RUNS else "refresh_id"
    return (
        f"CREATE OR REPLACE VIEW {layout.qualified(spec.name)} AS "
        f"SELECT {columns} FROM {layout.qualified(spec.name + '_history')} AS h "
        f"JOIN {layout.qualified(CURRENT_POINTER)} AS p ON h.{key} = p.{key}"
    )


def view_comment(spec: OutputTable) -> str:
    """The comment BI tools show for a current view."""
    return (
        f"{spec.name} of the current refresh. Grain: {spec.grain}. "
        f"Every refresh: {spec.name}_history."
    )


def _view_comments(dialect: str, spec: OutputTable, layout: Layout) -> list[str]:
    """The COMMENT ON statements of a current view and its columns (none where the
    dialect has no COMMENT ON)."""
    if dialect not in COMMENT_ON_DIALECTS:
        return []
    view = layout.qualified(spec.name)
    return [
        f"COMMENT ON VIEW {view} IS {_literal(view_comment(spec))}",
        *(
            f"COMMENT ON COLUMN {view}.{layout.quote(column.name)} "
            f"IS {_literal(column.description)}"
            for column in (REFRESH_ID, *spec.columns)
        ),
    ]


def _execute_script(connection: sa.Connection, statements: list[str]) -> None:
    """`statements` in order: in one round trip where the driver takes several at once
    (a new schema's views and their comments are some 190 statements)."""
    if connection.dialect.name in MULTI_STATEMENT_DIALECTS:
        _execute_ddl(connection, ";\n".join(statements))
        return
    for statement in statements:
        _execute_ddl(connection, statement)


def _execute_ddl(connection: sa.Connection, statement: str) -> None:
    # Drivers with %-style parameters (psycopg) read a bare % in the text as one.
    if connection.dialect.paramstyle in ("format", "pyformat"):
        statement = statement.replace("%", "%%")
    connection.exec_driver_sql(statement)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
