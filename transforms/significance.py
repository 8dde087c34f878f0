"""The profiles' significance figures, as scipy.stats computes them, without importing it.

Produces `hypergeom_sf(k, M, n, N)` (P(X > k) for X ~ Hypergeometric(M, n, N): the
over-representation test's p-value is `hypergeom_sf(k - 1, ...)`) and
`benjamini_hochberg(p)` (the BH-adjusted q-values). Both give, bit for bit, what
`scipy.stats.hypergeom.sf` and `scipy.stats.false_discovery_control(p, method="bh")`
give (`tests/test_significance.py` holds them to it): the first calls the same
compiled function scipy.stats calls, inside the same checks of its arguments and
support; the second is the same arithmetic. Why: importing scipy.stats costs about
0.8 s, which a small refresh with a profile to test paid for two functions
(scipy.special, which holds the compiled one, about 0.05 s once numpy is loaded).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def hypergeom_sf(
    k: np.ndarray, population: np.ndarray, successes: np.ndarray, drawn: np.ndarray
) -> np.ndarray:
    """P(X > k) for X ~ Hypergeometric(population, successes in it, drawn), as
    `scipy.stats.hypergeom.sf(k, population, successes, drawn)`; NaN where the arguments
    are not a hypergeometric distribution (scipy's `badvalue`)."""
    compiled = _compiled_sf()
    if compiled is None:  # a scipy without it: the public function, imported after all
        from scipy.stats import hypergeom

        return np.asarray(hypergeom.sf(k, population, successes, drawn), dtype=np.float64)
    k, total, good, draws = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (k, population, successes, drawn))
    )
    # `rv_discrete.sf`: valid arguments, then 1 below the support, 0 at or above its top,
    # the compiled tail inside it (clipped to [0, 1]).
    valid = (total > 0) & (good >= 0) & (draws >= 0) & (good <= total) & (draws <= total)
    valid &= _is_whole(total) & _is_whole(good) & _is_whole(draws)
    low, high = np.maximum(draws - (total - good), 0), np.minimum(good, draws)
    below = ((k < low) | np.isneginf(k)) & valid
    inside = valid & (k >= low) & (k < high) & np.isfinite(k)
    out = np.zeros(k.shape, dtype=np.float64)
    out[~valid | np.isnan(k)] = np.nan
    out[below] = 1.0
    if inside.any():
        # scipy's argument order for the compiled tail: k, successes, drawn, population
        tail = compiled(k[inside], good[inside], draws[inside], total[inside])
        out[inside] = np.clip(tail, 0, 1)
    return out


def _is_whole(values: np.ndarray) -> np.ndarray:
    return np.round(values) == values


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of the p-values `p` (one axis), in their order."""
    p = np.asarray(p)
    if not (np.issubdtype(p.dtype, np.number) and np.all(p == np.clip(p, 0.0, 1.0))):
        raise ValueError("`ps` must include only numbers between 0 and 1.")
    if p.size <= 1:
        return p
    m = p.shape[-1]
    order = np.argsort(p)
    adjusted = p[order] * (m / np.arange(1, m + 1, dtype=p.dtype))
    np.minimum.accumulate(adjusted[::-1], out=adjusted[::-1])
    q = np.empty_like(adjusted)
    q[order] = adjusted
    return np.clip(q, 0.0, 1.0)


def _compiled_sf() -> Callable[..., np.ndarray] | None:
    """scipy's compiled hypergeometric tail (Boost's), which `hypergeom.sf` calls."""
    from scipy.special import _ufuncs

    return getattr(_ufuncs, "_hypergeom_sf", None)
