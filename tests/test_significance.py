"""The profiles' p-values and q-values equal scipy.stats' own, bit for bit, without it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import false_discovery_control, hypergeom

from transforms.significance import benjamini_hochberg, hypergeom_sf


def test_the_hypergeometric_tail_is_scipys_on_every_case_of_a_grid() -> None:
    # Every k from below the support to past its top, for populations with every
    # count of successes and draws, and arguments that are no distribution at all.
    rows = [
        (k, total, good, drawn)
        for total in (1, 2, 7, 30)
        for good in range(-1, total + 2)
        for drawn in range(-1, total + 2)
        for k in range(-3, total + 3)
    ]
    rows += [(float("nan"), 10, 3, 4), (float("-inf"), 10, 3, 4), (float("inf"), 10, 3, 4)]
    rows += [(2, 10.5, 3, 4), (2, 0, 0, 0), (5_000, 500_000, 60_000, 100_000)]
    k, total, good, drawn = (
        np.array(column, dtype=np.float64) for column in zip(*rows, strict=True)
    )
    ours = hypergeom_sf(k, total, good, drawn)
    np.testing.assert_array_equal(ours, hypergeom.sf(k, total, good, drawn))
    assert np.isnan(ours).any() and (ours == 1.0).any() and (ours == 0.0).any()


@st.composite
def profile_counts(draw: st.DrawFn) -> list[tuple[int, int, int, int]]:
    """As the profiles call it: everyone, those with the value, the best, and k - 1 for
    P(X >= k), k the best customers with the value."""
    rows = []
    for _ in range(draw(st.integers(1, 40))):
        total = draw(st.integers(1, 5_000))
        good, drawn = draw(st.integers(0, total)), draw(st.integers(0, total))
        k = draw(st.integers(0, min(good, drawn)))
        rows.append((k - 1, total, good, drawn))
    return rows


@settings(max_examples=200, deadline=None)
@given(profile_counts())
def test_the_hypergeometric_tail_is_scipys_on_any_profile_counts(
    rows: list[tuple[int, int, int, int]],
) -> None:
    k, total, good, drawn = (np.array(column) for column in zip(*rows, strict=True))
    np.testing.assert_array_equal(
        hypergeom_sf(k, total, good, drawn), hypergeom.sf(k, total, good, drawn)
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(0, 1, allow_nan=False),
            st.sampled_from([0.0, 1.0, 0.05, 0.5, 1e-300]),  # ties and edges
        ),
        min_size=0,
        max_size=60,
    )
)
def test_the_q_values_are_scipys_benjamini_hochberg(p_values: list[float]) -> None:
    p = np.array(p_values, dtype=np.float64)
    np.testing.assert_array_equal(
        benjamini_hochberg(p), false_discovery_control(p.copy(), method="bh")
    )


def test_a_p_value_outside_zero_to_one_is_refused_as_scipy_refuses_it() -> None:
    for bad in ([0.2, 1.5], [0.2, float("nan")], [-0.1, 0.3]):
        with pytest.raises(ValueError, match="between 0 and 1"):
            benjamini_hochberg(np.array(bad))
        with pytest.raises(ValueError, match="between 0 and 1"):
            false_discovery_control(np.array(bad), method="bh")


def test_the_profiles_do_not_import_scipy_stats() -> None:
    # The point of the module: a refresh that tests a profile does not pay for it.
    code = (
        "import sys, numpy as np, polars as pl\n"
        "from transforms.profiles import controlled, _over_representation\n"
        "counts = pl.DataFrame({'customers': [3, 1], 'all_total': [50, 50],"
        " 'everyone': [10, 20], 'best_total': [5, 5]}).to_struct('c')\n"
        "p = _over_representation(counts)\n"
        "assert p.len() == 2 and 0 < p[0] < p[1] <= 1, p\n"
        "print(sorted(m for m in sys.modules if m.startswith('scipy.stats')))\n"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
