"""RFM: hand-computed default scores and segments, properties, and the pymc preset checked
label for label against pymc-marketing itself."""

from __future__ import annotations

import warnings
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sampledata import SAMPLE_END_DATE, generate_sample
from transforms.customer_metrics import customer_metrics, valid_order_lines
from transforms.rfm import (
    DEFAULT_SEGMENT_MAP,
    RfmPresetError,
    pymc_rfm_segments,
    rfm_scores,
    uncovered_cells,
)
from transforms.staging import stage_orders

MONEY = pl.Decimal(38, 4)


def metrics_frame(recency: list[int], orders: list[int], revenue: list[str]) -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "customer_id": [f"c{i}" for i in range(len(recency))],
            "recency_days": recency,
            "order_count": orders,
            "revenue": pl.Series([Decimal(v) for v in revenue], dtype=MONEY),
        }
    )


def test_default_map_names_every_score_combination() -> None:
    assert uncovered_cells(DEFAULT_SEGMENT_MAP) == []
    names = {rule.name for rule in DEFAULT_SEGMENT_MAP}
    assert names == {
        "Champions", "Loyal", "Potential Loyalist", "New", "Promising", "Need Attention",
        "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost",
    }  # fmt: skip


def test_scores_by_hand_on_five_customers() -> None:
    # recency 10, 20, 30, 40, 50: R = 1 + floor(5 × customers with longer recency / 5)
    scored = rfm_scores(
        metrics_frame([10, 20, 30, 40, 50], [5, 4, 3, 2, 1], ["500", "400", "300", "200", "100"])
    ).collect()
    assert scored["r_score"].to_list() == [5, 4, 3, 2, 1]
    assert scored["f_score"].to_list() == [5, 4, 3, 2, 1]
    assert scored["m_score"].to_list() == [5, 4, 3, 2, 1]
    assert scored["rfm_segment"].to_list() == [
        "Champions", "Loyal", "Need Attention", "Hibernating", "Lost",
    ]  # fmt: skip


def test_equal_values_get_equal_scores_and_sparse_data_still_gets_named_segments() -> None:
    # Eight of ten customers bought once: their F scores tie at 1; nobody is unlabelled.
    scored = rfm_scores(
        metrics_frame(
            [5, 5, 30, 60, 90, 120, 150, 200, 300, 400],
            [3, 2, 1, 1, 1, 1, 1, 1, 1, 1],
            ["900", "50", "50", "50", "10", "10", "10", "10", "10", "10"],
        )
    ).collect()
    assert scored["f_score"].to_list() == [5, 5, 1, 1, 1, 1, 1, 1, 1, 1]
    assert scored["r_score"][:2].to_list() == [5, 5]  # equal recency, equal score
    # M: six customers at 10 → 1; three at 50 → 1 + floor(5·6/10) = 4; 900 → 5
    assert scored["m_score"].to_list() == [5, 4, 4, 4, 1, 1, 1, 1, 1, 1]
    assert scored["rfm_segment"].null_count() == 0
    assert scored["rfm_segment"].to_list()[:3] == ["Champions", "Champions", "Potential Loyalist"]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 900), st.integers(1, 6), st.integers(-100, 10**6)),
        min_size=1,
        max_size=80,
    )
)
def test_every_customer_gets_scores_1_to_5_and_exactly_one_named_segment(
    rows: list[tuple[int, int, int]],
) -> None:
    recency, orders, revenue = zip(*rows, strict=True)
    scored = rfm_scores(metrics_frame(list(recency), list(orders), [str(v) for v in revenue]))
    frame = scored.collect()
    assert frame.height == len(rows)
    for column in ("r_score", "f_score", "m_score", "fm_score"):
        assert frame[column].is_between(1, 5).all()
    assert frame["rfm_segment"].null_count() == 0
    names = {rule.name for rule in DEFAULT_SEGMENT_MAP}
    assert set(frame["rfm_segment"]) <= names


# --- the pymc preset against pymc-marketing ---------------------------------------------


def pymc_labels(lines: pl.DataFrame, as_of: date) -> pd.DataFrame:
    from pymc_marketing.clv.utils import rfm_segments

    transactions = pd.DataFrame(
        {
            "customer_id": lines["customer_id"].to_list(),
            "date": pd.to_datetime(lines["order_date"].to_list()),
            "amount": lines["amount"].cast(pl.Float64).to_list(),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = rfm_segments(
            transactions, "customer_id", "date", "amount", observation_period_end=str(as_of)
        )
    return result.sort_values("customer_id").reset_index(drop=True)


def valid_lines_of(path: Path, as_of: date) -> pl.DataFrame:
    raw = pl.scan_csv(path, infer_schema=False).with_row_index("_row_number", offset=1)
    return valid_order_lines(stage_orders(raw, scale=4), as_of=as_of).collect()


def assert_same_as_pymc(lines: pl.DataFrame, as_of: date) -> None:
    ours = pymc_rfm_segments(lines.lazy(), as_of=as_of).collect().sort("customer_id")
    theirs = pymc_labels(lines, as_of)
    assert ours["customer_id"].to_list() == theirs["customer_id"].to_list()
    score = [f"{r}{f}{m}" for r, f, m in ours.select("r_score", "f_score", "m_score").rows()]
    assert score == theirs["rfm_score"].to_list()
    assert ours["rfm_segment"].to_list() == theirs["segment"].to_list()


@pytest.mark.parametrize(
    ("customers", "lines", "seed"),
    [(300, 6_000, 1), (1_000, 20_000, 2), (2_000, 12_000, 3), (500, 2_500, 4)],
)
def test_pymc_preset_matches_pymc_marketing_label_for_label(
    tmp_path: Path, customers: int, lines: int, seed: int
) -> None:
    files = generate_sample(tmp_path, customers=customers, order_lines=lines, seed=seed)
    assert_same_as_pymc(valid_lines_of(files["orders"], SAMPLE_END_DATE), SAMPLE_END_DATE)


def sparse_lines(one_time_share: float, seed: int) -> pl.DataFrame:
    """A B2B-like log: most customers bought once, a few many times, on random days."""
    rng = np.random.default_rng(seed)
    customers = 400
    repeaters = int(customers * (1 - one_time_share))
    counts = np.concatenate([rng.integers(2, 12, repeaters), np.ones(customers - repeaters, int)])
    ids = np.repeat([f"{i:05d}" for i in range(customers)], counts)
    days = rng.integers(0, 700, ids.size)
    amounts = rng.choice([5_000_000, 10_000_000, 20_000_000], ids.size)
    frame = pl.DataFrame(
        {
            "customer_id": ids,
            "order_date": np.datetime64("2024-01-01") + days.astype("timedelta64[D]"),
            "amount": amounts,
        }
    )
    return frame.select(
        "customer_id",
        pl.col("order_date").cast(pl.Datetime("us")),
        order_day=pl.col("order_date").cast(pl.Date),
        amount=pl.col("amount").cast(MONEY),
    )


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_pymc_preset_matches_on_sparse_data_where_pymc_still_scores(seed: int) -> None:
    lines = sparse_lines(one_time_share=0.6, seed=seed)
    assert_same_as_pymc(lines, date(2026, 1, 1))


def test_pymc_preset_fails_where_pymc_marketing_fails() -> None:
    lines = sparse_lines(one_time_share=0.85, seed=5)
    with pytest.raises(ValueError):
        pymc_labels(lines, date(2026, 1, 1))
    with pytest.raises(RfmPresetError, match="frequency has too few distinct values"):
        pymc_rfm_segments(lines.lazy(), as_of=date(2026, 1, 1)).collect()


def test_default_rfm_on_the_sample_names_everyone(tmp_path: Path) -> None:
    files = generate_sample(tmp_path, customers=500, order_lines=5_000, seed=9)
    raw = pl.scan_csv(files["orders"], infer_schema=False).with_row_index("_row_number", offset=1)
    metrics = customer_metrics(stage_orders(raw, scale=4), as_of=SAMPLE_END_DATE)
    scored = rfm_scores(metrics).collect()
    assert scored["rfm_segment"].null_count() == 0
    assert scored["rfm_segment"].n_unique() >= 8
