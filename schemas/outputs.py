"""Contracts of the published tables: pandera schemas built from the table specs.

Produces `output_schema(spec, scale=...)`, the pandera `DataFrameSchema` of one
published table, and `check_outputs(tables, scale=...)`, which validates a
refresh's data tables and returns one readable line per failure (an empty
list when every table keeps its contract). `keeps_contract(frame, schema)` is the
screen it runs first: the same rules (pandera's own check functions among them) as
aggregates of one polars plan per table; pandera runs, and names the failures, only
where the screen finds one.

The columns, their order-free set, descriptions and dtypes come from
`warehouse.tables` (the same specs drive the DDL), so a contract cannot drift
from what is written: a SQL type maps to exactly one polars dtype, the dtype
the pipeline really hands to `publish` (Int64 counts, Float64 shares,
Decimal(38, scale) money, Datetime(us) timestamps; no coercion). Each
column's rule (null or not, key or not, the values it may hold) is declared
with the column in its spec too; here it becomes pandera checks. Every table
is `strict`: an extra column is a failure too.

These are row-level invariants of each table on its own. The checks that need
the whole refresh (counts that agree across tables, shares that sum to 1,
config-dependent segment labels, the customer count against the previous
refresh) are Great Expectations' job in `quality.published_checks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandera.polars as pa
import polars as pl
import sqlalchemy as sa
from pandera.api.polars.types import PolarsData
from pandera.backends.polars.checks import PolarsCheckBackend
from pandera.config import CONFIG as PANDERA_CONFIG
from pandera.config import ValidationDepth, config_context
from pandera.constants import CHECK_OUTPUT_KEY
from pandera.errors import SchemaError, SchemaErrors

from schemas.reasons import joined_reason
from warehouse.tables import (
    DATA_TABLES,
    AtLeast,
    Between,
    InSet,
    OutputTable,
    RevenueShare,
    Share,
    ValueCheck,
)

# Shares are float divisions of exact decimals: 1 can come out as 1.0000000000000002.
SHARE_TOLERANCE = 1e-9
SHOWN_ROWS = 5  # row numbers quoted per failure line before "and N more"
# Rows the contract screen reads at a time: what the plan computes per row (a customer's
# reason, hundreds of bytes) is held for this many rows only.
SCREEN_MORSEL_ROWS = 50_000


# --- dtypes ----------------------------------------------------------------------------------


def polars_dtype(sql_type: sa.types.TypeEngine) -> pl.DataType:
    """The polars dtype the pipeline publishes for a column of `sql_type`.

    Raises:
        TypeError: a SQL type the published tables do not use (add it here on purpose).
    """
    # Float before Numeric: Double is a Float is a Numeric.
    if isinstance(sql_type, sa.Float):
        return pl.Float64()
    if isinstance(sql_type, sa.Numeric):
        return pl.Decimal(sql_type.precision, sql_type.scale)
    if isinstance(sql_type, sa.BigInteger):
        return pl.Int64()
    if isinstance(sql_type, sa.Boolean):
        return pl.Boolean()
    if isinstance(sql_type, sa.DateTime):
        # Naive UTC, microseconds: what staging parses and what TIMESTAMP holds.
        return pl.Datetime("us", None)
    if isinstance(sql_type, sa.Date):
        return pl.Date()
    if isinstance(sql_type, sa.String):
        return pl.String()
    raise TypeError(f"no published polars dtype for SQL type {sql_type!r}")


# --- value checks ----------------------------------------------------------------------------


def pandera_check(check: ValueCheck) -> pa.Check:
    """A declared value check (`warehouse.tables`) as the pandera check that enforces it."""
    if isinstance(check, InSet):
        return pa.Check.isin(list(check.values))
    if isinstance(check, AtLeast):
        return pa.Check.ge(check.minimum)
    if isinstance(check, Between):
        return pa.Check.in_range(check.low, check.high)
    if isinstance(check, Share):
        return pa.Check.in_range(
            -SHARE_TOLERANCE, 1 + SHARE_TOLERANCE, error=f"in_range(0, 1) ± {SHARE_TOLERANCE:g}"
        )
    if isinstance(check, RevenueShare):
        return _revenue_share(check.group, check.revenue)
    raise TypeError(f"no pandera check for {check!r}")


def _revenue_share(group: str | None = None, revenue: str = "revenue") -> pa.Check:
    """A share of revenue: 0..1 while no revenue it is a share of is negative.

    A customer whose refunds exceed its purchases has negative revenue; then a part
    of the total can exceed the total (or fall below 0), legitimately. The bounds
    that still hold then depend on the whole refresh and are checked by GX.

    Args:
        group: the column whose rows share one total (segment_summary's `base`);
            None when the whole table shares it.
        revenue: the revenue column the share is of.
    """

    def check(data: pa.PolarsData) -> pl.LazyFrame:
        share = pl.col(data.key)
        schema = data.lazyframe.collect_schema()
        names = schema.names()
        # Revenue of the wrong dtype has its own failure line; bound the share as usual.
        negative = (
            (pl.col(revenue) < 0).any()
            if revenue in names and schema[revenue].is_numeric()
            else pl.lit(False)
        )
        if group is not None and group in names:
            negative = negative.over(group)
        inside = share.is_between(-SHARE_TOLERANCE, 1 + SHARE_TOLERANCE)
        # A null share (total revenue 0) is the nullable rule's business, not this one's.
        return data.lazyframe.select(share.is_null() | inside | negative.fill_null(False))

    scope = "its base's" if group else "the table's"
    return pa.Check(
        check,
        error=f"in_range(0, 1) ± {SHARE_TOLERANCE:g} while none of {scope} revenue is negative",
    )


# --- schemas -----------------------------------------------------------------------------------


def output_schema(spec: OutputTable, *, scale: int) -> pa.DataFrameSchema:
    """The pandera schema of one published table, as `publish` receives it, from its spec:
    each column's dtype, description and rule, the table's compound key.

    Args:
        spec: the table's spec from `warehouse.tables`.
        scale: the money scale (`[money] scale`): money columns are Decimal(38, scale).
    """
    # pandera's built-in checks for polars frames: a check made before they are registered
    # keeps a dispatcher without them, and only pandera's own validation finds them then
    pa.DataFrameSchema.register_default_backends(pl.DataFrame)
    columns = {
        column.name: pa.Column(
            polars_dtype(column.type(scale)),
            nullable=column.rule.nullable,
            unique=column.rule.unique,
            checks=[pandera_check(check) for check in column.rule.checks],
            coerce=False,  # the contract states the published dtype, it does not make it
            required=True,
            description=column.description,
        )
        for column in spec.columns
    }
    return pa.DataFrameSchema(
        columns,
        unique=list(spec.key) if spec.key else None,
        strict=True,
        name=spec.name,
        description=f"{spec.name}: one row per {spec.grain}",
    )


# --- checking ----------------------------------------------------------------------------------

_SPECS = {spec.name: spec for spec in DATA_TABLES}


def check_outputs(tables: Mapping[str, pl.DataFrame], *, scale: int) -> list[str]:
    """Validate each given data table against its contract; one line per failure.

    Every check runs (pandera's lazy mode, on the collected frames so that value
    checks run too). A line names the table and column, what was expected and the
    offending value with its 1-based row numbers, e.g.
    "tier_summary.tier: isin(['Large', 'Medium', 'Small']) failed for 'Huge' (row 3)".
    Rows failing one check with the same value share a line.

    Args:
        tables: data tables by name (any of `warehouse.tables.DATA_TABLES`; absent
            ones are not checked).
        scale: the money scale of the refresh.

    Raises:
        ValueError: a table that is not a published data table (a caller error).
    """
    unknown = sorted(set(tables) - set(_SPECS))
    if unknown:
        raise ValueError(f"no output contract for {unknown}; data tables: {sorted(_SPECS)}")
    lines: list[str] = []
    for name, frame in tables.items():
        schema = output_schema(_SPECS[name], scale=scale)
        # A reason held in parts is checked as it is published: joined, a morsel at a time.
        published = joined_reason(frame.lazy())
        if not keeps_contract(published, schema):
            lines += _failures(name, published.collect(), schema)
    return lines


def keeps_contract(frame: pl.DataFrame | pl.LazyFrame, schema: pa.DataFrameSchema) -> bool:
    """True when `frame` surely keeps `schema`, read in one polars pass; False when pandera
    must look (it names the failures, if there are any).

    Pandera runs each rule of each column as a query of its own: some 130 small queries
    per refresh, whatever its size. Here the same rules, pandera's own check functions
    among them, are aggregates of one plan. Anything this does not read the way pandera
    does (table-level checks, coercion, columns by pattern) sends the table to pandera.
    """
    columns = schema.columns
    dtypes = frame.collect_schema()
    if (
        PANDERA_CONFIG.use_narwhals_backend  # its checks take other frames than these
        or schema.checks
        or schema.coerce
        or not schema.strict
        or set(dtypes.names()) != set(columns)
        or any(column.regex or column.coerce or not column.required for column in columns.values())
        or any(dtypes[name] != column.dtype.type for name, column in columns.items())
    ):
        return False
    data = frame.lazy()
    # Row-by-row rules and uniqueness rules in two reads: a uniqueness rule reads its
    # column whole, and the row-by-row ones stream beside it only in a read of their own.
    present: list[pl.Expr] = []
    unique: list[pl.Expr] = []
    for name, column in columns.items():
        value = pl.col(name)
        if not column.nullable:
            known = value.is_not_null()
            # pandera counts NaN as null, as it does here
            present.append((known & value.is_not_nan() if dtypes[name].is_float() else known).all())
        if column.unique:
            unique.append(~value.is_duplicated().any())
    if schema.unique:
        unique.append(~pl.struct(list(schema.unique)).is_duplicated().any())
    # each verdict a column of its own name: several rules read one column
    parts = [
        data.select(rule.alias(f"{kind} {n}") for n, rule in enumerate(rules))
        for kind, rules in (("present", present), ("unique", unique))
        if rules
    ]
    for name, column in columns.items():
        for check in column.checks:
            outcome = PolarsCheckBackend(check).apply(PolarsData(data, name))
            if isinstance(outcome, bool):
                if not outcome:
                    return False
                continue
            passed = pl.col(CHECK_OUTPUT_KEY)
            passed = passed | passed.is_null() if check.ignore_na else passed.fill_null(False)
            parts.append(outcome.select(passed.all().alias(f"{name} check {len(parts)}")))
    if not parts:
        return True
    # A value the plan computes (a reason joined from its parts) is never held whole: the
    # plan streams in morsels of a bounded number of rows (a frame in memory is otherwise
    # one morsel), and each verdict reads the frame itself (a subplan shared by several
    # verdicts would be held whole for all of them).
    with pl.Config(streaming_chunk_size=SCREEN_MORSEL_ROWS):
        verdicts = pl.concat(parts, how="horizontal").collect(
            engine="streaming", optimizations=pl.QueryOptFlags(comm_subplan_elim=False)
        )
    return all(verdicts.row(0))


def _failures(name: str, frame: pl.DataFrame, schema: pa.DataFrameSchema) -> list[str]:
    # The depth is fixed here: PANDERA_VALIDATION_DEPTH=SCHEMA_ONLY must not silently
    # turn the value checks off.
    with config_context(validation_depth=ValidationDepth.SCHEMA_AND_DATA):
        try:
            schema.validate(frame, lazy=True)
        except SchemaErrors as exc:
            return _lines(name, frame, exc.failure_cases)
        except SchemaError as exc:  # raised alone for some schema-level failures
            return [f"{name}: {exc}"]
    return []


def _lines(table: str, frame: pl.DataFrame, cases: pl.DataFrame) -> list[str]:
    is_dtype = pl.col("check").str.starts_with("dtype(")
    # A column of the wrong dtype makes its value checks error out: the dtype line says it.
    wrong_dtype = cases.filter(is_dtype)["column"].drop_nulls().to_list()
    cases = cases.filter(
        is_dtype
        | (pl.col("schema_context") == "DataFrameSchema")
        | ~pl.col("column").is_in(wrong_dtype)
    )
    compound = pl.col("check") == "multiple_fields_uniqueness"
    lines = [
        _line(table, frame, case)
        for case in cases.filter(~compound)
        .group_by("schema_context", "column", "check", "failure_case", maintain_order=True)
        .agg(pl.col("index").drop_nulls().sort())
        .iter_rows(named=True)
    ]
    duplicates = cases.filter(compound)["index"].drop_nulls().sort().to_list()
    # Without one of its columns the key cannot repeat: the missing column has its line.
    if duplicates and set(_SPECS[table].key) <= set(frame.columns):
        lines += _duplicate_keys(table, frame, duplicates)
    return lines


def _duplicate_keys(table: str, frame: pl.DataFrame, indices: list[int]) -> list[str]:
    """One line per repeated compound key, with the rows that repeat it."""
    names = _SPECS[table].key
    rows: dict[tuple, list[int]] = {}
    for index in indices:
        values = frame.row(index, named=True)
        rows.setdefault(tuple(values[n] for n in names), []).append(index)
    return [
        f"{table} ({', '.join(names)}): duplicate {values!r} ({_rows(where)})"
        for values, where in rows.items()
    ]


def _line(table: str, frame: pl.DataFrame, case: dict[str, Any]) -> str:
    check, column, failure = case["check"], case["column"], case["failure_case"]
    rows: list[int] = case["index"]
    where = f" ({_rows(rows)})" if rows else ""
    if check == "column_in_schema":
        return f"{table}: unexpected column {failure!r} (not in the contract)"
    if check == "column_in_dataframe":
        return f"{table}: missing column {failure!r}"
    if case["schema_context"] == "DataFrameSchema":
        return f"{table}: {check} failed for {failure}{where}"
    if check.startswith("dtype("):
        expected = check.removeprefix("dtype('").removesuffix("')")
        return f"{table}.{column}: dtype {failure}, expected {expected}"
    if not rows:  # the check itself raised: failure_case is the error
        first_line = str(failure).splitlines()[0] if failure else ""
        return f"{table}.{column}: {check} could not run: {first_line}"
    if check == "not_nullable":
        return f"{table}.{column}: null in a not-null column{where}"
    value = _shown(frame[column][rows[0]]) if column in frame.columns else repr(failure)
    if check == "field_uniqueness":
        return f"{table}.{column}: duplicate {value}{where}"
    return f"{table}.{column}: {check} failed for {value}{where}"


def _rows(indices: list[int]) -> str:
    """pandera's 0-based positions as 1-based row numbers, the first few of them."""
    numbers = [str(index + 1) for index in indices[:SHOWN_ROWS]]
    more = len(indices) - SHOWN_ROWS
    label = "row" if len(indices) == 1 else "rows"
    return f"{label} {', '.join(numbers)}" + (f" and {more:,} more" if more > 0 else "")


def _shown(value: object) -> str:
    # The value as the frame holds it: 'Huge' and 1.5, not the failure case's text.
    if value is None or isinstance(value, str | int | float):
        return repr(value)
    return str(value)
