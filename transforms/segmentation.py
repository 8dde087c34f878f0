"""Marts: segments on the four bases (demographic, geographic, psychographic, behavioural).

Produces `customer_attributes` (grain: one customer; metrics joined with the
customers source and derived fields such as `age`) and `assign_segments`
(adds `<base>_segment` and `<base>_reason` per base from ordered rules) and
`segment_summary` (grain: one (base, segment): customers, revenue,
revenue_share).

Rules are evaluated in order and the first rule whose conditions all hold
wins; a customer no rule matches gets the base's default segment, so every
customer has exactly one segment per base. A condition on an attribute that
is null or absent does not hold (a missing customers source leaves the
customer in the default segment, and the reason says so).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import polars as pl

from schemas.reasons import as_part
from schemas.vocabulary import BASES


@dataclass(frozen=True)
class Condition:
    """One attribute condition: values in / not in a set, and/or a numeric band (inclusive)."""

    values: tuple[str, ...] | None = None
    not_in: tuple[str, ...] | None = None
    minimum: Decimal | None = None
    maximum: Decimal | None = None

    def describe(self, column: str) -> str:
        """The condition in words, for reasons."""
        parts = []
        if self.values is not None:
            parts.append(f"{column} in {list(self.values)}")
        if self.not_in is not None:
            parts.append(f"{column} not in {list(self.not_in)}")
        if self.minimum is not None:
            parts.append(f"{column} ≥ {self.minimum}")
        if self.maximum is not None:
            parts.append(f"{column} ≤ {self.maximum}")
        return " and ".join(parts)


@dataclass(frozen=True)
class SegmentRule:
    """A named segment: all its conditions must hold."""

    name: str
    conditions: Mapping[str, Condition]


def _holds(column: str, condition: Condition, available: set[str]) -> pl.Expr:
    if column not in available:
        return pl.lit(False)
    value = pl.col(column)
    checks: list[pl.Expr] = []
    if condition.values is not None:
        checks.append(value.cast(pl.String).is_in(list(condition.values)))
    if condition.not_in is not None:
        text = value.cast(pl.String)
        checks.append(text.is_not_null() & ~text.is_in(list(condition.not_in)))
    if condition.minimum is not None:
        checks.append(value.cast(pl.Float64) >= float(condition.minimum))
    if condition.maximum is not None:
        checks.append(value.cast(pl.Float64) <= float(condition.maximum))
    combined = pl.all_horizontal(checks) if checks else pl.lit(True)
    return combined.fill_null(False)


def customer_attributes(
    metrics: pl.LazyFrame, customers: pl.LazyFrame | None, *, as_of: date
) -> pl.LazyFrame:
    """Metrics joined with the customers source (if any); `age` derived from birth_date.

    Grain: one customer of `metrics`. Customers without orders are not kept.
    """
    if customers is None:
        return metrics
    attributes = customers.drop("_row_number", strict=False)
    names = set(attributes.collect_schema().names())
    overlapping = [c for c in names if c != "customer_id" and c in metrics.collect_schema()]
    joined = metrics.join(attributes.drop(overlapping), on="customer_id", how="left")
    return with_age(joined, as_of=as_of)


def with_age(frame: pl.LazyFrame, *, as_of: date) -> pl.LazyFrame:
    """Fill `age` from `birth_date` at as_of where the source gives no age."""
    names = frame.collect_schema().names()
    if "birth_date" not in names:
        return frame
    derived = age_at(pl.col("birth_date"), as_of)
    age = pl.coalesce(pl.col("age"), derived) if "age" in names else derived
    return frame.with_columns(age=age.cast(pl.Int64))


def age_at(birth: pl.Expr, as_of: date) -> pl.Expr:
    """Whole years from a birth date to as_of."""
    had_birthday = (pl.lit(as_of.month) > birth.dt.month()) | (
        (pl.lit(as_of.month) == birth.dt.month()) & (pl.lit(as_of.day) >= birth.dt.day())
    )
    return (pl.lit(as_of.year) - birth.dt.year() - (~had_birthday).cast(pl.Int32)).cast(pl.Int64)


PLACE_COLUMNS = ("country", "region", "city")


def largest_places(
    customers: pl.LazyFrame, *, top: int = 5, min_share: float = 0.05
) -> list[SegmentRule]:
    """Geographic rules from the data when none are configured: one segment per place.

    The first of country, region, city with two distinct values or more is used (one
    country: its regions, else its cities); its `top` largest values by customers that
    each hold at least `min_share` of the customers with a value get a segment of their
    own (ties by name), the others one "Other <places>" segment; customers without a
    value fall to the base's default. Nothing to split on gives no rules.
    """
    names = customers.collect_schema().names()
    for column in (c for c in PLACE_COLUMNS if c in names):
        counts = (
            customers.filter(pl.col(column).is_not_null())
            .group_by(column)
            .agg(customers=pl.len())
            .sort(["customers", column], descending=[True, False])
            .collect()
        )
        if counts.height < 2:
            continue
        known = counts["customers"].sum()
        chosen = [value for value, count in counts.head(top).rows() if count >= min_share * known]
        plural = {"country": "countries", "region": "regions", "city": "cities"}[column]
        rules = [SegmentRule(value, {column: Condition(values=(value,))}) for value in chosen]
        if counts.height > len(chosen):
            rules.append(SegmentRule(f"Other {plural}", {column: Condition(not_in=tuple(chosen))}))
        return rules
    return []


def assign_segments(
    customers: pl.LazyFrame,
    *,
    bases: Mapping[str, tuple[Sequence[SegmentRule], str]],
) -> pl.LazyFrame:
    """Add `<base>_segment` and `<base>_reason` for each base.

    Args:
        customers: one row per customer with the attributes the rules name.
        bases: base name -> (ordered rules, default segment).
    """
    available = set(customers.collect_schema().names())
    columns: list[pl.Expr] = []
    for base, (rules, default) in bases.items():
        segment = pl.lit(default)
        reason = pl.lit(_default_reason(base, default, rules, available))
        for rule in reversed(rules):  # built inside out, so the first rule wins
            matched = pl.all_horizontal(
                [_holds(c, cond, available) for c, cond in rule.conditions.items()] or [True]
            )
            described = " and ".join(
                cond.describe(column) for column, cond in rule.conditions.items()
            )
            segment = pl.when(matched).then(pl.lit(rule.name)).otherwise(segment)
            reason = (
                pl.when(matched)
                .then(pl.lit(f"{base} {rule.name}: {described or 'everyone'}"))
                .otherwise(reason)
            )
        columns += [segment.alias(f"{base}_segment"), as_part(reason).alias(f"{base}_reason")]
    return customers.with_columns(columns)


def _default_reason(
    base: str, default: str, rules: Sequence[SegmentRule], available: set[str]
) -> str:
    missing = sorted({c for rule in rules for c in rule.conditions} - available)
    note = f" (not in the data: {', '.join(missing)})" if missing else ""
    return f"{base} {default}: no rule matched{note}"


def segment_summary(customers: pl.LazyFrame, *, bases: Sequence[str] = BASES) -> pl.LazyFrame:
    """Customers and revenue per (base, segment), with the segment's revenue share in its base."""
    per_base = [
        customers.group_by(segment=pl.col(f"{base}_segment"))
        .agg(customers=pl.len().cast(pl.Int64), revenue=pl.col("revenue").sum())
        .with_columns(base=pl.lit(base))
        for base in bases
    ]
    total = pl.col("revenue").sum().over("base").cast(pl.Float64)
    return (
        pl.concat(per_base)
        .with_columns(
            revenue_share=pl.when(total != 0).then(pl.col("revenue").cast(pl.Float64) / total)
        )
        .select("base", "segment", "customers", "revenue", "revenue_share")
        .sort("base", "revenue", "segment", descending=[False, True, False])
    )
