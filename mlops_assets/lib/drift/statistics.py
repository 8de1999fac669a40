"""The drift statistics themselves, as small numpy functions over proportions, counts and CDFs.

Kept free of polars and of the profile so each one can be checked against scipy on its own
(``tests/test_drift.py``). Every function is vectorised over the values of one feature.
"""

from __future__ import annotations

import numpy as np

# An empty bin on either side makes PSI infinite (log of 0). Proportions are floored at 1e-4, the
# value Evidently and most PSI write-ups use, without renormalising: one bin that is empty in the
# reference and holds a share p today then contributes about p * ln(p / 1e-4) (0.69 for p = 0.1),
# still far above the usual 0.2 threshold, so an emptied or new bin is flagged but not infinite.
PSI_EPSILON = 1e-4


def population_stability_index(
    reference_proportions: np.ndarray, current_proportions: np.ndarray, epsilon: float = PSI_EPSILON
) -> float:
    """PSI = sum over bins of (current - reference) * ln(current / reference), shares floored at epsilon."""
    reference = np.maximum(np.asarray(reference_proportions, dtype=np.float64), epsilon)
    current = np.maximum(np.asarray(current_proportions, dtype=np.float64), epsilon)
    return float(np.sum((current - reference) * np.log(current / reference)))


def bin_proportions(sorted_values: np.ndarray, interior_edges: np.ndarray) -> np.ndarray:
    """Shares of ``sorted_values`` in the bins (-inf, e0], (e0, e1], ..., (e_last, +inf).

    Right-closed like ``numpy.histogram``'s last bin and polars' ``cut``: a value equal to an
    edge belongs to the bin below it, so each reference quantile lands in its own decile.
    """
    at_or_below = np.empty(interior_edges.size + 2, dtype=np.int64)  # values <= each edge, framed by 0 and n
    at_or_below[0] = 0
    at_or_below[1:-1] = np.searchsorted(sorted_values, interior_edges, side="right")
    at_or_below[-1] = sorted_values.size
    return (at_or_below[1:] - at_or_below[:-1]) / sorted_values.size


def reference_cdf_at(support: np.ndarray, cumulative_from_zero: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The reference's right-continuous step CDF at ``points``.

    The CDF is stored as its jump points ``support`` and ``cumulative_from_zero`` = [0, F(s0), F(s1), ...]:
    the number of support values <= x indexes F(x) directly, 0 below the first.
    """
    return cumulative_from_zero[np.searchsorted(support, points, side="right")]


def ks_statistic(support: np.ndarray, cumulative_from_zero: np.ndarray, current_sorted: np.ndarray) -> float:
    """Two-sample KS statistic sup |F_ref - F_cur| from the reference's step CDF and today's sorted values.

    Both CDFs are right-continuous step functions, so the supremum is reached at one of their
    jump points; evaluating both at the union of jump points (as ``scipy.stats.ks_2samp`` does)
    gives the exact statistic of the stored reference CDF.
    """
    points = np.concatenate([support, current_sorted])
    current_cdf = np.searchsorted(current_sorted, points, side="right") / current_sorted.size
    return float(np.max(np.abs(reference_cdf_at(support, cumulative_from_zero, points) - current_cdf)))


def ks_p_values(
    statistics: np.ndarray, reference_counts: np.ndarray, current_counts: np.ndarray
) -> np.ndarray:
    """Asymptotic two-sided KS p-values, Q_KS(sqrt(n m / (n + m)) * D), for many features at once.

    ``scipy.special.kolmogorov`` is a ufunc (microseconds for all features); the finite-n
    distribution ``scipy.stats.kstwo`` that ``ks_2samp(method="asymp")`` uses costs about 1 ms
    per feature at n = 1,000, which alone would be most of a day's comparison. At a day's
    ~1,000 rows against a ~86,000-row reference the two differ by at most 0.009 (the asymptotic
    one slightly larger, i.e. conservative); at 200 against 200 rows by up to 0.03. For
    discrete features (hours, seats) the KS p-value is conservative (too large), a known
    property of the test; the status therefore uses the statistic D, not the p-value.
    """
    reference_counts = np.asarray(reference_counts, dtype=np.float64)
    current_counts = np.asarray(current_counts, dtype=np.float64)
    effective_n = reference_counts * current_counts / (reference_counts + current_counts)
    from scipy import special  # imported when drift is computed, not when the code location loads

    return special.kolmogorov(np.sqrt(effective_n) * np.asarray(statistics, dtype=np.float64))


def chi_square_goodness_of_fit(
    observed_counts: np.ndarray, reference_proportions: np.ndarray, epsilon: float = PSI_EPSILON
) -> tuple[float, float]:
    """Pearson chi-square of today's category counts against the reference's shares, and its p-value.

    The reference shares are treated as known (goodness of fit, ``scipy.stats.chisquare``): the
    reference has ~100x more rows than a day, so its own sampling noise is negligible and it
    need not be kept. A category with no reference share would make the expected count 0 and
    the statistic infinite; shares are floored at ``epsilon`` and renormalised so that the
    expected counts still sum to the observed total, as ``chisquare`` requires. With one
    category only there is nothing to test: statistic 0, p-value 1.
    """
    observed = np.asarray(observed_counts, dtype=np.float64)
    shares = np.maximum(np.asarray(reference_proportions, dtype=np.float64), epsilon)
    expected = shares / shares.sum() * observed.sum()
    degrees_of_freedom = observed.size - 1
    if degrees_of_freedom < 1:
        return 0.0, 1.0
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    from scipy import special

    return statistic, float(special.chdtrc(degrees_of_freedom, statistic))
