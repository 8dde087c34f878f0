"""The drift monitor: a monthly flow that refreshes early when the market moved.

Produces the `drift-check` Prefect flow. It computes today's tiers and segments
from the sources (extract, validate, transform; no profiling, no publishing),
compares them with the published refresh (`transforms.drift`: a population
stability index per measure) and looks for products launched since that
refresh. Past `[drift] psi_threshold`, or on a launch, it runs `refresh` at
once with `trigger = drift` (or `launch`) and the measured reason recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger

from config.loader import load_config
from config.settings import Settings
from flows.refresh import RefreshResult, refresh
from flows.tasks import extract, transform, validate
from transforms.drift import DriftMeasure, drift_measures
from warehouse.publish import open_warehouse

PUBLISHED = ("tier_summary", "segment_summary", "customer_segments", "personas")


@dataclass(frozen=True)
class DriftReport:
    """What the monitor measured and did."""

    measures: list[DriftMeasure]
    launches: list[str]  # "product_id (launched_at)"
    trigger: str | None  # "drift", "launch" or None (no early refresh)
    reason: str | None
    refresh: RefreshResult | None


@flow(name="drift-check", log_prints=False)
def drift_check(config_path: Path, today: date | None = None, dry_run: bool = False) -> DriftReport:
    """Compare the current data with the published refresh; refresh early past the threshold.

    Args:
        config_path: the TOML configuration.
        today: the date to measure as of (default today).
        dry_run: measure and report, but never start a refresh.
    """
    config = load_config(config_path)
    settings = config.settings
    today = today or date.today()
    logger = get_run_logger()
    with open_warehouse(settings) as warehouse:
        current = warehouse.current_run()
        if current is None:
            logger.info("no published refresh to compare with: nothing to measure")
            return DriftReport([], [], None, None, None)
        published = {name: warehouse.read_current(name) for name in PUBLISHED}
    published_as_of = current["as_of"]
    inputs = validate(extract(settings), settings)
    computed = transform(inputs, settings, today, config.config_hash)
    current = {**computed.tables, "customers": computed.customers}
    measures = drift_measures(published, current)
    for measure in measures:
        logger.info("drift %s: PSI %.3f", measure.name, measure.psi)
    launches = _launches_since(inputs.products, published_as_of, today)
    trigger, reason = _decide(measures, launches, settings)
    if trigger is None:
        logger.info(
            "no drift past %s and no launch: no early refresh", settings.drift.psi_threshold
        )
        return DriftReport(measures, launches, None, None, None)
    logger.info("early refresh (%s): %s", trigger, reason)
    if dry_run:
        return DriftReport(measures, launches, trigger, reason, None)
    result = refresh(config_path=config.path, as_of=today, reason=reason, trigger=trigger)
    return DriftReport(measures, launches, trigger, reason, result)


def _decide(
    measures: list[DriftMeasure], launches: list[str], settings: Settings
) -> tuple[str | None, str | None]:
    threshold = float(settings.drift.psi_threshold)
    past = [m for m in measures if m.psi > threshold]
    if launches:
        return "launch", f"launched since the last refresh: {', '.join(launches)}"
    if past:
        shown = ", ".join(f"{m.name} PSI {m.psi:.2f}" for m in past)
        return "drift", f"drift past PSI {threshold:g}: {shown}"
    return None, None


def _launches_since(products: pl.LazyFrame | None, since: date, today: date) -> list[str]:
    """Products launched after the published refresh's as_of date, up to today."""
    if products is None or "launched_at" not in products.collect_schema().names():
        return []
    launched = (
        products.filter(
            (pl.col("launched_at") > since) & (pl.col("launched_at").dt.date() <= today)
        )
        .sort("launched_at")
        .select(pl.format("{} ({})", "product_id", pl.col("launched_at").dt.date()))
        .collect()
    )
    return launched.to_series().to_list()
