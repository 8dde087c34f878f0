"""Contracts of the published tables: pandera schemas built from the table specs.

Produces `output_schema(spec, scale=...)`, the pandera `DataFrameSchema` of one
published table, and `check_outputs(tables, scale=...)`, which validates a
refresh's data tables and returns one readable line per failure (an empty
list when every table keeps its contract).

The columns, their order-free set, descriptions and dtypes come from
`warehouse.tables` (the same specs drive the DDL), so a contract cannot drift
from what is written: a SQL type maps to exactly one polars dtype, the dtype
the pipeline really hands to `publish` (Int64 counts, Float64 shares,
Decimal(38, scale) money, Datetime(us) timestamps; no coercion). What the
specs cannot say is declared here, per column (`RULES`): whether it may be
null, whether it is a key, and the values it may hold. Every table is
`strict`: an extra column is a failure too.

These are row-level invariants of each table on its own. The checks that need
the whole refresh (counts that agree across tables, shares that sum to 1,
config-dependent segment labels, the customer count against the previous
refresh) are Great Expectations' job in `quality.published_checks`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_args

import pandera.polars as pa
import polars as pl
import sqlalchemy as sa
from pandera.config import ValidationDepth, config_context
from pandera.errors import SchemaError, SchemaErrors

from config.settings import PersonaSettings
from schemas.inputs import SOURCE_COLUMNS
from schemas.quarantine import CLEARED, REJECTED
from transforms.revenue_tiers import TIERS
from transforms.segmentation import BASES
from transforms.transitions import TRANSITION_BASES
from warehouse.tables import DATA_TABLES, OutputTable

# Shares are float divisions of exact decimals: 1 can come out as 1.0000000000000002.
SHARE_TOLERANCE = 1e-9
PARETO_CLASSES = ("A", "B", "C")
PERSONA_KINDS = ("company", "buyer", "target", "purchase")
GOALS: tuple[str, ...] = get_args(PersonaSettings.model_fields["goal"].annotation)
TRANSITION_BASE_NAMES = tuple(base for base, _ in TRANSITION_BASES)
QUARANTINE_ACTIONS = (REJECTED, CLEARED)
SHOWN_ROWS = 5  # row numbers quoted per failure line before "and N more"


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


def _isin(values: Sequence[str]) -> pa.Check:
    return pa.Check.isin(list(values))


def _at_least(minimum: int) -> pa.Check:
    return pa.Check.ge(minimum)


def _between(low: int, high: int) -> pa.Check:
    return pa.Check.in_range(low, high)


def _share() -> pa.Check:
    """A proportion: 0..1, up to float rounding."""
    return pa.Check.in_range(
        -SHARE_TOLERANCE, 1 + SHARE_TOLERANCE, error=f"in_range(0, 1) ± {SHARE_TOLERANCE:g}"
    )


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


# --- per-column rules --------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """What a column's spec cannot say: null allowed, single-column key, value checks."""

    nullable: bool
    unique: bool = False
    checks: tuple[pa.Check, ...] = ()


def key(*checks: pa.Check) -> Rule:
    """A single-column key: never null, never repeated."""
    return Rule(nullable=False, unique=True, checks=checks)


def required(*checks: pa.Check) -> Rule:
    """Always has a value."""
    return Rule(nullable=False, checks=checks)


def optional(*checks: pa.Check) -> Rule:
    """May be null (checks skip nulls)."""
    return Rule(nullable=True, checks=checks)


COUNT = _at_least(0)
SCORE = _between(1, 5)  # RFM scores: 1-5 (the pymc preset uses 1-4)

RULES: dict[str, dict[str, Rule]] = {
    "customer_segments": {
        "customer_id": key(),
        "revenue": required(),  # net of refunds: may be negative
        # the grain is a customer with at least one valid order line
        "order_count": required(_at_least(1)),
        "quantity": optional(),  # null when the source has no quantities; negative for returns
        "first_order_at": required(),
        "last_order_at": required(),
        "recency_days": required(COUNT),  # lines after as_of are ignored
        "tenure_days": required(COUNT),
        "avg_order_value": required(),
        "tier": required(_isin(TIERS)),
        "pareto_rank": key(_at_least(1)),
        # null when total revenue is 0; above 1 before the negative-revenue customers
        "cumulative_share": optional(_revenue_share()),
        "pareto_class": required(_isin(PARETO_CLASSES)),
        "r_score": required(SCORE),
        "f_score": required(SCORE),
        "m_score": required(SCORE),
        # the label sets depend on the configuration: GX checks them
        "rfm_segment": required(),
        "demographic_segment": required(),
        "geographic_segment": required(),
        "psychographic_segment": required(),
        "behavioural_segment": required(),
        "key_tier_revenue": required(),  # 0 for a customer who never bought in the key tier
        "is_best_customer": required(),
        "persona_id": optional(),  # only best customers define the persona
        "reason": required(),
    },
    "tier_summary": {
        "tier": key(_isin(TIERS)),
        # money bounds under order_value / quantity / revenue; null where a tier has none
        "lower_bound": optional(),
        "upper_bound": optional(),
        "bounds_basis": required(),
        "purchases": required(COUNT),
        "sales_revenue": required(),  # 0 for an empty tier; refunds subtract
        # null when total revenue is 0; outside 0..1 only beside a tier of net refunds
        "sales_share": optional(_revenue_share(revenue="sales_revenue")),
        "buying_customers": required(COUNT),
        "customers": required(COUNT),
        "deal_days": optional(),  # null without the data (no repeat orders, no leads)
        "deal_days_basis": required(),
        "paid_on_time_share": optional(_share()),  # null without due dates
        "repeat_rate": required(_share()),
        "is_key_tier": required(),
        "is_majority": required(),
        "decided_by": required(),
        "key_reason": required(),
    },
    "pareto_summary": {
        "customers": required(COUNT),
        "revenue": required(),
        "top_share_customers": required(_share()),
        "top_customers": required(COUNT),
        # Null when total revenue is 0. Not bounded: with negative-revenue customers the
        # top customers' share exceeds 1.
        "top_share_revenue": optional(),
        "customers_for_80pct": required(COUNT),
        # over revenue clipped at 0, so 0..1; null when no customer has any
        "gini": optional(_share()),
    },
    "pareto_curve": {
        "customer_pct": key(_between(0, 100)),
        # null past 0% when total revenue is 0; unbounded for the reason above (no
        # revenue column here to tell)
        "cumulative_revenue_share": optional(),
    },
    "segment_summary": {
        "base": required(_isin(BASES)),
        "segment": required(),
        "customers": required(COUNT),
        "revenue": required(),
        "revenue_share": optional(_revenue_share(group="base")),
    },
    "personas": {
        "persona_id": required(),
        "kind": required(_isin(PERSONA_KINDS)),
        "attribute": required(),
        "value": required(),
        "support": required(_share()),
        "lift": required(COUNT),
        "customers": required(COUNT),
        "population_share": required(_share()),
        "ci_low": required(_share()),
        "ci_high": required(_share()),
        "p_value": required(_share()),
        "q_value": required(_share()),
        "is_distinguishing": required(),
    },
    "persona_cards": {
        "persona_id": key(),
        "name": required(),
        "key_tier": required(_isin(TIERS)),
        "goal": required(_isin(GOALS)),
        "best_basis": required(),
        "best_customers": required(COUNT),
        "decision_makers": required(COUNT),
        "profile_note": optional(),  # null when nothing is wrong with the profile
        # null without a feedback source, or when nothing distinguishes a channel
        "goals": optional(),
        "pain_points": optional(),
        "motivations": optional(),
        "info_sources": optional(),
        "preferred_channels": optional(),
        "quote": optional(),
        "top_purchases": optional(),  # null without product ids
        "best_repeat_rate": optional(_share()),
        "others_repeat_rate": optional(_share()),  # null when every customer is best
        "best_median_order_value": optional(),
        "others_median_order_value": optional(),
    },
    "lead_scores": {
        "lead_id": key(),
        "fit_score": required(_share()),
        "is_target": required(),
        "matched_persona_id": optional(),  # only target leads match a persona
        "matched_attributes": required(),  # "" when nothing matches
    },
    "segment_transitions": {
        "base": required(_isin(TRANSITION_BASE_NAMES)),
        "from_segment": required(),  # "(new)" rather than null
        "to_segment": required(),  # "(lost)" rather than null
        "customers": required(COUNT),
        "revenue": required(),
    },
    "attribute_mix": {
        "attribute": required(),
        "value": required(),  # "(unknown)" rather than null
        "customers": required(_at_least(1)),
        "share": required(_share()),
    },
    "quarantine": {
        "source": required(_isin(list(SOURCE_COLUMNS))),
        "row_number": required(_at_least(1)),
        "key": optional(),  # a missing key is itself a problem
        "column": optional(),  # null: the row as a whole
        "problem": required(),
        "value": optional(),  # null for row-level problems
        "action": required(_isin(QUARANTINE_ACTIONS)),
    },
}

# Keys of more than one column: the table's grain.
COMPOUND_KEYS: dict[str, tuple[str, ...]] = {
    "segment_summary": ("base", "segment"),
    "personas": ("persona_id", "kind", "attribute", "value"),
    "segment_transitions": ("base", "from_segment", "to_segment"),
    "attribute_mix": ("attribute", "value"),
}


# --- schemas -----------------------------------------------------------------------------------


def output_schema(spec: OutputTable, *, scale: int) -> pa.DataFrameSchema:
    """The pandera schema of one published table, as `publish` receives it.

    Tables without rules in `RULES` (refresh_runs) get dtypes and descriptions only,
    every column nullable.

    Args:
        spec: the table's spec from `warehouse.tables`.
        scale: the money scale (`[money] scale`): money columns are Decimal(38, scale).

    Raises:
        ValueError: `RULES` and the spec disagree on the columns (a column was added
            or renamed without deciding its rule).
    """
    rules = RULES.get(spec.name)
    if rules is not None and set(rules) != set(spec.column_names):
        missing = sorted(set(spec.column_names) - set(rules))
        stale = sorted(set(rules) - set(spec.column_names))
        raise ValueError(
            f"the output contract of {spec.name} is out of date: columns without a rule "
            f"{missing}, rules without a column {stale}"
        )
    columns = {}
    for column in spec.columns:
        rule = rules[column.name] if rules is not None else optional()
        dtype = polars_dtype(column.type(scale))
        columns[column.name] = pa.Column(
            dtype,
            nullable=rule.nullable,
            unique=rule.unique,
            checks=list(rule.checks),
            coerce=False,  # the contract states the published dtype, it does not make it
            required=True,
            description=column.description,
        )
    compound = COMPOUND_KEYS.get(spec.name)
    return pa.DataFrameSchema(
        columns,
        unique=list(compound) if compound else None,
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
        lines += _failures(name, frame, output_schema(_SPECS[name], scale=scale))
    return lines


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
    if duplicates:
        lines += _duplicate_keys(table, frame, duplicates)
    return lines


def _duplicate_keys(table: str, frame: pl.DataFrame, indices: list[int]) -> list[str]:
    """One line per repeated compound key, with the rows that repeat it."""
    names = COMPOUND_KEYS[table]
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
