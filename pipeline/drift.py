"""The drift monitor: a monthly check that refreshes early when the market moved.

Produces `run_drift_check`, the check itself (`flows.drift` runs it as the
`drift-check` Prefect flow).
It computes the tiers and segments of the current data (extract, validate,
transform; no profiling, no publishing), compares them with the published
refresh (`transforms.drift`: a population stability index per measure) and
looks for products launched since that refresh. Past `[drift] psi_threshold`,
or on a launch, it runs the refresh at once with `trigger = drift` (or
`launch`) and the measured reason recorded.

The current data is measured as of the newest order date up to today, never
earlier than the published refresh's as_of: data that has not changed since
the refresh is measured as of the same date and shows no drift (PSI 0), rather
than the drift of customers merely ageing past an arbitrary date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from config.loader import LoadedConfig
from config.settings import Settings
from pipeline.refresh import RefreshResult, run_refresh
from pipeline.runner import Stages
from pipeline.stages import extract, stage_logger, transform, validate
from sources.buckets import release
from transforms.drift import DriftMeasure, drift_measures
from warehouse.publish import open_warehouse

PUBLISHED = ("tier_summary", "segment_summary", "customer_segments", "personas", "attribute_mix")


@dataclass(frozen=True)
class DriftReport:
    """What the monitor measured and did."""

    measures: list[DriftMeasure]
    launches: list[str]  # "product_id (launched_at)"
    trigger: str | None  # "drift", "launch" or None (no early refresh)
    reason: str | None
    refresh: RefreshResult | None
    as_of: date | None = None  # the date the current data was measured as of
    published_as_of: date | None = None


def run_drift_check(
    config: LoadedConfig,
    *,
    today: date | None,
    dry_run: bool,
    stages: Stages,
    as_of: date | None = None,
) -> DriftReport:
    """The check itself, its stages run by `stages` (Prefect tasks or plain calls)."""
    settings = config.settings
    today = today or date.today()
    logger = stage_logger()
    with open_warehouse(settings) as warehouse:
        current = warehouse.current_run()
        if current is None:
            logger.info("no published refresh to compare with: nothing to measure")
            return DriftReport([], [], None, None, None)
        published = {name: warehouse.read_current(name) for name in PUBLISHED}
    published_as_of = current["as_of"]
    assert isinstance(published_as_of, date)
    inputs = stages.run(validate, stages.run(extract, settings, retry=True), settings)
    try:
        measured_as_of = as_of or drift_as_of(inputs.orders, today=today, since=published_as_of)
        logger.info(
            "measuring the data as of %s against the refresh as of %s",
            measured_as_of,
            published_as_of,
        )
        computed = stages.run(transform, inputs, settings, measured_as_of, config.config_hash)
    finally:
        release(inputs.spilled)  # the early refresh, if any, reads the sources again
    measures = drift_measures(published, computed.tables)
    for measure in measures:
        logger.info("drift %s: PSI %.3f", measure.name, measure.psi)
    launches = _launches_since(inputs.products, published_as_of, today)
    trigger, reason = _decide(measures, launches, settings)
    report = DriftReport(measures, launches, trigger, reason, None, measured_as_of, published_as_of)
    if trigger is None:
        logger.info(
            "no drift past %s and no launch: no early refresh", settings.drift.psi_threshold
        )
        return report
    logger.info("early refresh (%s): %s", trigger, reason)
    if dry_run:
        return report
    if stages.with_prefect:  # a subflow: the early refresh shows in the UI as its own run
        from flows.refresh import refresh

        result = refresh(
            config_path=config.path, as_of=measured_as_of, reason=reason, trigger=trigger
        )
    else:
        result = run_refresh(
            config, as_of=measured_as_of, reason=reason, trigger=trigger, stages=stages
        )
    return DriftReport(measures, launches, trigger, reason, result, measured_as_of, published_as_of)


def drift_as_of(orders: pl.LazyFrame, *, today: date, since: date) -> date:
    """The date the current data is measured as of: the newest order date up to `today`,
    never earlier than `since` (the published refresh's as_of)."""
    newest = (
        orders.select(pl.col("order_date").dt.date())
        .filter(pl.col("order_date") <= today)
        .select(pl.col("order_date").max())
        .collect()
        .item()
    )
    return since if newest is None else max(since, newest)


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
        .sort("launched_at", "product_id")
        .select(pl.format("{} ({})", "product_id", pl.col("launched_at").dt.date()))
        .collect()
    )
    return launched.to_series().to_list()
