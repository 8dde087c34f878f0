"""Predicted customer value: P(alive), expected purchases and CLV per customer.

Produces
- `purchase_days` (grain: one customer's purchase day): the day's net spend;
- `transaction_summary` (grain: one customer with a purchase day up to a cut-off):
  frequency, recency, T and monetary_value, the summary the models are fitted on;
- `predict_customer_value`: BG/NBD (purchases, P(alive)) and Gamma-Gamma (spend)
  fitted with pymc-marketing on that summary, giving per customer `p_alive`,
  `expected_purchases` over the horizon and `predicted_clv`, the `clv_model` rows
  (parameters, diagnostics, the holdout check) and the run notes.

Definitions:
- A transaction is a purchase day: a calendar day on which the customer's valid
  order lines net to zero or more (a free item counts: the customer came and
  bought). A day that nets below zero is a refund, not a purchase: it is left out
  of frequency, recency and spend (the refund is in the revenue, not in the
  purchase process).
- frequency = purchase days − 1 (repeat purchases); recency = first to last
  purchase day; T = first purchase day to the cut-off (as_of); in the time unit
  (days, or weeks = days / 7). These are Fader, Hardie & Lee's x, t_x and T.
- monetary_value = the mean net spend of the repeat purchase days (the first is
  left out, as in Fader & Hardie's Gamma-Gamma note); 0 for a customer without
  repeat purchases, whose expected spend is then the population mean.
- Gamma-Gamma is fitted on repeat customers whose monetary_value is above 0 (it
  models positive spend); every customer's expected spend is its conditional mean
  (p·(v + x·z̄)) / (p·x + q − 1), z̄ floored at 0.
- predicted_clv = Σ over the horizon's months of expected spend × the purchases
  expected that month, discounted monthly at (1 + annual rate)^(1/12) − 1.

Nothing is published as NaN: a customer with no purchase day (only refunds) has
null predictions; with fewer than `min_repeat_customers` repeat customers the
models are not fitted (their columns are null, `clv_model` says why); with
fewer than that many repeat customers of positive spend, or a fitted q ≤ 1 (no
finite mean spend), only predicted_clv is null.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any, Literal, Protocol

import numpy as np
import polars as pl

from transforms.purchases import as_groups, per_customer


class ValueSettings(Protocol):
    """What the fit reads of the `[clv]` settings (config.settings.ClvSettings)."""

    time_unit: Literal["days", "weeks"]
    horizon_months: int
    annual_discount_rate: Decimal
    fit_method: Literal["map", "mcmc"]
    mcmc_draws: int
    mcmc_tune: int
    mcmc_chains: int
    min_repeat_customers: int
    holdout_days: int


UNIT_DAYS = {"days": 1, "weeks": 7}
UNIT_CODES = {"days": "D", "weeks": "W"}
PREDICTIONS_SCHEMA = {
    "customer_id": pl.String,
    "p_alive": pl.Float64,
    "expected_purchases": pl.Float64,
    "predicted_clv": pl.Float64,
}
MODEL_SCHEMA = {"model": pl.String, "measure": pl.String, "value": pl.Float64, "note": pl.String}


def purchase_days(purchases: pl.LazyFrame) -> pl.LazyFrame:
    """One row per customer and purchase day with the day's net spend (`spend` ≥ 0).

    `purchases` are the valid lines summed per order (`purchases_of_lines`): an order
    counts on its first day."""
    return (
        purchases.group_by("customer_id", "order_day")
        .agg(spend=pl.col("amount").sum())
        .filter(pl.col("spend") >= 0)
    )


def transaction_summary(days: pl.LazyFrame, *, as_of: date, unit: str) -> pl.LazyFrame:
    """frequency, recency, T, monetary_value per customer from its purchase days up to
    `as_of` (`days` from `purchase_days`), recency and T in `unit` (days or weeks)."""
    per_unit = float(UNIT_DAYS[unit])
    summary = (
        days.filter(pl.col("order_day") <= as_of)
        .group_by("customer_id")
        .agg(
            first_day=pl.col("order_day").min(),
            last_day=pl.col("order_day").max(),
            frequency=(pl.len() - 1).cast(pl.Int64),
            total=pl.col("spend").sum(),
            first_spend=pl.col("spend").sort_by("order_day").first(),
        )
    )
    repeat_spend = (pl.col("total") - pl.col("first_spend")).cast(pl.Float64)
    return summary.select(
        "customer_id",
        "frequency",
        recency=(pl.col("last_day") - pl.col("first_day")).dt.total_days() / per_unit,
        T=(pl.lit(as_of, dtype=pl.Date) - pl.col("first_day")).dt.total_days() / per_unit,
        monetary_value=pl.when(pl.col("frequency") > 0)
        .then(repeat_spend / pl.col("frequency"))
        .otherwise(0.0),
    ).sort("customer_id")


Row = tuple[str, str, float | None, str]  # a clv_model row: model, measure, value, note


@dataclass(frozen=True)
class CustomerValue:
    """Per-customer predictions (PREDICTIONS_SCHEMA), the clv_model rows and run notes."""

    predictions: pl.DataFrame
    model: pl.DataFrame
    notes: list[str] = field(default_factory=list)


def no_customer_value() -> CustomerValue:
    """What a refresh without [clv] publishes: no predictions, no model rows."""
    return CustomerValue(pl.DataFrame(schema=PREDICTIONS_SCHEMA), pl.DataFrame(schema=MODEL_SCHEMA))


def predict_customer_value(
    purchases: pl.LazyFrame | Sequence[pl.LazyFrame], *, as_of: date, settings: ValueSettings
) -> CustomerValue:
    """Fit BG/NBD and Gamma-Gamma on the purchases up to `as_of`; predict every customer.

    Args:
        purchases: the valid order lines summed per order (customer_id, order_day, amount),
            or groups of them each holding whole customers (each summarised in turn).
        as_of: the end of the observed period.
        settings: the `[clv]` section.
    """
    from transforms import clv_fit  # pymc and pytensor only when asked for

    groups = as_groups(purchases)
    # Purchase days, one group of customers at a time (held when there is one group:
    # they are read again by the holdout).
    days = (
        [purchase_days(groups[0]).collect().lazy()]
        if len(groups) == 1
        else [purchase_days(group) for group in groups]
    )
    summary = _summary(days, as_of=as_of, unit=settings.time_unit)
    repeat = int((summary["frequency"] > 0).sum())
    rows: list[Row] = [
        ("bg_nbd", "customers", summary.height, "customers with a purchase day (fitted on)"),
        ("bg_nbd", "repeat_customers", repeat, "customers with two purchase days or more"),
    ]
    if repeat < settings.min_repeat_customers:
        return _not_fitted(
            rows,
            f"{repeat:,} customers bought on two days or more, fewer than [clv] "
            f"min_repeat_customers {settings.min_repeat_customers:,}",
        )

    options = clv_fit.FitOptions(
        method=settings.fit_method,
        draws=settings.mcmc_draws,
        tune=settings.mcmc_tune,
        chains=settings.mcmc_chains,
    )
    data = _model_input(summary)
    unit = settings.time_unit
    fit = _fit_purchases(clv_fit, data, options)
    if fit is None:
        return _not_fitted(rows, NO_MAXIMUM)
    model, fitted, priors = fit
    rows.append(("bg_nbd", "flat_priors", float(priors == FLAT), priors))
    rows += [
        ("bg_nbd", name, value, _NOTES[name].format(unit=unit)) for name, value in fitted.items()
    ]
    # The model's own count of the repeat purchases it was fitted on (Σ E[X(T)] of a new
    # customer over each customer's T) beside the count observed: the fit's tracking check.
    implied = float(clv_fit.new_customer_purchases(model, data, data["T"]).sum())
    rows += [
        ("bg_nbd", "log_likelihood", clv_fit.log_likelihood(model), "of the fitted data"),
        ("bg_nbd", "repeat_purchases", float(data["frequency"].sum()), "observed (Σ frequency)"),
        ("bg_nbd", "repeat_purchases_fitted", implied, "implied by the model, same periods"),
        ("bg_nbd", "fitted", 1, f"fitted by {settings.fit_method} ({unit})"),
    ]
    notes = [
        f"customer value: BG/NBD r {fitted['r']:.4g}, alpha {fitted['alpha']:.4g}, "
        f"a {fitted['a']:.4g}, b {fitted['b']:.4g} ({unit}) on {summary.height:,} customers"
    ]
    horizon = settings.horizon_months * clv_fit.MONTH_IN_UNITS[UNIT_CODES[unit]]
    clv = _lifetime_value(clv_fit, model, data, settings, options, rows, notes)
    predictions = pl.DataFrame(
        {
            "customer_id": summary["customer_id"],
            "p_alive": np.clip(clv_fit.probability_alive(model, data), 0.0, 1.0),
            "expected_purchases": np.maximum(clv_fit.expected_purchases(model, data, horizon), 0),
            "predicted_clv": clv,
        },
        schema=PREDICTIONS_SCHEMA,
    ).with_columns(  # NaN or infinite (a numerical failure) is published as unknown
        pl.when(pl.col(name).is_finite()).then(name).alias(name)
        for name in ("p_alive", "expected_purchases", "predicted_clv")
    )
    unfinite = predictions.height - predictions.drop_nulls(["p_alive", "expected_purchases"]).height
    if unfinite:
        notes.append(f"customer value: {unfinite:,} customers' predictions were not finite (null)")
    if settings.holdout_days:
        _holdout(clv_fit, days, as_of, settings, options, rows, notes)
    return CustomerValue(predictions, _model_frame(rows), notes)


def _not_fitted(rows: list[Row], reason: str) -> CustomerValue:
    """No predictions: the model rows so far, `fitted` 0 and why."""
    rows.append(("bg_nbd", "fitted", 0, f"not fitted: {reason}"))
    note = f"customer value: not fitted: {reason}; p_alive, expected_purchases, predicted_clv null"
    return CustomerValue(pl.DataFrame(schema=PREDICTIONS_SCHEMA), _model_frame(rows), [note])


FLAT = "flat priors: the maximum-likelihood fit"
NO_MAXIMUM = (
    "the likelihood has no maximum, with flat or default priors (the customers' purchase "
    "histories differ too little)"
)
# A parameter past this: the likelihood grows without bound (r, alpha → ∞ is every customer
# buying at one rate), so there is no estimate to publish.
DIVERGED = 1e6


def _fit_purchases(
    clv_fit: ModuleType, data: Any, options: Any
) -> tuple[Any, dict[str, float], str] | None:
    """BG/NBD by maximum likelihood; where that diverges, with pymc-marketing's weakly
    informative priors; None when neither gives finite parameters. Returns the model,
    its parameters and which priors it has, in words."""
    diverged = ""
    for flat in (True, False):
        model = clv_fit.fit_purchase_model(data, options, flat=flat)
        fitted = clv_fit.parameters(model, clv_fit.PURCHASE_PARAMETERS)
        if all(math.isfinite(value) and 0 < value < DIVERGED for value in fitted.values()):
            return model, fitted, FLAT if flat else f"pymc-marketing's default priors: {diverged}"
        if flat:
            shown = ", ".join(f"{name} {value:.3g}" for name, value in fitted.items())
            diverged = f"the maximum-likelihood fit diverged ({shown})"
    return None


_NOTES = {
    "r": "BG/NBD r: shape of the gamma of purchase rates",
    "alpha": "BG/NBD alpha: scale of the gamma of purchase rates ({unit})",
    "a": "BG/NBD a: beta of the dropout probability after each purchase",
    "b": "BG/NBD b: beta of the dropout probability after each purchase",
    "p": "Gamma-Gamma p: shape of the spend per purchase",
    "q": "Gamma-Gamma q: shape of the gamma of customers' spend scales",
    "v": "Gamma-Gamma v: scale of the gamma of customers' spend scales",
}


def _model_input(summary: pl.DataFrame) -> Any:
    """The summary as pymc-marketing takes it: a pandas frame keyed by row position (the
    ids would become the model's coordinates; positions are cheaper), z̄ floored at 0."""
    return summary.select(
        pl.int_range(pl.len()).alias("customer_id"),
        "frequency",
        "recency",
        "T",
        pl.col("monetary_value").clip(lower_bound=0.0),
    ).to_pandas()


def _lifetime_value(
    clv_fit: ModuleType,
    purchase_model: Any,
    data: Any,
    settings: ValueSettings,
    options: Any,
    rows: list[Row],
    notes: list[str],
) -> np.ndarray:
    """predicted_clv per customer (NaN where spend cannot be predicted); the Gamma-Gamma
    fit's rows and notes are added to `rows` and `notes`."""
    paying = data[(data["frequency"] > 0) & (data["monetary_value"] > 0)]
    rows.append(("gamma_gamma", "customers", len(paying), "repeat customers spending above 0"))
    reason = None
    if len(paying) < settings.min_repeat_customers:
        reason = (
            f"not fitted: {len(paying):,} repeat customers with spend above 0, fewer than "
            f"[clv] min_repeat_customers {settings.min_repeat_customers:,}"
        )
    else:
        model = clv_fit.fit_spend_model(paying, options)
        fitted = clv_fit.parameters(model, clv_fit.SPEND_PARAMETERS)
        rows += [("gamma_gamma", name, value, _NOTES[name]) for name, value in fitted.items()]
        if fitted["q"] <= 1:
            reason = f"no finite mean spend: q = {fitted['q']:.4g} ≤ 1"
    if reason is not None:
        rows.append(("gamma_gamma", "fitted", 0, reason))
        notes.append(f"customer value: spend model {reason}; predicted_clv null")
        return np.full(len(data), np.nan)
    mean_spend = fitted["p"] * fitted["v"] / (fitted["q"] - 1)
    rows += [
        ("gamma_gamma", "mean_spend", mean_spend, "expected spend per purchase, new customer"),
        ("gamma_gamma", "log_likelihood", clv_fit.log_likelihood(model), "of the fitted data"),
        ("gamma_gamma", "fitted", 1, f"fitted by {settings.fit_method}"),
    ]
    notes.append(
        f"customer value: Gamma-Gamma p {fitted['p']:.4g}, q {fitted['q']:.4g}, "
        f"v {fitted['v']:.4g} on {len(paying):,} repeat customers"
    )
    clv = clv_fit.lifetime_value(
        purchase_model,
        data,
        clv_fit.expected_spend(model, data),
        months=settings.horizon_months,
        monthly_discount=(1 + float(settings.annual_discount_rate)) ** (1 / 12) - 1,
        unit=UNIT_CODES[settings.time_unit],
    )
    return np.maximum(clv, 0.0)


def _summary(days: Sequence[pl.LazyFrame], *, as_of: date, unit: str) -> pl.DataFrame:
    """`transaction_summary` of every group of purchase days, in customer order."""
    return (
        per_customer(days, lambda group: transaction_summary(group, as_of=as_of, unit=unit))
        .collect()
        .sort("customer_id")
    )


def _holdout(
    clv_fit: ModuleType,
    days: Sequence[pl.LazyFrame],
    as_of: date,
    settings: ValueSettings,
    options: Any,
    rows: list[Row],
    notes: list[str],
) -> None:
    """Fit on the purchase days up to as_of − holdout_days; compare the purchases it
    predicts for each of those customers over the holdout with the purchase days since.
    Adds the figures to `rows` and `notes`."""
    end = as_of - timedelta(days=settings.holdout_days)
    calibration = _summary(days, as_of=end, unit=settings.time_unit)
    repeat = int((calibration["frequency"] > 0).sum())
    rows.append(("holdout", "holdout_days", settings.holdout_days, f"fitted up to {end}"))
    if repeat < settings.min_repeat_customers:
        reason = f"not run: {repeat:,} repeat customers up to {end}, below min_repeat_customers"
        rows.append(("holdout", "fitted", 0, reason))
        notes.append(f"customer value holdout: {reason}")
        return
    data = _model_input(calibration)
    fit = _fit_purchases(clv_fit, data, options)
    if fit is None:
        rows.append(("holdout", "fitted", 0, f"not run: {NO_MAXIMUM}"))
        notes.append(f"customer value holdout: not run: {NO_MAXIMUM}")
        return
    model = fit[0]
    units = settings.holdout_days / UNIT_DAYS[settings.time_unit]
    since = (pl.col("order_day") > end) & (pl.col("order_day") <= as_of)
    compared = (
        calibration.select("customer_id")
        .with_columns(predicted=clv_fit.expected_purchases(model, data, units))
        .join(
            per_customer(
                days,
                lambda group: group.filter(since).group_by("customer_id").agg(actual=pl.len()),
            ).collect(),
            on="customer_id",
            how="left",
        )
        .with_columns(pl.col("actual").fill_null(0).cast(pl.Float64))
    )
    actual, predicted = float(compared["actual"].sum()), float(compared["predicted"].sum())
    mae = float((compared["predicted"] - compared["actual"]).abs().mean())
    error = predicted / actual - 1 if actual else None
    rows += [
        ("holdout", "customers", compared.height, f"customers with a purchase day up to {end}"),
        ("holdout", "actual_purchases", actual, "their purchase days in the holdout"),
        ("holdout", "predicted_purchases", predicted, "their purchases predicted for it"),
        ("holdout", "aggregate_error", error, "predicted / actual − 1"),
        ("holdout", "mae_per_customer", mae, "mean absolute error per customer"),
        ("holdout", "fitted", 1, f"fitted on {calibration.height:,} customers"),
    ]
    shown = "n/a" if error is None or math.isnan(error) else f"{error:+.1%}"
    notes.append(
        f"customer value holdout ({settings.holdout_days} days after {end}): "
        f"{predicted:,.1f} purchases predicted, {actual:,.0f} made ({shown}), "
        f"MAE {mae:.3f} per customer"
    )


def _model_frame(rows: list[Row]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            (model, measure, None if value is None else float(value), note)
            for model, measure, value, note in rows
        ],
        schema=MODEL_SCHEMA,
        orient="row",
    )
