"""Great Expectations checks over one refresh's tables, run before the refresh becomes current.

Produces `check_published(...) -> CheckOutcome`: every published data table is
validated against an expectation suite built for this refresh (GX Core, an
ephemeral context: nothing is kept between calls and nothing is written to the
working directory), the failed expectations come back as one line each, and,
when a directory is given, the Data Docs site is written there: `index.html`,
one page per table's suite and one validation page per table under
`validations/<table>/<run name>/<run time>/`.

What is expected (reference values come from customer_segments, computed in
Python before validation, and are written into the suites as literals, so the
Data Docs show the figures that were checked):

- keys are not null and unique: customer_segments.customer_id (and pareto_rank,
  a permutation of 1..customers), tier_summary.tier, pareto_curve.customer_pct,
  lead_scores.lead_id, persona_cards.persona_id; compound keys
  segment_summary (base, segment), personas (persona_id, kind, attribute,
  value), segment_transitions (base, from_segment, to_segment) and
  attribute_mix (attribute, value);
- labels are in their sets: tier in Large / Medium / Small, pareto_class in
  A / B / C, every column of `segment_values` in its allowed values (and not
  null: every customer has exactly one label per base), segment_summary.base
  in the four bases, personas.kind in company / buyer / target; tier_summary
  has exactly the three tiers and pareto_summary one row, pareto_curve the
  101 points 0..100;
- customer counts agree: the rows of customer_segments = sum of
  tier_summary.customers = pareto_summary.customers = the customers of each
  segment_summary base = the current customers (to_segment not "(lost)") of
  each segment_transitions base; and, given the previous refresh's count,
  the row count moved by at most `max_customer_change` of it;
- shares: tier_summary.sales_share and each segment_summary base's shares
  sum to 1 within 1e-9; shares and cumulative shares lie within their bounds
  (floats, so up to 1e-9: the pipeline publishes 1.0000000000000002); the
  Pareto curve (in customer_pct order) never falls while it adds
  customers with non-negative revenue; RFM scores lie in 1..5; persona
  supports, shares and intervals and lead fit scores lie in 0..1.

Two checks follow the data rather than a fixed rule, decided from
customer_segments before the suites are built:

- total revenue 0: every revenue share is null by definition (share of
  nothing), so share sums and bounds are replaced by "revenue_share is null";
- customers with net negative revenue (refunds larger than purchases) rank
  last in the Pareto order, so the cumulative share rises above 1 and falls
  back to exactly 1 at 100%. Share bounds are then the exact limits any set
  of customers can reach (all negative revenue / total, all positive revenue
  / total), and the curve must rise up to the last customer with
  non-negative revenue and fall after it. Without such customers, the usual
  case, this is exactly "between 0 and 1" and "never falls".

GX is imported inside `check_published` only: importing it takes seconds, and
the CLI imports this module's package chain.
"""

from __future__ import annotations

import logging
import math
import os
import re
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import polars.selectors as cs

from schemas.outputs import SHARE_TOLERANCE
from schemas.vocabulary import BASES, TIERS
from transforms.transitions import LOST
from warehouse.tables import (
    DATA_TABLES,
    QUARANTINE,
    AtLeast,
    Between,
    InSet,
    OutputTable,
    Share,
)

# The quarantine lists input problems; its rows have no invariants of their own to check.
CHECKED_TABLES = tuple(spec for spec in DATA_TABLES if spec is not QUARANTINE)

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.core.expectation_validation_result import (
        ExpectationValidationResult,
    )

# --- expectations, declared once ------------------------------------------------------------
# Each expectation is declared here under its Great Expectations name and arguments, with no
# GX import: polars evaluates them on every refresh (milliseconds), and the same declarations
# become GX expectations only when Data Docs are asked for (`quality.data_docs`).


@dataclass(frozen=True)
class Comparison:
    """A row condition: `column operator value`, combined with `&`."""

    parts: tuple[tuple[str, str, Any], ...]

    def __and__(self, other: Comparison) -> Comparison:
        return Comparison(self.parts + other.parts)

    def text(self) -> str:
        """As a failure line shows it: base == 'demographic' and to_segment != '(lost)'."""
        return " and ".join(f"{column} {op} {value!r}" for column, op, value in self.parts)

    def expr(self) -> pl.Expr:
        """The condition as a polars filter."""
        compare = {
            "==": pl.Expr.eq,
            "!=": pl.Expr.ne,
            "<=": pl.Expr.le,
            ">=": pl.Expr.ge,
        }
        return pl.all_horizontal(
            compare[op](pl.col(column), pl.lit(value)) for column, op, value in self.parts
        )

    def gx(self) -> Any:
        """The condition as a GX row condition."""
        from great_expectations.expectations.row_conditions import Column as GxColumn

        made = None
        for column, op, value in self.parts:
            part = {
                "==": GxColumn(column).__eq__,
                "!=": GxColumn(column).__ne__,
                "<=": GxColumn(column).__le__,
                ">=": GxColumn(column).__ge__,
            }[op](value)
            made = part if made is None else made & part
        return made


class Column:
    """A column in a row condition: `Column("base") == "demographic"`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, value: object) -> Comparison:  # type: ignore[override]
        return Comparison(((self.name, "==", value),))

    def __ne__(self, value: object) -> Comparison:  # type: ignore[override]
        return Comparison(((self.name, "!=", value),))

    def __le__(self, value: object) -> Comparison:
        return Comparison(((self.name, "<=", value),))

    def __ge__(self, value: object) -> Comparison:
        return Comparison(((self.name, ">=", value),))

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, eq=False)
class Expectation:
    """One expectation: its GX class name and arguments (`row_condition` a Comparison)."""

    kind: str  # e.g. ExpectColumnValuesToBeUnique
    kwargs: dict[str, Any]

    @property
    def type(self) -> str:
        """The GX type name: expect_column_values_to_be_unique."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.kind).lower()

    @property
    def meta(self) -> dict[str, Any]:
        return self.kwargs.get("meta") or {}

    def name(self) -> str:
        """'expectation(columns) [where condition]', as a failure line starts."""
        kwargs = self.kwargs
        columns = kwargs.get("column_list") or ([kwargs["column"]] if "column" in kwargs else [])
        name = self.type + (f"({', '.join(columns)})" if columns else "")
        if kwargs.get("row_condition") is not None:
            name += f" where {kwargs['row_condition'].text()}"
        return name

    def gx(self) -> Any:
        """The GX expectation object (imports GX)."""
        import great_expectations.expectations as gx_expectations

        kwargs = dict(self.kwargs)
        if kwargs.get("row_condition") is not None:
            kwargs["row_condition"] = kwargs["row_condition"].gx()
        return getattr(gx_expectations, self.kind)(**kwargs)


class _Declare:
    """`gxe.ExpectColumnValuesToBeUnique(column="x")` declares an Expectation: the suites
    below read as GX suites, and translate to them one for one."""

    def __getattr__(self, kind: str) -> Callable[..., Expectation]:
        return lambda **kwargs: Expectation(kind, kwargs)


gxe = _Declare()


CURVE_POINTS = 101  # pareto_curve: customer_pct 0..100
DOCS_SITE = "local_site"  # the site every ephemeral context has; repointed to docs_dir
DATASOURCE = "published"
EXAMPLES = 5  # unexpected values quoted per failure line


@dataclass(frozen=True)
class CheckOutcome:
    """The result of checking one refresh's tables.

    `failures` has one line per failed expectation, table first, e.g.
    "tier_summary: expect_column_sum_to_be_between(sales_share): observed 1.05,
    expected 1 ± 1e-09". `docs_index` is the Data Docs site's index.html, None
    when no docs were requested.
    """

    success: bool
    failures: list[str]
    docs_index: Path | None
    # every expectation checked, "table: expectation(columns) [where …]", in suite order
    checked: tuple[str, ...] = ()

    @property
    def expectations(self) -> int:
        """How many expectations were checked."""
        return len(self.checked)


def check_published(
    tables: Mapping[str, pl.DataFrame],
    *,
    segment_values: Mapping[str, Collection[str]],
    previous_customers: int | None,
    max_customer_change: float,
    docs_dir: Path | None,
    run_name: str,
) -> CheckOutcome:
    """Validate one refresh's tables with Great Expectations; optionally write Data Docs.

    Args:
        tables: every data table of the refresh (`warehouse.tables.DATA_TABLES`),
            as published; some may be empty.
        segment_values: allowed values per customer_segments column, e.g.
            {"rfm_segment": [...], "demographic_segment": [...]}; tier and
            pareto_class always have their fixed sets.
        previous_customers: customers of the refresh that is current now; None
            for the first refresh (no change check).
        max_customer_change: the largest allowed relative change of the
            customer count, e.g. 0.5 for ±50%.
        docs_dir: directory for the Data Docs site (created); None for none.
        run_name: the GX run name, the refresh_id: the docs file each
            validation under it.

    Raises:
        ValueError: a data table is missing from `tables`, customer_segments has no
            revenue, or `max_customer_change` is negative (caller errors, not data errors).
    """
    missing = [spec.name for spec in CHECKED_TABLES if spec.name not in tables]
    if missing:
        raise ValueError(f"check_published needs every data table; missing: {', '.join(missing)}")
    if max_customer_change < 0:
        raise ValueError(f"max_customer_change must be >= 0, got {max_customer_change}")

    if "revenue" not in tables["customer_segments"].columns:
        raise ValueError("customer_segments has no revenue column: nothing to check against")

    reference = _Reference.of(tables["customer_segments"])
    customer_bounds = (
        None
        if previous_customers is None
        else _change_bounds(previous_customers, max_customer_change)
    )
    suites = _suites(
        tables, reference, segment_values=segment_values, customer_bounds=customer_bounds
    )
    checked = tuple(f"{suite.table}: {e.name()}" for suite in suites for e in suite.expectations)
    if docs_dir is None:
        failures = _polars_failures(suites)
        return CheckOutcome(not failures, failures, None, checked)
    with warnings.catch_warnings():
        # GX, and the pandas and pydantic it drives, warn about their own internals
        # (deprecations): nothing the caller can act on, and the CLI's output must stay clean.
        warnings.simplefilter("ignore")
        _load_gx()
        results = _validate(suites, docs_dir=docs_dir, run_name=run_name)
    failures = [
        _failure_line(table, result)
        for table, ordered in results
        for result in ordered
        if not result.success
    ]
    return CheckOutcome(
        success=not failures,
        failures=failures,
        docs_index=docs_dir / "index.html",
        checked=checked,
    )


# --- reference facts -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Reference:
    """What the other tables must agree with, computed from customer_segments."""

    customers: int
    # (low, high) limits of any revenue share; None when total revenue is 0 (shares are null)
    share_bounds: tuple[float, float] | None
    # the total's sign: shares of a negative total rise where revenue falls
    total_positive: bool
    # customers with revenue >= 0: Pareto ranks 1..this, where the cumulative share rises
    rising_customers: int

    @classmethod
    def of(cls, customers: pl.DataFrame) -> _Reference:
        revenue = customers["revenue"]
        return cls(
            customers=customers.height,
            share_bounds=_share_bounds(revenue),
            total_positive=_exact(revenue.sum()) > 0,
            rising_customers=int((revenue >= 0).sum()),
        )


def _share_bounds(parts: pl.Series) -> tuple[float, float] | None:
    """(low, high) limits of a share of the total of `parts`; None when the total is 0.

    A share is the sum of some parts / the total; its extremes are "all the positive
    parts" and "all the negative parts": 0 and 1 when every part has one sign.
    """
    positive = _exact(parts.filter(parts > 0).sum())
    negative = _exact(parts.filter(parts < 0).sum())
    total = positive + negative
    if total == 0:
        return None
    low, high = sorted((float(negative / total), float(positive / total)))
    return low, high


def _exact(value: object) -> Decimal:
    """A polars sum as an exact Decimal (None for no rows; floats if a caller passed floats)."""
    return Decimal(0) if value is None else Decimal(str(value))


def _change_bounds(previous: int, max_change: float) -> tuple[int, int, str]:
    """Allowed customer counts (low, high) and how they were derived, for the message."""
    # Fraction of the decimal text, so 100 × (1 − 0.3) is exactly 70, not 70.00000000000001
    # rounded up to 71.
    change = Fraction(str(max_change))
    low = max(0, math.ceil(previous * (1 - change)))
    high = math.floor(previous * (1 + change))
    return low, high, f"between {low} and {high} (previous refresh {previous} ± {max_change:.0%})"


# --- suites ----------------------------------------------------------------------------------


@dataclass
class _Suite:
    """One table (the GX data asset and suite share its name) and its expectations."""

    table: str
    frame: pl.DataFrame
    expectations: list[Expectation] = field(default_factory=list)


def _suites(
    tables: Mapping[str, pl.DataFrame],
    reference: _Reference,
    *,
    segment_values: Mapping[str, Collection[str]],
    customer_bounds: tuple[int, int, str] | None,
) -> list[_Suite]:
    builders = {
        "customer_segments": lambda: _customer_segments(
            reference, segment_values=segment_values, customer_bounds=customer_bounds
        ),
        # a tier's sales are purchases, not customers: a refund whose size falls in
        # another tier than its sale can leave that tier's sales below 0
        "tier_summary": lambda: _tier_summary(
            replace(reference, share_bounds=_share_bounds(tables["tier_summary"]["sales_revenue"]))
        ),
        "pareto_summary": lambda: _pareto_summary(reference),
        "pareto_curve": lambda: _pareto_curve(reference),
        "segment_summary": lambda: _segment_summary(reference),
        "personas": list,
        "persona_cards": list,
        "lead_scores": list,
        "segment_transitions": lambda: _segment_transitions(
            reference, tables["segment_transitions"]
        ),
        "attribute_mix": list,
        "clv_model": list,
        "customer_identity": list,
        "identity_review": list,
    }
    frames = {name: tables[name] for name in builders}
    # The curve's monotonic checks read rows in order: validate it in customer_pct order.
    frames["pareto_curve"] = frames["pareto_curve"].sort("customer_pct", nulls_last=True)
    specs = {spec.name: spec for spec in CHECKED_TABLES}
    return [
        _Suite(name, frames[name], [*_declared(specs[name], frames[name].columns), *build()])
        for name, build in builders.items()
    ]


def _declared(spec: OutputTable, present: Sequence[str]) -> list[Expectation]:
    """The table's own contract (`warehouse.tables`) as expectations: its keys, and each
    column's allowed values and range (a set that skips nulls is paired with not-null
    where the column is required). Shares of revenue are left to `_shares`, which knows
    the refresh's revenue. Only the `present` columns: a missing one is the output
    contract's failure (`schemas.outputs`), checked before these."""
    expectations = []
    for column in (c for c in spec.columns if c.name in present):
        if column.rule.unique:
            expectations += _keys(column.name)
        for check in column.rule.checks:
            if isinstance(check, InSet):
                if not column.rule.nullable and not column.rule.unique:
                    expectations.append(gxe.ExpectColumnValuesToNotBeNull(column=column.name))
                expectations.append(
                    gxe.ExpectColumnValuesToBeInSet(
                        column=column.name, value_set=sorted(check.values)
                    )
                )
            elif isinstance(check, Share):
                expectations.append(_fraction(column.name, 0.0, 1.0))
            elif isinstance(check, Between):
                expectations.append(
                    gxe.ExpectColumnValuesToBeBetween(
                        column=column.name, min_value=check.low, max_value=check.high
                    )
                )
            elif isinstance(check, AtLeast):
                expectations.append(
                    gxe.ExpectColumnValuesToBeBetween(column=column.name, min_value=check.minimum)
                )
    if spec.key and set(spec.key) <= set(present):
        expectations += _keys(*spec.key)
    return expectations


def _customer_segments(
    reference: _Reference,
    *,
    segment_values: Mapping[str, Collection[str]],
    customer_bounds: tuple[int, int, str] | None,
) -> list[Expectation]:
    # The segment labels depend on the configuration (the tier and class names are the
    # table's own contract, declared with it).
    expectations = [
        gxe.ExpectColumnValuesToBeBetween(
            column="pareto_rank", min_value=1, max_value=max(reference.customers, 1)
        ),
        *(
            expectation
            for column, values in segment_values.items()
            for expectation in (
                # in-set skips nulls: every customer has a label on every base
                gxe.ExpectColumnValuesToNotBeNull(column=column),
                gxe.ExpectColumnValuesToBeInSet(column=column, value_set=sorted(values)),
            )
        ),
        *_shares("cumulative_share", reference, null_when_no_revenue=False),
    ]
    if customer_bounds is not None:
        low, high, described = customer_bounds
        expectations.append(
            gxe.ExpectTableRowCountToBeBetween(
                min_value=low, max_value=high, meta={"expected": described}
            )
        )
    return expectations


def _tier_summary(reference: _Reference) -> list[Expectation]:
    return [
        gxe.ExpectTableRowCountToEqual(value=len(TIERS)),
        _customer_total(reference),
        *_shares("sales_share", reference, sums_to_one=True),
    ]


def _pareto_summary(reference: _Reference) -> list[Expectation]:
    return [
        gxe.ExpectTableRowCountToEqual(value=1),
        # one row, so the column's sum is its value; a sum reports the observed figure
        _customer_total(reference),
    ]


def _pareto_curve(reference: _Reference) -> list[Expectation]:
    share = "cumulative_revenue_share"
    expectations: list[Expectation] = [gxe.ExpectTableRowCountToEqual(value=CURVE_POINTS)]
    if reference.share_bounds is None:
        return expectations  # no revenue: only the 0% point has a share
    expectations += _shares(share, reference)
    # Point p covers the first ceil(p × n / 100) customers in Pareto order (revenue
    # descending): the share rises while it adds customers with revenue >= 0 and falls
    # while it adds the ones with negative revenue, which all rank last.
    rises, falls = (
        (gxe.ExpectColumnValuesToBeIncreasing, gxe.ExpectColumnValuesToBeDecreasing)
        if reference.total_positive
        else (gxe.ExpectColumnValuesToBeDecreasing, gxe.ExpectColumnValuesToBeIncreasing)
    )
    n, rising = reference.customers, reference.rising_customers
    if rising == n:
        expectations.append(rises(column=share, strictly=False))
        return expectations
    covered = [math.ceil(p * n / 100) for p in range(CURVE_POINTS)]
    last_rising = max(p for p, rank in enumerate(covered) if rank <= rising)
    first_falling = min(p for p, rank in enumerate(covered) if rank >= rising)
    expectations += [
        rises(column=share, strictly=False, row_condition=Column("customer_pct") <= last_rising),
        falls(column=share, strictly=False, row_condition=Column("customer_pct") >= first_falling),
    ]
    return expectations


def _segment_summary(reference: _Reference) -> list[Expectation]:
    expectations = []
    # Every base's segments cover all customers. GX has no group-by: one conditional
    # expectation per base (a missing base sums to 0 and fails).
    for base in BASES:
        in_base = Column("base") == base
        expectations.append(_customer_total(reference, row_condition=in_base))
        if reference.share_bounds is not None:
            expectations.append(_sum_to_one("revenue_share", row_condition=in_base))
    expectations += _shares("revenue_share", reference)
    return expectations


def _segment_transitions(reference: _Reference, frame: pl.DataFrame) -> list[Expectation]:
    expectations = []
    # Per base, everyone in this refresh moved somewhere (or stayed): the rows not going
    # to "(lost)" count every current customer. Bases as published (an empty table, when
    # there is nothing to compare, has none).
    if "base" in frame.columns:
        for base in sorted(frame["base"].drop_nulls().unique().to_list()):
            current = (Column("base") == base) & (Column("to_segment") != LOST)
            expectations.append(_customer_total(reference, row_condition=current))
    return expectations


def _keys(*columns: str) -> list[Expectation]:
    """Not null (uniqueness checks skip nulls) and unique, one column or compound."""
    not_null = [gxe.ExpectColumnValuesToNotBeNull(column=column) for column in columns]
    if len(columns) == 1:
        return [*not_null, gxe.ExpectColumnValuesToBeUnique(column=columns[0])]
    return [*not_null, gxe.ExpectCompoundColumnsToBeUnique(column_list=list(columns))]


def _customer_total(reference: _Reference, **condition: Any) -> Expectation:
    return gxe.ExpectColumnSumToBeBetween(
        column="customers",
        min_value=reference.customers,
        max_value=reference.customers,
        **condition,
    )


def _sum_to_one(column: str, **condition: Any) -> Expectation:
    return gxe.ExpectColumnSumToBeBetween(
        column=column,
        min_value=1 - SHARE_TOLERANCE,
        max_value=1 + SHARE_TOLERANCE,
        meta={"expected": f"1 ± {SHARE_TOLERANCE:g}"},
        **condition,
    )


def _shares(
    column: str,
    reference: _Reference,
    *,
    sums_to_one: bool = False,
    null_when_no_revenue: bool = True,
) -> list[Expectation]:
    """A share column: present and within bounds (and summing to 1), or null without revenue."""
    if reference.share_bounds is None:
        if null_when_no_revenue:
            return [gxe.ExpectColumnValuesToBeNull(column=column)]
        return []
    expectations = [
        gxe.ExpectColumnValuesToNotBeNull(column=column),
        _fraction(column, *reference.share_bounds),
    ]
    if sums_to_one:
        expectations.append(_sum_to_one(column))
    return expectations


def _fraction(column: str, low: float, high: float) -> Expectation:
    """Float values within [low, high], up to rounding.

    Shares, supports and scores are float divisions and sums: a published 1.0000000000000002
    (a Wilson bound at support 1, a lead matching every target value) is 1.
    """
    return gxe.ExpectColumnValuesToBeBetween(
        column=column,
        min_value=low - SHARE_TOLERANCE,
        max_value=high + SHARE_TOLERANCE,
        meta={"expected": f"between {low:.12g} and {high:.12g} (± {SHARE_TOLERANCE:g})"},
    )


# --- running them in polars ------------------------------------------------------------------


def _polars_failures(suites: Sequence[_Suite]) -> list[str]:
    """Each failed expectation's line, in table and suite order, evaluated in polars."""
    return [
        f"{suite.table}: {expectation.name()}: {finding}"
        for suite in suites
        for expectation in suite.expectations
        if (finding := _finding_in(suite.frame, expectation)) is not None
    ]


def _finding_in(frame: pl.DataFrame, expectation: Expectation) -> str | None:
    """What fails `expectation` in `frame`, worded as GX's result reads; None when it holds."""
    kwargs = expectation.kwargs
    if kwargs.get("row_condition") is not None:
        frame = frame.filter(kwargs["row_condition"].expr())
    expected = _expected(kwargs, expectation.meta)
    kind = expectation.type
    if kind == "expect_table_row_count_to_equal":
        return None if frame.height == kwargs["value"] else f"observed {frame.height}, {expected}"
    if kind == "expect_table_row_count_to_be_between":
        held = kwargs["min_value"] <= frame.height <= kwargs["max_value"]
        return None if held else f"observed {frame.height}, {expected}"
    if kind == "expect_column_sum_to_be_between":
        total = frame[kwargs["column"]].sum()
        held = kwargs["min_value"] <= total <= kwargs["max_value"]
        return None if held else f"observed {_number(_plain(total))}, {expected}"
    if kind == "expect_compound_columns_to_be_unique":
        rows = frame.select(kwargs["column_list"]).drop_nulls()
        repeated = rows.filter(rows.is_duplicated())
        return _unexpected(list(repeated.iter_rows()), expected, kwargs)
    column = pl.col(kwargs["column"])
    if kind == "expect_column_values_to_not_be_null":
        return _unexpected(frame.filter(column.is_null())[kwargs["column"]], expected, kwargs)
    if kind == "expect_column_values_to_be_null":
        return _unexpected(frame.filter(column.is_not_null())[kwargs["column"]], expected, kwargs)
    values = frame.select(column).to_series().drop_nulls()  # column maps skip nulls
    if kind == "expect_column_values_to_be_unique":
        bad = values.filter(values.is_duplicated())
    elif kind == "expect_column_values_to_be_in_set":
        bad = values.filter(~values.is_in(list(kwargs["value_set"])))
    elif kind == "expect_column_values_to_be_between":
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        outside = pl.lit(False)
        if low is not None:
            outside = outside | (pl.col(values.name) < low)
        if high is not None:
            outside = outside | (pl.col(values.name) > high)
        bad = values.to_frame().filter(outside).to_series()
    elif kind in ("expect_column_values_to_be_increasing", "expect_column_values_to_be_decreasing"):
        step = values.diff().fill_null(0)  # the first value has nothing before it
        bad = values.filter(step < 0 if kind.endswith("increasing") else step > 0)
    else:
        raise ValueError(f"no polars evaluation for {kind}: add it to _finding_in")
    return _unexpected(bad, expected, kwargs)


def _unexpected(
    bad: Sequence[Any] | pl.Series, expected: str, kwargs: Mapping[str, Any]
) -> str | None:
    """'N unexpected values, e.g. [...]' (with the range, for a range check); None if none."""
    count = len(bad)
    if not count:
        return None
    examples = [_plain(value) for value in list(bad)[:EXAMPLES]]
    text = f"{count} unexpected value{'' if count == 1 else 's'}, e.g. {examples}"
    if "min_value" in kwargs:
        text += f", {expected}"
    return text


# --- running GX ------------------------------------------------------------------------------


def _load_gx() -> None:
    """Import GX (seconds, the first time) with no analytics and no log lines below errors."""
    # GX 1.24 sends no analytics, but versions that do read this before import.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations  # noqa: F401

    # Some GX modules set their own logger to INFO on import: quiet each one.
    names = [n for n in logging.root.manager.loggerDict if n.startswith("great_expectations")]
    for name in ["great_expectations", *names]:
        logging.getLogger(name).setLevel(logging.ERROR)


def _validate(
    suites: Sequence[_Suite], *, docs_dir: Path, run_name: str
) -> list[tuple[str, list[ExpectationValidationResult]]]:
    """Run a checkpoint per table (its whole dataframe as one batch); build the docs once.
    Returns each table's results in its suite's order."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # Ephemeral: stores in memory, no gx/ folder in the working directory.
    context = gx.get_context(mode="ephemeral")
    # GX draws tqdm bars on stderr and passes `disable=` itself (TQDM_DISABLE has no effect).
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas(name=DATASOURCE)
    # One run id for all tables, so the docs file the whole refresh under one run.
    run_id = RunIdentifier(run_name=run_name, run_time=datetime.now(UTC))
    results = []
    for suite in suites:
        batch = source.add_dataframe_asset(name=suite.table).add_batch_definition_whole_dataframe(
            "whole table"
        )
        declared = [expectation.gx() for expectation in suite.expectations]
        expectations = context.suites.add(
            gx.ExpectationSuite(name=suite.table, expectations=declared)
        )
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=suite.table, data=batch, suite=expectations)
        )
        # One checkpoint per table: a checkpoint's dataframe parameter is shared by all
        # its validation definitions, and each table is its own dataframe.
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=suite.table,
                validation_definitions=[validation],
                result_format="SUMMARY",
            )
        )
        outcome = checkpoint.run(
            batch_parameters={"dataframe": _to_pandas(suite.frame)}, run_id=run_id
        )
        for validation in outcome.run_results.values():
            results.append((suite.table, _in_suite_order(declared, validation)))
    _build_docs(context, docs_dir)
    return results


def _to_pandas(frame: pl.DataFrame) -> Any:
    # Money is Decimal: pandas would hold Python Decimal objects, which GX's numeric
    # metrics do not expect. Floats are exact enough for what is checked (sums of counts
    # and shares, labels, keys).
    return frame.with_columns(cs.decimal().cast(pl.Float64)).to_pandas()


def _build_docs(context: Any, docs_dir: Path) -> None:
    docs_dir.mkdir(parents=True, exist_ok=True)
    # The ephemeral context's site points at a throw-away temporary directory; repoint it
    # (adding a site of the same name is refused). Absolute, so the cwd does not matter.
    context.update_data_docs_site(
        site_name=DOCS_SITE,
        site_config={
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir.resolve()),
            },
        },
    )
    context.build_data_docs(site_names=[DOCS_SITE])


# --- failure lines ---------------------------------------------------------------------------


def _in_suite_order(
    declared: Sequence[Any], validation: ExpectationSuiteValidationResult
) -> list[ExpectationValidationResult]:
    """GX returns results grouped by metric, not in suite order: restore the suite's order."""
    position = {expectation.id: index for index, expectation in enumerate(declared)}
    return sorted(
        validation.results,
        key=lambda result: position.get(result.expectation_config.id, len(position)),
    )


def _failure_line(table: str, result: ExpectationValidationResult) -> str:
    """'table: expectation(columns) [where condition]: what was found[, expected what]'."""
    config = result.expectation_config
    kwargs = config.kwargs
    columns = kwargs.get("column_list") or ([kwargs["column"]] if "column" in kwargs else [])
    name = config.type + (f"({', '.join(columns)})" if columns else "")
    if kwargs.get("row_condition"):
        name += f" where {_condition(kwargs['row_condition'])}"
    return f"{table}: {name}: {_finding(result)}"


def _finding(result: ExpectationValidationResult) -> str:
    error = _error(result.exception_info)
    if error:
        return f"error: {error}"
    found = result.result
    expected = _expected(result.expectation_config.kwargs, result.expectation_config.meta or {})
    if "unexpected_count" in found:  # column map: values one by one
        count = found["unexpected_count"]
        examples = [_plain(value) for value in found.get("partial_unexpected_list") or []]
        text = f"{count} unexpected value{'' if count == 1 else 's'}, e.g. {examples[:EXAMPLES]}"
        # a range is short enough to say; value sets may be long (the docs list them)
        if "min_value" in result.expectation_config.kwargs:
            text += f", {expected}"
        return text
    # 12 digits: the sum 0.6 + 0.3 + 0.15 = 1.0499999999999998 reads as the 1.05 it is;
    # every float bound has a tolerance of 1e-9, so a failure is never rounded away.
    return f"observed {_number(_plain(found.get('observed_value')))}, {expected}"


def _error(exception_info: Mapping[str, Any] | None) -> str | None:
    """The first exception message; GX nests them per metric when a metric failed."""
    if not exception_info:
        return None
    infos = [exception_info] if "raised_exception" in exception_info else exception_info.values()
    for info in infos:
        if isinstance(info, Mapping) and info.get("raised_exception"):
            message = str(info.get("exception_message") or "exception").strip()
            return message.removeprefix("Error: ").splitlines()[0]
    return None


def _expected(kwargs: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    if "expected" in meta:
        return f"expected {meta['expected']}"
    if "value" in kwargs:
        return f"expected {_number(kwargs['value'])}"
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and high is not None:
        if low == high:
            return f"expected {_number(low)}"
        return f"expected between {_number(low)} and {_number(high)}"
    if low is not None:
        return f"expected at least {_number(low)}"
    if high is not None:
        return f"expected at most {_number(high)}"
    return "expected otherwise"


def _condition(condition: Mapping[str, Any]) -> str:
    """A GX row condition (as serialised in the result) as text: base == 'demographic'."""
    if condition.get("type") == "comparison":
        column = condition["column"]["name"]
        return f"{column} {condition['operator']} {_plain(condition['parameter'])!r}"
    if "conditions" in condition:
        joiner = f" {condition['type']} "
        return joiner.join(_condition(part) for part in condition["conditions"])
    return str(condition)


def _plain(value: Any) -> Any:
    """numpy scalars as Python values; compound-key rows as tuples."""
    if isinstance(value, Mapping):
        return tuple(_plain(item) for item in value.values())
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.12g}"
    return str(value)
