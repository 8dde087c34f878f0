"""Predicted customer value: the transaction summary by hand, the BG/NBD and Gamma-Gamma
parameters of the literature on CDNOW, sparse and odd data, the holdout check, the
best customers by predicted value, and a refresh that does not ask for it paying nothing.

Published values (Fader, Hardie & Lee 2005, "Counting your customers the easy way";
Fader & Hardie 2013, "The Gamma-Gamma model of monetary value"): on the CDNOW sample
of the first 12 weeks' cohort (2,357 customers), weeks, 39-week calibration period,
BG/NBD r = 0.243, α = 4.414, a = 0.793, b = 2.426 (log-likelihood −9,582.4) and,
on the 946 repeat customers' average repeat spend, p = 6.25, q = 3.74, v = 15.44.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from scipy.special import hyp2f1
from typer.testing import Result

from config.settings import ClvSettings, Settings
from sampledata.cdnow import (
    SAMPLE_LINES,
    cdnow_config,
    write_cdnow_csv,
    write_cdnow_sample_csv,
)
from tests.conftest import invoke_without_prefect, read_view, run_without_prefect, write
from transforms.customer_value import (
    predict_customer_value,
    purchase_days,
    transaction_summary,
)
from transforms.profiles import best_customers

MONEY = pl.Decimal(38, 2)
PUBLISHED_BG_NBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}
CALIBRATION_END = date(1997, 9, 30)  # 39 weeks after 1997-01-01


def purchases(rows: list[tuple[str, str, str]]) -> pl.LazyFrame:
    """Orders as transform hands them on: customer_id, order_day, amount (exact)."""
    return pl.LazyFrame(
        rows, schema=["customer_id", "order_day", "amount"], orient="row"
    ).with_columns(pl.col("order_day").str.to_date(), pl.col("amount").cast(MONEY))


# --- the summary, by hand -------------------------------------------------------------------

ODD_ORDERS = [
    # A: two orders on day 1 are one purchase day (15); a refund day is not a purchase;
    # a free item is (spend 0).
    ("A", "2024-01-01", "10.00"),
    ("A", "2024-01-01", "5.00"),
    ("A", "2024-01-08", "20.00"),
    ("A", "2024-01-15", "-30.00"),
    ("A", "2024-01-22", "0.00"),
    # B: one purchase.
    ("B", "2024-01-10", "40.00"),
    # C: only a refund: no purchase day, no prediction.
    ("C", "2024-01-05", "-10.00"),
    # D: a purchase after the cut-off is not seen.
    ("D", "2024-01-20", "12.00"),
    ("D", "2024-02-01", "99.00"),
]


def test_the_summary_counts_purchase_days_and_the_repeat_spend_by_hand() -> None:
    days = purchase_days(purchases(ODD_ORDERS))
    weeks = transaction_summary(days, as_of=date(2024, 1, 29), unit="weeks").collect()
    # A: frequency 2 (days 8 and 22 after day 1), recency 21 days, T 28 days, z̄ (20 + 0) / 2
    assert weeks.rows()[0] == ("A", 2, 3.0, 4.0, 10.0)
    assert weeks["customer_id"].to_list() == ["A", "B", "D"]
    assert weeks["frequency"].to_list() == [2, 0, 0]
    assert weeks["T"].to_list() == pytest.approx([4.0, 19 / 7, 9 / 7], rel=1e-15)
    assert weeks["recency"].to_list() == [3.0, 0.0, 0.0]
    assert weeks["monetary_value"].to_list() == [10.0, 0.0, 0.0]
    in_days = transaction_summary(days, as_of=date(2024, 1, 29), unit="days").collect()
    assert in_days.rows()[0] == ("A", 2, 21.0, 28.0, 10.0)


def test_a_repeat_spend_below_zero_stays_in_the_summary_and_is_floored_for_the_model() -> None:
    # The second day nets 5 − 8 = −3: a refund day, left out; the third nets 0 + 0.
    rows = [("E", "2024-01-01", "7.00"), ("E", "2024-01-02", "5.00"), ("E", "2024-01-02", "-8.00")]
    summary = transaction_summary(
        purchase_days(purchases(rows)), as_of=date(2024, 1, 8), unit="days"
    ).collect()
    assert summary.rows() == [("E", 0, 0.0, 7.0, 0.0)]


# --- the literature, on CDNOW ---------------------------------------------------------------


def cdnow_purchases(log: Path) -> pl.LazyFrame:
    """A CDNOW CSV as transform's orders: each customer's lines summed per day."""
    return (
        pl.scan_csv(log, infer_schema=False)
        .select(
            "customer_id",
            order_day=pl.col("date").str.to_date("%Y%m%d"),
            amount=pl.col("dollar_value").cast(MONEY),
        )
        .group_by("customer_id", "order_day")
        .agg(pl.col("amount").sum())
    )


@pytest.fixture(scope="module")
def cdnow_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    log = write_cdnow_sample_csv(tmp_path_factory.mktemp("cdnow-sample"))
    assert len(log.read_text(encoding="utf-8").splitlines()) == 1 + SAMPLE_LINES
    return log


def test_the_fit_on_the_cdnow_cohort_gives_the_published_parameters(cdnow_sample: Path) -> None:
    value = predict_customer_value(
        cdnow_purchases(cdnow_sample).filter(pl.col("order_day") <= CALIBRATION_END),
        as_of=CALIBRATION_END,
        settings=ClvSettings(enabled=True, time_unit="weeks"),
    )
    fitted = {(m, k): v for m, k, v, _ in value.model.rows()}
    for name, published in PUBLISHED_BG_NBD.items():
        assert fitted["bg_nbd", name] == pytest.approx(published, rel=0.002), name
    for name, published in PUBLISHED_GAMMA_GAMMA.items():
        assert fitted["gamma_gamma", name] == pytest.approx(published, rel=0.002), name
    assert fitted["bg_nbd", "log_likelihood"] == pytest.approx(-9582.4, abs=0.1)
    assert fitted["bg_nbd", "customers"] == 2357
    assert fitted["bg_nbd", "repeat_customers"] == fitted["gamma_gamma", "customers"] == 946
    predictions = value.predictions
    assert predictions.height == 2357 and predictions.null_count().sum_horizontal().item() == 0
    assert predictions["p_alive"].is_between(0, 1).all()
    assert (predictions["expected_purchases"] >= 0).all()
    assert (predictions["predicted_clv"] >= 0).all()
    # A customer who never came back is alive by the model's assumption (no dropout seen).
    one_timers = predictions.join(
        transaction_summary(
            purchase_days(cdnow_purchases(cdnow_sample)), as_of=CALIBRATION_END, unit="weeks"
        )
        .filter(pl.col("frequency") == 0)
        .collect(),
        on="customer_id",
    )
    assert one_timers.height == 2357 - 946
    assert (one_timers["p_alive"] == 1.0).all()


def test_the_full_posterior_is_near_the_maximum_likelihood_and_seeded(cdnow_sample: Path) -> None:
    settings = ClvSettings(
        enabled=True, fit_method="mcmc", mcmc_draws=100, mcmc_tune=100, mcmc_chains=1
    )
    orders = cdnow_purchases(cdnow_sample).filter(pl.col("order_day") <= CALIBRATION_END)
    value = predict_customer_value(orders, as_of=CALIBRATION_END, settings=settings)
    fitted = {(m, k): v for m, k, v, _ in value.model.rows()}
    # posterior means: r and alpha are well determined, a and b (skewed posteriors) less so
    assert fitted["bg_nbd", "r"] == pytest.approx(PUBLISHED_BG_NBD["r"], rel=0.1)
    assert fitted["bg_nbd", "alpha"] == pytest.approx(PUBLISHED_BG_NBD["alpha"], rel=0.1)
    assert fitted["gamma_gamma", "p"] == pytest.approx(PUBLISHED_GAMMA_GAMMA["p"], rel=0.2)
    assert fitted["bg_nbd", "fitted"] == fitted["gamma_gamma", "fitted"] == 1
    predictions = value.predictions
    assert predictions.height == 2357 and predictions.null_count().sum_horizontal().item() == 0
    assert predictions["p_alive"].is_between(0, 1).all()
    # the sampler is seeded: a rerun publishes the same numbers
    again = predict_customer_value(orders, as_of=CALIBRATION_END, settings=settings)
    assert again.predictions.equals(predictions) and again.model.equals(value.model)


def test_p_alive_does_not_depend_on_the_time_unit(cdnow_sample: Path) -> None:
    orders = cdnow_purchases(cdnow_sample).filter(pl.col("order_day") <= CALIBRATION_END)
    weeks, days = (
        predict_customer_value(
            orders, as_of=CALIBRATION_END, settings=ClvSettings(enabled=True, time_unit=unit)
        )
        for unit in ("weeks", "days")
    )
    fitted_weeks = dict(weeks.model.filter(model="bg_nbd").select("measure", "value").rows())
    fitted_days = dict(days.model.filter(model="bg_nbd").select("measure", "value").rows())
    assert fitted_days["alpha"] == pytest.approx(7 * fitted_weeks["alpha"], rel=1e-3)
    assert days.predictions["p_alive"].to_list() == pytest.approx(
        weeks.predictions["p_alive"].to_list(), abs=1e-4
    )


def test_the_holdout_compares_predicted_and_made_purchases(cdnow_sample: Path) -> None:
    as_of = date(1998, 6, 30)
    value = predict_customer_value(
        cdnow_purchases(cdnow_sample),
        as_of=as_of,
        settings=ClvSettings(enabled=True, holdout_days=(as_of - CALIBRATION_END).days),
    )
    figures = dict(value.model.filter(model="holdout").select("measure", "value").rows())
    # made: purchase days in weeks 40-78 of the calibration customers (all 2,357 here)
    made = (
        purchase_days(cdnow_purchases(cdnow_sample))
        .filter(pl.col("order_day") > CALIBRATION_END)
        .select(pl.len())
        .collect()
        .item()
    )
    assert figures["customers"] == 2357
    assert figures["actual_purchases"] == made
    # The calibration fit is the published one: its forecast is the published model's,
    # computed here from the paper's conditional expectation (eq. 10) and its parameters.
    summary = transaction_summary(
        purchase_days(cdnow_purchases(cdnow_sample)), as_of=CALIBRATION_END, unit="weeks"
    ).collect()
    assert figures["predicted_purchases"] == pytest.approx(
        published_forecast(summary, weeks=39), rel=0.002
    )
    assert figures["aggregate_error"] == pytest.approx(figures["predicted_purchases"] / made - 1)
    assert 0 < figures["mae_per_customer"] < 2
    assert any(
        note.startswith("customer value holdout (273 days after 1997-09-30)")
        for note in value.notes
    )


def published_forecast(summary: pl.DataFrame, *, weeks: float) -> float:
    """Σ E[Y(t) | x, t_x, T] over the customers with the published BG/NBD parameters
    (Fader, Hardie & Lee 2005, equation 10), written out independently of pymc-marketing."""
    r, alpha, a, b = (PUBLISHED_BG_NBD[k] for k in ("r", "alpha", "a", "b"))
    x = summary["frequency"].to_numpy()
    t_x, big_t, t = summary["recency"].to_numpy(), summary["T"].to_numpy(), weeks
    hyper = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + big_t + t))
    growth = 1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * hyper
    alive = 1 + (x > 0) * a / (b + x - 1) * ((alpha + big_t) / (alpha + t_x)) ** (r + x)
    return float(((a + b + x - 1) / (a - 1) * growth / alive).sum())


# --- sparse and odd data --------------------------------------------------------------------


def test_with_every_customer_buying_once_nothing_is_fitted_and_nothing_is_nan() -> None:
    rows = [(f"C{i:03d}", f"2024-01-{1 + i % 28:02d}", "10.00") for i in range(50)]
    value = predict_customer_value(
        purchases(rows), as_of=date(2024, 3, 1), settings=ClvSettings(enabled=True)
    )
    assert value.predictions.is_empty()
    assert ("bg_nbd", "fitted", 0.0) in value.model.select("model", "measure", "value").rows()
    assert value.notes == [
        "customer value: not fitted: 0 customers bought on two days or more, fewer than "
        "[clv] min_repeat_customers 10; p_alive, expected_purchases, predicted_clv null"
    ]


def test_refunds_and_free_items_leave_no_nan_and_refund_only_customers_unpredicted() -> None:
    rows = list(ODD_ORDERS[:-1])
    for i in range(30):  # enough repeat customers to fit, some with free repeat purchases
        rows += [
            (f"R{i:02d}", "2024-01-02", f"{10 + i}.00"),
            (f"R{i:02d}", f"2024-01-{3 + i % 20:02d}", "0.00" if i % 3 == 0 else f"{i + 1}.50"),
        ]
    value = predict_customer_value(
        purchases(rows), as_of=date(2024, 1, 29), settings=ClvSettings(enabled=True)
    )
    predicted = value.predictions
    assert "C" not in predicted["customer_id"].to_list()  # only a refund
    assert predicted.height == 3 + 30
    assert predicted.null_count().sum_horizontal().item() == 0
    # every customer bought on day 2 and once more: too little spread for maximum likelihood
    priors = value.model.filter(measure="flat_priors").row(0)
    assert priors[2] == 0 and "the maximum-likelihood fit diverged" in priors[3]
    assert predicted["p_alive"].is_between(0, 1).all()
    assert (predicted.select("expected_purchases", "predicted_clv") >= 0).to_numpy().all()


def test_too_few_paying_repeat_customers_leave_only_the_value_null() -> None:
    rows = []
    for i in range(12):  # repeat customers, but every repeat purchase free
        rows += [(f"F{i:02d}", "2024-01-02", "10.00"), (f"F{i:02d}", f"2024-01-{5 + i}", "0.00")]
    value = predict_customer_value(
        purchases(rows), as_of=date(2024, 2, 1), settings=ClvSettings(enabled=True)
    )
    assert value.predictions["predicted_clv"].null_count() == 12
    assert value.predictions["p_alive"].null_count() == 0
    fitted = {(m, k): (v, note) for m, k, v, note in value.model.rows()}
    assert fitted["gamma_gamma", "fitted"][0] == 0
    assert fitted["gamma_gamma", "fitted"][1].startswith("not fitted: 0 repeat customers")


# --- best customers by predicted value ------------------------------------------------------


def test_best_by_predicted_value_ranks_on_it_and_falls_back_without_it() -> None:
    customers = pl.LazyFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "key_tier_revenue": [Decimal(x) for x in ("50", "40", "30", "20", "0")],
            "tenure_days": [10, 20, 30, 40, 50],
            "recency_days": [1, 1, 1, 1, 1],
            "predicted_clv": [1.0, 9.0, 5.0, 7.0, 100.0],
        }
    )
    by = ("predicted_clv", "predicted customer value over 12 months")
    chosen = best_customers(customers, goal="profit", share=Decimal("0.5"), by=by).collect()
    # candidates a-d (e bought nothing in the key tier); ceil(0.5 × 4) = 2: b (9), d (7)
    assert chosen.filter("is_best_customer")["customer_id"].to_list() == ["b", "d"]
    assert chosen["best_basis"][0] == "profit: predicted customer value over 12 months"
    unfitted = customers.with_columns(predicted_clv=pl.lit(None, pl.Float64))
    fallback = best_customers(unfitted, goal="loyalty", share=Decimal("0.5"), by=by).collect()
    assert fallback.filter("is_best_customer")["customer_id"].to_list() == ["a", "b"]
    assert fallback["best_basis"][0].startswith("loyalty: key-tier sales (fallback")


def test_best_by_needs_the_models_and_a_goal_it_fits() -> None:
    sources = {"orders": {"path": "orders.csv"}}
    with pytest.raises(ValidationError, match=r"needs \[clv\] enabled = true"):
        Settings(sources=sources, personas={"best_by": "predicted_clv"})
    with pytest.raises(ValidationError, match="applies to the profit and loyalty goals"):
        Settings(
            sources=sources,
            personas={"best_by": "p_alive", "goal": "growth"},
            clv={"enabled": True},
        )
    Settings(
        sources=sources, personas={"best_by": "p_alive", "goal": "loyalty"}, clv={"enabled": True}
    )


def test_enabling_the_models_without_pymc_marketing_is_refused_when_the_config_is_read(
    uninstalled: Callable[[str], None],
) -> None:
    uninstalled("pymc_marketing")
    with pytest.raises(
        ValidationError, match=r"needs pymc-marketing: pip install 'personas\[clv\]'"
    ):
        ClvSettings(enabled=True)
    ClvSettings(enabled=False)


# --- through `personas refresh` -------------------------------------------------------------

CLV_ON = """
[clv]
enabled = true
time_unit = "weeks"
holdout_days = {holdout}

[personas]
goal = "loyalty"
best_by = "p_alive"
"""


def arguments(folder: Path, log: Path, as_of: date, clv: str) -> list[str]:
    config = write(folder / "personas.toml", cdnow_config(log.as_posix(), clv))
    return ["refresh", "--config", str(config), "--as-of", str(as_of)]


def refresh(folder: Path, log: Path, as_of: date, clv: str) -> Result:
    """`personas refresh` of the log in this process, as a user with no Prefect server."""
    return invoke_without_prefect(arguments(folder, log, as_of, clv))


def test_the_refresh_publishes_the_literature_fit_of_the_cohort(
    cdnow_sample: Path, tmp_path: Path
) -> None:
    done = refresh(tmp_path, cdnow_sample, CALIBRATION_END, CLV_ON.format(holdout=0))
    assert done.exit_code == 0, done.output[-3000:]
    fitted = dict(
        read_view(tmp_path, "select measure, value from personas.clv_model where model = 'bg_nbd'")
    )
    for name, published in PUBLISHED_BG_NBD.items():
        assert fitted[name] == pytest.approx(published, rel=0.002), name
    spend = dict(
        read_view(
            tmp_path, "select measure, value from personas.clv_model where model = 'gamma_gamma'"
        )
    )
    for name, published in PUBLISHED_GAMMA_GAMMA.items():
        assert spend[name] == pytest.approx(published, rel=0.002), name
    ((customers, alive, best, by_p_alive),) = read_view(
        tmp_path,
        "select count(*), count(p_alive), count(*) filter (is_best_customer), count(*) filter "
        "(reason like '%best customer: yes (loyalty: probability still active (BG/NBD%') "
        "from personas.customer_segments",
    )
    assert customers == alive == 2357
    assert best == by_p_alive > 0
    ((notes,),) = read_view(tmp_path, "select notes from personas.refresh_runs")
    assert "customer value: BG/NBD r 0.2426, alpha 4.414, a 0.793, b 2.426 (weeks)" in notes


def test_every_customer_of_the_whole_log_gets_finite_predictions_and_the_holdout_is_recorded(
    tmp_path: Path,
) -> None:
    log = write_cdnow_csv(tmp_path)
    done = refresh(tmp_path, log, date(1998, 6, 30), CLV_ON.format(holdout=273))
    assert done.exit_code == 0, done.output[-3000:]
    ((customers, alive, low, high, expected, value),) = read_view(
        tmp_path,
        "select count(*), count(p_alive), min(p_alive), max(p_alive), "
        "min(expected_purchases), min(predicted_clv) from personas.customer_segments "
        "where isfinite(p_alive) and isfinite(expected_purchases)",
    )
    assert customers == alive == 23_570  # the 68 who only ever paid 0.00 included
    assert 0 <= low <= high <= 1 and expected >= 0 and value >= 0
    holdout = dict(
        read_view(tmp_path, "select measure, value from personas.clv_model where model = 'holdout'")
    )
    assert holdout["customers"] == 23_570 and holdout["fitted"] == 1
    assert math.isfinite(holdout["mae_per_customer"])
    ((notes,),) = read_view(tmp_path, "select notes from personas.refresh_runs")
    assert "customer value holdout (273 days after 1997-09-30)" in notes


def test_a_refresh_without_the_models_never_imports_them(
    cdnow_sample: Path, tmp_path: Path
) -> None:
    # A process of its own: this one may have imported them for another test.
    done = run_without_prefect(
        arguments(tmp_path, cdnow_sample, CALIBRATION_END, ""),
        cwd=tmp_path,
        python_flags=("-X", "importtime"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "polars" in imported
    assert not {"pymc", "pymc_marketing", "pytensor"} & imported
    (row,) = read_view(tmp_path, "select count(*), count(p_alive) from personas.customer_segments")
    assert row == (2357, 0)
    assert read_view(tmp_path, "select count(*) from personas.clv_model") == [(0,)]


def test_the_value_is_the_gamma_gamma_spend_times_the_purchases_and_discounting_lowers_it(
    cdnow_sample: Path,
) -> None:
    orders = cdnow_purchases(cdnow_sample).filter(pl.col("order_day") <= CALIBRATION_END)
    plain = predict_customer_value(
        orders, as_of=CALIBRATION_END, settings=ClvSettings(enabled=True, horizon_months=6)
    )
    fitted = dict(plain.model.filter(model="gamma_gamma").select("measure", "value").rows())
    p, q, v = fitted["p"], fitted["q"], fitted["v"]
    summary = transaction_summary(
        purchase_days(orders), as_of=CALIBRATION_END, unit="weeks"
    ).collect()
    # undiscounted: (p (v + x z̄) / (p x + q − 1)) × the purchases expected in the horizon
    by_hand = (
        plain.predictions.join(summary, on="customer_id")
        .select(
            pl.col("expected_purchases")
            * p
            * (v + pl.col("frequency") * pl.col("monetary_value"))
            / (p * pl.col("frequency") + q - 1)
        )
        .to_series()
    )
    assert plain.predictions["predicted_clv"].to_list() == pytest.approx(
        by_hand.to_list(), rel=1e-9
    )
    discounted = predict_customer_value(
        orders,
        as_of=CALIBRATION_END,
        settings=ClvSettings(enabled=True, horizon_months=6, annual_discount_rate=Decimal("0.1")),
    )
    ratio = discounted.predictions["predicted_clv"] / plain.predictions["predicted_clv"]
    # six months at 10% a year: every purchase is discounted by between 1 and 1.1^(1/2)
    assert ratio.min() >= 1 / 1.1**0.5 - 1e-9 and ratio.max() < 1


@pytest.mark.postgres
def test_the_predicted_value_is_published_to_postgresql(
    cdnow_sample: Path, tmp_path: Path, postgres_url: str
) -> None:
    warehouse = f'\n[warehouse]\nurl = "{postgres_url}"\n'
    done = refresh(tmp_path, cdnow_sample, CALIBRATION_END, warehouse + CLV_ON.format(holdout=0))
    assert done.exit_code == 0, done.output[-3000:]
    engine = sa.create_engine(postgres_url)
    with engine.connect() as connection:
        ((customers, alive, value),) = connection.exec_driver_sql(
            "select count(*), count(p_alive), sum(predicted_clv) from personas.customer_segments"
        ).fetchall()
        fitted = dict(
            connection.exec_driver_sql(
                "select measure, value from personas.clv_model where model = 'bg_nbd'"
            ).fetchall()
        )
    engine.dispose()
    assert customers == alive == 2357
    assert isinstance(value, Decimal) and value > 0  # money, exact, in the money scale
    assert fitted["r"] == pytest.approx(PUBLISHED_BG_NBD["r"], rel=0.002)


def test_purchases_in_groups_of_customers_give_the_same_fit_holdout_and_predictions(
    cdnow_sample: Path,
) -> None:
    # A spilled refresh hands the purchases in groups of whole customers (a hash of the
    # customer): summarised a group at a time, the model sees the same rows.
    orders = cdnow_purchases(cdnow_sample).collect()
    settings = ClvSettings(enabled=True, time_unit="weeks", holdout_days=182)
    whole = predict_customer_value(orders.lazy(), as_of=date(1998, 6, 30), settings=settings)
    group = pl.col("customer_id").hash(7) % 5
    groups = [orders.filter(group == n).lazy() for n in range(5)]
    assert all(part.select(pl.len()).collect().item() for part in groups)
    split = predict_customer_value(groups, as_of=date(1998, 6, 30), settings=settings)
    assert split.predictions.equals(whole.predictions)
    assert split.model.equals(whole.model)
    assert split.notes == whole.notes
    fitted = {(m, k): v for m, k, v, _ in split.model.rows()}
    assert fitted["holdout", "fitted"] == fitted["bg_nbd", "fitted"] == 1
