"""Exact medians found a group at a time (`transforms.grouped_medians`) equal polars'
median over every row at once, on the direct path and when the ranges are zoomed
into (a distinct limit of a few values forces it), with repeated values, odd and even
counts, empty groups and a population with no value; and the persona card's median
order values of spilled groups equal those of the orders read whole."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms import grouped_medians
from transforms.grouped_medians import medians_over_groups
from transforms.persona_cards import purchase_habits


def split(frame: pl.DataFrame, groups: int, seed: int) -> list[pl.LazyFrame]:
    place = np.random.default_rng(seed).integers(0, groups + 1, frame.height)
    return [frame.filter(pl.Series(place == number)).lazy() for number in range(groups + 1)]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 100_000),
    rows=st.integers(1, 3_000),
    groups=st.integers(1, 8),
    limit=st.sampled_from([1, 3, 50, 1_000_000]),
    repeated=st.booleans(),
)
def test_the_median_of_groups_is_polars_median_of_every_row(
    seed: int, rows: int, groups: int, limit: int, repeated: bool
) -> None:
    rng = np.random.default_rng(seed)
    values = rng.lognormal(10, 2, rows).round(2)
    if repeated:  # a few values, each many times: ranges that cannot be cut
        values = rng.choice(values[:5], rows)
    frame = pl.DataFrame({"best": rng.integers(0, 2, rows) == 1, "value": values})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grouped_medians, "DISTINCT_LIMIT", limit)
        medians = medians_over_groups(split(frame, groups, seed), value="value", by="best")
    for best in (True, False):
        expected = frame.filter(pl.col("best") == best)["value"].median()
        assert medians.get(best) == expected  # exact: the same float, not a near one


def test_middle_ranks_in_two_bins_and_a_population_without_values() -> None:
    # 1 … 10 and 1,000,000: the two middle values (5 and 6) of an even count, found by
    # zooming with a limit of one distinct value; "b" has only nulls.
    frame = pl.DataFrame(
        {
            "by": ["a"] * 11 + ["b"],
            "value": [*map(float, range(1, 11)), 1e6, None],
        }
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grouped_medians, "DISTINCT_LIMIT", 1)
        medians = medians_over_groups(split(frame, 3, 1), value="value", by="by")
    assert medians == {"a": 6.0}  # 11 values: the 6th; "b" has none
    even = frame.filter(pl.col("value") != 1e6)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grouped_medians, "DISTINCT_LIMIT", 1)
        assert medians_over_groups(split(even, 2, 2), value="value", by="by") == {"a": 5.5}


def test_the_card_s_median_order_values_of_groups_are_those_of_every_order() -> None:
    rng = np.random.default_rng(5)
    orders = pl.DataFrame(
        {
            "customer_id": [f"C{n % 40:03d}" for n in range(500)],
            "amount": [int(a) for a in rng.integers(-50, 5_000, 500)],
        }
    )
    customers = pl.LazyFrame(
        {
            "customer_id": [f"C{n:03d}" for n in range(40)],
            "is_best": [n % 4 == 0 for n in range(40)],
            "order_count": [12] * 40,
        }
    )
    # whole customers in each group, as a refresh's groups hold them
    groups = [
        orders.filter(pl.col("customer_id").str.slice(1).cast(pl.Int64) % 3 == part).lazy()
        for part in range(3)
    ]
    whole = purchase_habits(orders.lazy(), customers).collect()
    grouped = purchase_habits(groups, customers).collect()
    assert grouped.equals(whole)
    assert whole["best_median_order_value"].item() is not None
