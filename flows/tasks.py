"""Prefect tasks of the refresh: extract, validate, transform, publish.

Each task does one stage, logs its row counts and time, and hands plain
polars frames to the next. Tasks do the I/O; the computing is delegated to
the pure functions in `transforms/`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import partial

import polars as pl
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError

from config.settings import Settings
from schemas.cross_checks import lines_without_package_tier, mixed_currencies
from schemas.inputs import raw_schema
from schemas.validation import PROBLEM_SCHEMA, find_problems, summarise_problems
from sources.extract import extract_source
from transforms.customer_metrics import customer_metrics, valid_order_lines
from transforms.pareto import pareto_curve, pareto_ranks, pareto_summary
from transforms.revenue_tiers import assign_tiers, tier_summary
from transforms.rfm import (
    DEFAULT_SEGMENT_MAP,
    PYMC_SEGMENTS,
    RfmRule,
    pymc_rfm_segments,
    rfm_scores,
)
from transforms.segmentation import (
    BASES,
    Condition,
    SegmentRule,
    assign_segments,
    customer_attributes,
    segment_summary,
)
from transforms.staging import stage_orders, stage_source
from warehouse.publish import RunRecord, Warehouse
from warehouse.tables import CUSTOMER_SEGMENTS

# Sources the outputs of this version use; the others are read by later stages.
USED_SOURCES = ("orders", "customers", "products")


class DataValidationError(Exception):
    """Input rows broke their contract; nothing was published. The CLI exits 1."""

    def __init__(self, problems: pl.DataFrame) -> None:
        self.problems = problems
        super().__init__(
            f"{problems.height} problem(s) in the input, nothing published: "
            f"{summarise_problems(problems)}"
        )


def stage_logger() -> logging.Logger | logging.LoggerAdapter:
    """The Prefect run logger inside a flow or task run; a plain logger outside one."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("personas")


class EmptyRefreshError(Exception):
    """No order line counts up to as_of: publishing would replace good data with nothing."""


@contextmanager
def _timed(stage: str) -> Iterator[dict[str, object]]:
    """Log how long a stage took, with whatever counts it adds to the dict it yields."""
    facts: dict[str, object] = {}
    started = time.perf_counter()
    yield facts
    elapsed = time.perf_counter() - started
    counts = ", ".join(f"{key} {value:,}" for key, value in facts.items() if isinstance(value, int))
    stage_logger().info("%s: %s in %.2f s", stage, counts or "done", elapsed)


@task(name="extract", cache_policy=NO_CACHE)
def extract(settings: Settings) -> dict[str, pl.DataFrame]:
    """Read every configured source that this version uses, as text rows."""
    frames: dict[str, pl.DataFrame] = {}
    for name in USED_SOURCES:
        source = settings.sources.get(name)
        if source is None:
            continue
        with _timed(f"extract {name}") as facts:
            frames[name] = extract_source(name, source).collect()
            facts["rows"] = frames[name].height
    return frames


@dataclass(frozen=True)
class ValidatedInputs:
    """Staged, typed inputs that passed their contracts."""

    orders: pl.LazyFrame
    customers: pl.LazyFrame | None
    products: pl.LazyFrame | None
    rows_in: int


@task(name="validate", cache_policy=NO_CACHE)
def validate(raw: dict[str, pl.DataFrame], settings: Settings) -> ValidatedInputs:
    """Check every source against its contract, then across sources; stage what passed.

    Raises:
        DataValidationError: with every problem found, when any row is bad.
    """
    scale = settings.money.scale
    problems: list[pl.DataFrame] = []
    staged: dict[str, pl.LazyFrame] = {}
    for name, rows in raw.items():
        date_format = settings.sources[name].date_format
        with _timed(f"validate {name}") as facts:
            found = find_problems(
                name, rows, raw_schema(name, scale=scale, date_format=date_format)
            )
            facts["rows"], facts["problems"] = rows.height, found.height
        problems.append(found)
        if found.is_empty():
            stage = stage_orders if name == "orders" else partial(stage_source, name)
            staged[name] = stage(
                rows.lazy(),
                scale=scale,
                date_format=date_format,
                extra_columns=settings.sources[name].extra_columns,
            )
    if "orders" in staged:
        problems.append(mixed_currencies(staged["orders"], currency=settings.money.currency))
        if settings.tiers.rule == "package" and "products" in staged:
            problems.append(
                lines_without_package_tier(
                    staged["orders"], staged["products"], packages=settings.tiers.packages
                )
            )
    all_problems = pl.concat(problems) if problems else pl.DataFrame(schema=PROBLEM_SCHEMA)
    if not all_problems.is_empty():
        raise DataValidationError(all_problems)
    return ValidatedInputs(
        orders=staged["orders"],
        customers=staged.get("customers"),
        products=staged.get("products"),
        rows_in=sum(rows.height for rows in raw.values()),
    )


@task(name="transform", cache_policy=NO_CACHE)
def transform(
    inputs: ValidatedInputs, settings: Settings, as_of: date, config_hash: str = ""
) -> dict[str, pl.DataFrame]:
    """Customer metrics, Pareto, tiers and their summaries, computed in one lazy plan."""
    with _timed("transform") as facts:
        metrics = customer_metrics(inputs.orders, as_of=as_of)
        ranked = pareto_ranks(
            metrics,
            class_a_share=settings.pareto.class_a_share,
            class_b_share=settings.pareto.class_b_share,
        )
        tiers = settings.tiers
        tiered = assign_tiers(
            ranked,
            rule=tiers.rule,
            lines=valid_order_lines(inputs.orders, as_of=as_of),
            products=inputs.products,
            large_share=tiers.large_share,
            medium_share=tiers.medium_share,
            large_min_revenue=tiers.large_min_revenue,
            medium_min_revenue=tiers.medium_min_revenue,
            packages=tiers.packages,
            medium_min_quantity=tiers.medium_min_quantity,
            large_min_quantity=tiers.large_min_quantity,
        ).cache()
        scored = _with_rfm(tiered, inputs.orders, settings, as_of)
        attributes = customer_attributes(scored, inputs.customers, as_of=as_of)
        segmented = assign_segments(attributes, bases=segment_bases(settings)).cache()
        segments = segmented.with_columns(
            reason=pl.concat_str(
                [
                    pl.col("tier_reason"),
                    pl.format("Pareto class {}", pl.col("pareto_class")),
                    pl.col("rfm_reason"),
                    *(pl.col(f"{base}_reason") for base in BASES),
                    pl.lit(f"config {config_hash[:12]}"),
                ],
                separator="; ",
            )
        ).select(CUSTOMER_SEGMENTS.column_names)
        segments_frame, summary, pareto_row, curve, by_segment = pl.collect_all(
            [
                segments.sort("customer_id"),
                tier_summary(tiered, preference=tiers.key_tier_preference),
                pareto_summary(tiered, top_share=settings.pareto.top_share),
                pareto_curve(tiered),
                segment_summary(segmented),
            ]
        )
        facts["customers"] = segments_frame.height
    if segments_frame.is_empty():
        raise EmptyRefreshError(
            f"no valid order line dated on or before as_of {as_of} (all later, or cancelled); "
            "nothing published: check --as-of and sources.orders.date_format"
        )
    return {
        "customer_segments": segments_frame,
        "tier_summary": summary,
        "pareto_summary": pareto_row,
        "pareto_curve": curve,
        "segment_summary": by_segment,
    }


def segment_bases(settings: Settings) -> dict[str, tuple[list[SegmentRule], str]]:
    """The configured rules of each segmentation base, as the transform takes them."""
    bases = {}
    for base in BASES:
        configured = getattr(settings.segments, base)
        rules = [
            SegmentRule(
                rule.name,
                {
                    column: Condition(values=condition)
                    if isinstance(condition, tuple)
                    else Condition(
                        values=condition.values,
                        not_in=condition.not_in,
                        minimum=condition.min,
                        maximum=condition.max,
                    )
                    for column, condition in rule.when.items()
                },
            )
            for rule in configured.rules
        ]
        bases[base] = (rules, configured.default)
    return bases


def _with_rfm(
    customers: pl.LazyFrame, orders: pl.LazyFrame, settings: Settings, as_of: date
) -> pl.LazyFrame:
    """Add r/f/m scores, rfm_segment and rfm_reason by the configured preset."""
    rfm = settings.rfm
    if rfm.preset == "pymc":
        lines = valid_order_lines(orders, as_of=as_of)
        scores = pymc_rfm_segments(lines, as_of=as_of, segments=rfm.pymc_segments or PYMC_SEGMENTS)
        return customers.join(scores, on="customer_id", how="left")
    segment_map = (
        [RfmRule(rule.name, rule.r, rule.fm) for rule in rfm.segments]
        if rfm.segments
        else DEFAULT_SEGMENT_MAP
    )
    return rfm_scores(customers, segment_map=segment_map)


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
    )
    try:
        yield warehouse
    finally:
        warehouse.dispose()


@task(name="publish", cache_policy=NO_CACHE)
def publish(settings: Settings, tables: dict[str, pl.DataFrame], run: RunRecord) -> None:
    """Write the refresh and make it current, all tables at once."""
    with (
        open_warehouse(settings) as warehouse,
        _timed(f"publish to {warehouse.display_url}") as facts,
    ):
        warehouse.ensure_schema()
        warehouse.publish(tables, run)
        facts["rows"] = sum(frame.height for frame in tables.values())
