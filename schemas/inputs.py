"""Contracts of the input sources: canonical columns, types, and pandera schemas over raw rows.

Produces, per source, the list of canonical columns (`SOURCE_COLUMNS`) and a
pandera `DataFrameSchema` (`raw_schema`) that checks the extracted rows while
they are still text: required columns present, keys not null, every value
parseable as its canonical type, keys unique where the grain says so. One
declaration drives both validation and staging, so a value that passes
validation always casts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import pandera.polars as pa
import polars as pl

from transforms import parsing
from transforms.statuses import DEFAULT_STATUSES, REFUNDED, UNKNOWN, status_category

Kind = Literal["id", "text", "money", "number", "integer", "datetime", "date", "flag"]
ROW_NUMBER = "_row_number"  # 1-based position of the row in its source, kept for error reports
DEFAULT_MAX_LINE_AMOUNT = Decimal("1e15")
MIN_AGE, MAX_AGE = 0, 120


@dataclass(frozen=True)
class CanonicalColumn:
    """One canonical input column."""

    name: str
    kind: Kind
    required: bool = False
    description: str = ""


def _cols(*columns: CanonicalColumn) -> tuple[CanonicalColumn, ...]:
    return columns


C = CanonicalColumn
_COMPANY_ATTRIBUTES = _cols(
    C("name", "text"),
    C("customer_type", "text", description="B2B or B2C"),
    C("industry", "text"),
    C("employee_count", "integer"),
    C("annual_revenue", "number"),
    C("country", "text"),
    C("region", "text"),
    C("city", "text"),
    C("market_position", "text", description="leader / challenger / new entrant"),
    C("growth_stage", "text", description="declining / stagnant / average / fast / hyper-growth"),
)
_PERSON_ATTRIBUTES = _cols(
    C("gender", "text"),
    C("birth_date", "date"),
    C("age", "integer"),
    C("education", "text"),
    C("interests", "text"),
)

SOURCE_COLUMNS: dict[str, tuple[CanonicalColumn, ...]] = {
    "orders": _cols(
        C("customer_id", "id", required=True),
        C("order_date", "datetime", required=True),
        C("order_id", "id", description="absent: one customer's lines on one day are one order"),
        C("line_number", "id", description="the line's position in its order (line key part)"),
        C("amount", "money", description="absent: quantity × unit_price − discount"),
        C("quantity", "integer"),
        C("unit_price", "money"),
        C("discount", "money"),
        C("cost", "money"),
        C("currency", "text"),
        C("status", "text", description="cancelled lines count for nothing; refunded are negative"),
        C("product_id", "id"),
        C("channel", "text"),
        C("due_date", "datetime", description="when the order is due to be paid (pays_on_time)"),
        C("paid_at", "datetime", description="when it was paid; empty: not yet"),
    ),
    "customers": _cols(
        C("customer_id", "id", required=True),
        *_COMPANY_ATTRIBUTES,
        # what identity resolution matches records of one customer on ([identity])
        C("tax_code", "id", description="tax code (mã số thuế): one company, one code"),
        C("email", "text", description="hashed as it is read, like every contact column"),
        C("phone", "text", description="hashed as it is read, in E.164 (+84…)"),
        C("address", "text"),
        C("acquisition_channel", "text"),
        C("created_at", "datetime"),
        *_PERSON_ATTRIBUTES,
        C("income", "number"),
        C("occupation", "text"),
    ),
    "contacts": _cols(
        C("contact_id", "id", required=True),
        C("customer_id", "id", required=True),
        C("title", "text"),
        C("role", "text"),
        C("level", "text", description="level below the CEO: N, N-1, N-2 …"),
        C("is_decision_maker", "flag"),
        *_PERSON_ATTRIBUTES,
        C("major", "text"),
        C("personality", "text"),
        C("preferred_channel", "text"),
    ),
    "products": _cols(
        C("product_id", "id", required=True),
        C("name", "text"),
        C("package", "text"),
        C("list_price", "money"),
        C("category", "text"),
        C("launched_at", "datetime"),
    ),
    "leads": _cols(
        C("lead_id", "id", required=True),
        C("created_at", "datetime"),
        C("source", "text"),
        C("converted_customer_id", "id"),
        C("converted_at", "datetime"),
        *_COMPANY_ATTRIBUTES,
    ),
    "feedback": _cols(
        C("customer_id", "id", required=True),
        C("created_at", "datetime"),
        C("channel", "text"),
        C("goal", "text"),
        C("pain_point", "text"),
        C("motivation", "text"),
        C("info_source", "text"),
        C("text", "text"),
        C("score", "number"),
    ),
}
del C

# Sources whose key must be unique: their grain is one row per key.
UNIQUE_KEYS: dict[str, str] = {
    "customers": "customer_id",
    "contacts": "contact_id",
    "products": "product_id",
    "leads": "lead_id",
}

# What a failed check is called in error reports and the quarantine.
PROBLEMS: dict[Kind, str] = {
    "money": "not a decimal amount with at most {scale} decimal places",
    "number": "not a decimal number with at most {scale} decimal places",
    "integer": "not a whole number",
    "datetime": "not a date in format {date_format}",
    "date": "not a date in format {date_format}",
    "flag": "not a yes/no value",
}


Names = frozenset[str]
# The typed value of a column by name: parsed from the text (pandera, which checks the
# rows as extracted) or read from the staged column (the screen, which parsed it once).
Value = Callable[[str], pl.Expr]
RuleExpr = Callable[[Names, Value], pl.Expr]
TYPED = "\x00typed "  # the screen's prefix for staged columns beside their text


def parse_value(
    column: CanonicalColumn,
    *,
    scale: int,
    date_format: str | None,
    dtype: pl.DataType | None = None,
) -> pl.Expr:
    """The column's text as its canonical type; null where it is blank or not valid. A
    column a source already stores typed (`dtype`: whole numbers, dates) is cast."""
    name = column.name
    if (
        dtype is not None
        and dtype != pl.String
        and column.kind in ("money", "number", "integer", "datetime", "date")
    ):
        target = {
            "money": pl.Decimal(38, scale),
            "number": pl.Decimal(38, scale),
            "integer": pl.Int64(),
            "datetime": pl.Datetime("us"),
            "date": pl.Date(),
        }[column.kind]
        return pl.col(name).cast(target, strict=False)  # null where it does not fit
    if column.kind in ("money", "number"):
        return parsing.parse_decimal(name, scale)
    if column.kind == "integer":
        return parsing.parse_integer(name)
    if column.kind == "datetime":
        return parsing.parse_datetime(name, date_format)
    if column.kind == "date":
        return parsing.parse_date(name, date_format)
    if column.kind == "flag":
        return parsing.parse_flag(name)
    return parsing.text(name)


def text_values(
    source: str,
    *,
    scale: int,
    date_format: str | None,
    statuses: Mapping[str, Sequence[str]] = DEFAULT_STATUSES,
) -> Value:
    """Each column's typed value parsed from its text, as staging types it (an order's
    status is its category word)."""
    columns = {column.name: column for column in SOURCE_COLUMNS[source]}

    def value(name: str) -> pl.Expr:
        if source == "orders" and name == "status":
            return status_category(pl.col(name), statuses)
        return parse_value(columns[name], scale=scale, date_format=date_format)

    return value


def staged_values(name: str) -> pl.Expr:
    """A column's typed value in the screen's frame: its staged column."""
    return pl.col(TYPED + name)


@dataclass(frozen=True)
class Rule:
    """One check of a raw contract: where `passes` is false the row has `error`.

    `passes(names, value)` reads the columns the rows have (`names`: a rule may read
    optional columns) and typed values through `value`. One rule serves pandera
    (`check`, on the text, which names every failure) and the screen
    (`RawContract.suspects`, on values staged once) that finds the rows worth
    naming. `screen`, when set, is the rule's test on staged values where its text
    test differs (a parse check: the text is there but no value came of it).
    """

    passes: RuleExpr
    error: str
    screen: RuleExpr | None = None
    # The rule tests only the text's shape (it parses, it is not blank, it has no NUL): a
    # column the source stores typed cannot fail it, other than by not fitting its type.
    text_only: bool = False

    def check(self, value: Value) -> pa.Check:
        """The rule as a pandera check on the text rows."""
        return pa.Check(
            lambda data: data.lazyframe.select(
                self.passes(frozenset(data.lazyframe.collect_schema().names()), value)
            ),
            error=self.error,
        )

    def fails_staged(self, names: Names) -> pl.Expr:
        """True where the rule may fail, read from the staged values (null counts)."""
        test = self.screen or self.passes
        return ~test(names, staged_values).fill_null(False)


def _parse_checks(column: CanonicalColumn, scale: int, date_format: str | None) -> list[Rule]:
    """The value parses as its kind, and (numbers) fits its type exactly."""
    name = column.name
    valid: pl.Expr
    fits: pl.Expr | None = None
    if column.kind in ("money", "number"):
        valid = parsing.is_valid_decimal(name, scale)
        fits = parsing.fits_decimal(name, scale)
        too_long = (
            f"too many digits to hold exactly (at most {parsing.whole_digits(scale)} before "
            "the decimal point)"
        )
    elif column.kind == "integer":
        valid = parsing.is_valid_integer(name)
        fits = parsing.fits_integer(name)
        too_long = f"whole number too large (more than {parsing.MAX_INTEGER_DIGITS} digits)"
    elif column.kind in ("datetime", "date"):
        valid = parsing.is_valid_datetime(name, date_format)
    elif column.kind == "flag":
        valid = parsing.is_valid_flag(name)
    else:
        return []
    problem = PROBLEMS[column.kind].format(scale=scale, date_format=date_format or "ISO 8601")
    blank = parsing.text(name).is_null()

    def parsed(names: Names, value: Value) -> pl.Expr:
        # Valid and fitting text is exactly text that stages to a value. Blank text stages
        # to none either, and passes: an empty one is told apart cheaply here, one of only
        # spaces (rare) is left to the schema, as trimming every value costs seconds.
        empty = pl.col(name).cast(pl.String).str.len_bytes() == 0
        return value(name).is_not_null() | empty

    checks = [Rule(lambda names, value: blank | valid, problem, screen=parsed, text_only=True)]
    if fits is not None:
        # Only where the shape is right: a malformed value has its own problem above.
        checks.append(
            Rule(
                lambda names, value: blank | ~valid | fits,
                too_long,
                screen=parsed,
                text_only=True,
            )
        )
    return checks


def _key_check(name: str) -> Rule:
    return Rule(
        # Nulls are reported by `nullable=False`; this catches keys that are only blanks.
        lambda names, value: pl.col(name).is_null() | parsing.text(name).is_not_null(),
        "missing key (blank)",
        text_only=True,
    )


@dataclass(frozen=True)
class RawContract:
    """A source's contract over its rows as extracted: the pandera schema, and the rules
    it is made of, so one polars pass can screen every row for the few to name."""

    schema: pa.DataFrameSchema
    column_rules: dict[str, tuple[Rule, ...]]
    frame_rules: tuple[Rule, ...]
    required: tuple[str, ...]
    unique_key: str | None

    def suspects(self, names: Names, typed: Names = frozenset()) -> pl.Expr:
        """True on every row that any check of the schema could fail (and maybe a few
        more), read from a frame holding each text column and, beside it, its staged
        value (`TYPED` + name): the schema runs on those rows only, and names each
        problem.

        A superset by construction: the same rules on the values staging parsed once
        (a parse check: text that staged to no value), a null result counted as a
        failure, every copy of a repeated unique key, every missing key. pandera
        ignores nulls in a column's checks, so a null value is not suspect.
        """
        failing = [
            pl.col(column).is_not_null() & rule.fails_staged(names)
            for column, rules in self.column_rules.items()
            if column in names
            for rule in rules
            if not (column in typed and rule.text_only)
        ]
        # A column stored typed (`typed`) has no text to misshape: only a value that does
        # not fit its canonical type (too large a number) fails its parse checks.
        failing += [
            pl.col(column).is_not_null() & staged_values(column).is_null()
            for column in sorted(typed & names)
            if column in self.column_rules
        ]
        failing += [rule.fails_staged(names) for rule in self.frame_rules]
        failing += [pl.col(column).is_null() for column in self.required if column in names]
        if self.unique_key is not None and self.unique_key in names:
            failing.append(pl.col(self.unique_key).is_duplicated())
        return pl.any_horizontal(failing) if failing else pl.lit(False)


def raw_contract(
    source: str,
    *,
    scale: int,
    date_format: str | None,
    max_line_amount: Decimal = DEFAULT_MAX_LINE_AMOUNT,
    extra_columns: tuple[str, ...] = (),
    statuses: Mapping[str, Sequence[str]] = DEFAULT_STATUSES,
) -> RawContract:
    """The contract of a source's rows as extracted (all text, canonical names).

    Args:
        source: one of the contract's source names.
        scale: decimal places allowed in money and numbers.
        date_format: strftime format of dates, or None for ISO 8601.
        max_line_amount: order lines with an amount or unit price this large are rejected.
        extra_columns: the source's non-canonical columns kept as text attributes.
        statuses: the order statuses by category (`[statuses]`); others are rejected.
    """
    columns: dict[str, pa.Column] = {}
    rules: dict[str, tuple[Rule, ...]] = {}
    value = text_values(source, scale=scale, date_format=date_format, statuses=statuses)
    unique_key = UNIQUE_KEYS.get(source)
    canonical = {column.name for column in SOURCE_COLUMNS[source]}
    for column in SOURCE_COLUMNS[source]:
        checks = _parse_checks(column, scale, date_format) + _storable_checks(column, date_format)
        checks += _plausibility_checks(source, column, max_line_amount)
        if column.required:
            checks.append(_key_check(column.name))
        rules[column.name] = tuple(checks)
        columns[column.name] = pa.Column(
            pl.String,
            nullable=not column.required,
            required=column.required,
            unique=column.name == unique_key,
            checks=[rule.check(value) for rule in checks],
            description=column.description or None,
        )
    for extra in extra_columns:
        if extra not in canonical:
            rules[extra] = (_no_nul_check(extra),)
            columns[extra] = pa.Column(
                pl.String, nullable=True, required=False, checks=[rules[extra][0].check(value)]
            )
    frame_rules = (
        (_amount_derivable_check(), _computed_amount_check(max_line_amount))
        if source == "orders"
        else ()
    )
    return RawContract(
        schema=pa.DataFrameSchema(
            columns,
            checks=[rule.check(value) for rule in frame_rules],
            strict=False,
            name=source,
        ),
        column_rules=rules,
        frame_rules=frame_rules,
        required=tuple(column.name for column in SOURCE_COLUMNS[source] if column.required),
        unique_key=unique_key,
    )


def raw_schema(source: str, **options: object) -> pa.DataFrameSchema:
    """The pandera schema of a source's rows as extracted (see `raw_contract`)."""
    return raw_contract(source, **options).schema  # type: ignore[arg-type]


# What every supported warehouse can store: PostgreSQL text holds no NUL character, and
# its dates (and Python's, which the drivers go through) run from year 1 to 9999.
NUL = "\x00"
MIN_YEAR, MAX_YEAR = 1, 9999


def _no_nul_check(name: str) -> Rule:
    has_nul = pl.col(name).cast(pl.String).str.contains(NUL, literal=True)
    return Rule(
        lambda names, value: ~has_nul.fill_null(False),
        "contains a NUL character, which a warehouse cannot store",
        text_only=True,
    )


def _storable_checks(column: CanonicalColumn, date_format: str | None) -> list[Rule]:
    """Values that parse but that some warehouse cannot store."""
    if column.kind in ("id", "text"):
        return [_no_nul_check(column.name)]
    if column.kind in ("datetime", "date"):
        return [
            Rule(
                lambda names, value: (
                    value(column.name).dt.year().is_between(MIN_YEAR, MAX_YEAR).fill_null(True)
                ),
                f"date outside the years {MIN_YEAR}-{MAX_YEAR} a warehouse can store",
            )
        ]
    return []


def _plausibility_checks(
    source: str, column: CanonicalColumn, max_line_amount: Decimal
) -> list[Rule]:
    """Values that parse but cannot be right: a line's sign, size or a person's age."""
    name = column.name

    def check(rule: Callable[[Value], pl.Expr], error: str) -> Rule:
        # Null where the text does not parse: the parse check already reports those.
        return Rule(lambda names, value: rule(value).fill_null(True), error)

    limit = pl.lit(max_line_amount).cast(pl.Decimal(38, 0))
    if source == "orders" and name == "quantity":
        # A return line is negative throughout (quantity and amount) or marked refunded;
        # a negative quantity on a line whose amount is positive is neither.
        def not_negative_unless_refund(names: Names, value: Value) -> pl.Expr:
            refund = (
                (value("status") == REFUNDED).fill_null(False)
                if "status" in names
                else pl.lit(False)
            )
            positive_amount = value("amount") > 0 if "amount" in names else pl.lit(False)
            bad = (value(name) < 0) & ~refund & positive_amount
            return ~bad.fill_null(False)

        return [
            Rule(
                not_negative_unless_refund,
                "negative quantity on a line whose amount is positive (not a refund)",
            )
        ]
    if source == "orders" and name == "unit_price":
        return [
            check(lambda value: value(name) > 0, "unit price is zero or negative"),
            check(
                lambda value: value(name).abs() < limit,
                f"unit price is implausibly large (>= money.max_line_amount {max_line_amount:,f})",
            ),
        ]
    if source == "orders" and name == "amount":
        return [
            check(
                lambda value: value(name).abs() < limit,
                f"amount is implausibly large (>= money.max_line_amount {max_line_amount:,f})",
            )
        ]
    if source == "orders" and name == "status":
        return [
            check(
                lambda value: value(name) != UNKNOWN,
                "unknown status: not in [statuses] sale, cancelled or refunded (add it to "
                "the list it belongs to)",
            )
        ]
    if name == "age":
        return [
            check(
                lambda value: value(name).is_between(MIN_AGE, MAX_AGE),
                f"age outside {MIN_AGE}-{MAX_AGE}",
            )
        ]
    return []


def _computed_amount_check(max_line_amount: Decimal) -> Rule:
    """A line without an amount gets quantity × unit_price − discount: that computed amount
    must be plausible too (1e9 × 1e7 is not a sale)."""

    def plausible(names: Names, value: Value, given: pl.Expr) -> pl.Expr:
        if not {"quantity", "unit_price"} <= names:
            return pl.lit(True).alias("amount")
        discount = (
            value("discount").cast(pl.Float64).fill_null(0.0)
            if "discount" in names
            else pl.lit(0.0)
        )
        # In floats: a plausibility bound, not money, and no product can overflow here.
        computed = (
            value("quantity").cast(pl.Float64) * value("unit_price").cast(pl.Float64) - discount
        )
        return (given | (computed.abs() < float(max_line_amount)).fill_null(True)).alias("amount")

    def check(names: Names, value: Value) -> pl.Expr:
        given = parsing.text("amount").is_not_null() if "amount" in names else pl.lit(False)
        return plausible(names, value, given)

    def screen(names: Names, value: Value) -> pl.Expr:
        # An amount that staged was given; one that did not is suspect either way.
        given = value("amount").is_not_null() if "amount" in names else pl.lit(False)
        return plausible(names, value, given)

    return Rule(
        check,
        "computed amount (quantity × unit_price − discount) is implausibly large "
        f"(>= money.max_line_amount {max_line_amount:,f})",
        screen=screen,
    )


def _amount_derivable_check() -> Rule:
    """Every order line needs an amount, or a quantity and a unit price to compute it from."""

    def derivable(present: Callable[[str], pl.Expr]) -> pl.Expr:
        return (present("amount") | (present("quantity") & present("unit_price"))).alias("amount")

    def check(names: Names, value: Value) -> pl.Expr:
        return derivable(
            lambda name: parsing.text(name).is_not_null() if name in names else pl.lit(False)
        )

    def screen(names: Names, value: Value) -> pl.Expr:
        # A value that staged is a value that was there (text that did not parse stages
        # to null: suspect, and the text test above decides).
        return derivable(lambda name: value(name).is_not_null() if name in names else pl.lit(False))

    return Rule(check, "no amount, and no quantity and unit_price to compute it", screen=screen)
