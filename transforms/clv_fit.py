"""BG/NBD and Gamma-Gamma fitted with pymc-marketing, and their per-customer predictions.

Produces `fit_purchase_model` (BG/NBD: purchase rate and dropout), `fit_spend_model`
(Gamma-Gamma: spend per purchase), `expected_purchases`, `probability_alive`,
`expected_spend`, `lifetime_value` (numpy arrays in the summary's row order, the
posterior mean when the fit is MCMC) and `parameters` / `log_likelihood` (the
fitted values and the fit's log-likelihood, for the `clv_model` table).

Both models have flat priors, so the MAP fit is the maximum-likelihood fit of
Fader, Hardie & Lee (2005) and of Fader & Hardie's Gamma-Gamma note: on their
CDNOW cohort it gives their published parameters. pymc-marketing's models take
no weights, so identical (frequency, recency, T) rows are not collapsed; the fit
is fast enough without (a million customers in seconds).

Imported only when `[clv] enabled`: pymc and pytensor take seconds to import.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

with warnings.catch_warnings():
    # arviz announces its coming refactor, pytensor its BLAS: nothing here to act on.
    warnings.simplefilter("ignore")
    from pymc_extras.prior import Prior
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel
    from pymc_marketing.clv.utils import customer_lifetime_value

# A month as pymc-marketing's customer_lifetime_value counts it, per time unit.
MONTH_IN_UNITS = {"D": 30.0, "W": 4.345}
PURCHASE_PARAMETERS = ("r", "alpha", "a", "b")
SPEND_PARAMETERS = ("p", "q", "v")

for _name in ("pymc", "pymc.sampling.mcmc", "pytensor"):
    logging.getLogger(_name).setLevel(logging.ERROR)


@dataclass(frozen=True)
class FitOptions:
    """How the models are fitted: MAP, or NUTS with these draws (seeded: reruns agree)."""

    method: str = "map"
    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    seed: int = 20_050_101


def _flat(names: tuple[str, ...]) -> dict[str, Prior]:
    return {name: Prior("HalfFlat") for name in names}


def _fit(model: BetaGeoModel | GammaGammaModel, data: pd.DataFrame, options: FitOptions) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymc's notices about the sampler and the optimiser
        if options.method == "map":
            model.fit(data=data, method="map", progressbar=False)
        else:
            model.fit(
                data=data,
                method="mcmc",
                draws=options.draws,
                tune=options.tune,
                chains=options.chains,
                cores=1,
                random_seed=options.seed,
                progressbar=False,
                compute_convergence_checks=False,
            )


def fit_purchase_model(
    summary: pd.DataFrame, options: FitOptions, *, flat: bool = True
) -> BetaGeoModel:
    """BG/NBD fitted on customer_id, frequency, recency, T (one row per customer), with
    flat priors (maximum likelihood) or pymc-marketing's weakly informative defaults."""
    model = BetaGeoModel(model_config=_flat(PURCHASE_PARAMETERS) if flat else None)
    _fit(model, summary[["customer_id", "frequency", "recency", "T"]], options)
    return model


def fit_spend_model(repeat: pd.DataFrame, options: FitOptions) -> GammaGammaModel:
    """Gamma-Gamma fitted on customer_id, frequency, monetary_value of repeat customers."""
    model = GammaGammaModel(model_config=_flat(SPEND_PARAMETERS))
    _fit(model, repeat[["customer_id", "frequency", "monetary_value"]], options)
    return model


def _mean(values: object) -> np.ndarray:
    """Per-customer values, averaged over the posterior's chains and draws."""
    array = values.mean(dim=[d for d in ("chain", "draw") if d in values.dims])  # type: ignore[attr-defined]
    return np.asarray(array.values, dtype=np.float64)


def expected_purchases(model: BetaGeoModel, summary: pd.DataFrame, units: float) -> np.ndarray:
    """Expected purchases of each customer over the next `units` time units."""
    return _mean(model.expected_purchases(data=summary, future_t=units))


def new_customer_purchases(model: BetaGeoModel, summary: pd.DataFrame, units: object) -> np.ndarray:
    """Purchases the model expects of a new customer over `units` (per customer)."""
    return _mean(model.expected_purchases_new_customer(data=summary, t=units))


def probability_alive(model: BetaGeoModel, summary: pd.DataFrame) -> np.ndarray:
    """P(alive) of each customer at the end of the summary's period."""
    return _mean(model.expected_probability_alive(data=summary))


def expected_spend(model: GammaGammaModel, summary: pd.DataFrame) -> np.ndarray:
    """Expected spend per future purchase: each customer's average shrunk towards the mean."""
    return _mean(model.expected_customer_spend(data=summary))


def lifetime_value(
    model: BetaGeoModel,
    summary: pd.DataFrame,
    spend: np.ndarray,
    *,
    months: int,
    monthly_discount: float,
    unit: str,
) -> np.ndarray:
    """Σ over the next `months` months of spend × the purchases expected that month,
    discounted monthly (pymc-marketing's `customer_lifetime_value`)."""
    data = summary.assign(future_spend=spend)
    values = customer_lifetime_value(
        model, data, future_t=months, discount_rate=monthly_discount, time_unit=unit
    )
    return _mean(values)


def parameters(model: BetaGeoModel | GammaGammaModel, names: tuple[str, ...]) -> dict[str, float]:
    """The fitted parameters (the posterior means of an MCMC fit)."""
    posterior = model.fit_result
    return {name: float(posterior[name].mean()) for name in names}


def log_likelihood(model: BetaGeoModel | GammaGammaModel) -> float:
    """The data's log-likelihood at the fitted parameters (the posterior means of an MCMC
    fit): the observed variables' and likelihood potentials' log-density, no priors."""
    graph = model.model
    point = {}
    for variable in graph.free_RVs:
        fitted = np.asarray(model.fit_result[variable.name].mean())
        transform = graph.rvs_to_transforms.get(variable)
        value = graph.rvs_to_values[variable]
        point[value.name] = (
            transform.forward(fitted, *variable.owner.inputs).eval()
            if transform is not None
            else fitted
        )
    likelihood = graph.logp(vars=[*graph.observed_RVs, *graph.potentials])
    return float(graph.compile_fn(likelihood)(point))
