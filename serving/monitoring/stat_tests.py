"""The statistical tests behind drift and skew, in NumPy (no SciPy in the serving extra).

- :func:`psi`: population stability index between two histograms over the same bins.
- :func:`ks_binned`: two-sample Kolmogorov-Smirnov from two histograms over the same bins.
  The training side keeps histograms, not samples, so this is the one drift uses. The
  statistic is the largest CDF gap *at the bin edges*, never larger than the exact one:
  it can miss a shift inside a bin, but it cannot raise more false alarms than the exact
  test at the same significance.
- :func:`ks_exact`: the exact two-sample statistic, where both raw samples are at hand
  (the skew check at publish has both).
- :func:`chi_square`: Pearson's goodness of fit of live category counts to training's mix.

p-values: KS from the asymptotic Kolmogorov distribution with Stephens' small-sample
correction, over the effective size ``n*m/(n+m)``; chi-square from the regularised upper
incomplete gamma function (series and continued fraction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PSI_FLOOR = 1e-4
"""Smallest bin share in the PSI (an empty bin would make it infinite)."""


@dataclass(frozen=True)
class Result:
    """A test's statistic and p-value."""

    statistic: float
    p_value: float


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """``sum((a - e) * ln(a / e))`` over the bins' shares, each floored at :data:`PSI_FLOOR`."""
    e = _shares(expected)
    a = _shares(actual)
    return float(np.sum((a - e) * np.log(a / e)))


def ks_binned(expected: np.ndarray, actual: np.ndarray) -> Result:
    """KS statistic and p-value from two histograms over the same bins (see the module)."""
    n, m = float(np.sum(expected)), float(np.sum(actual))
    if n == 0 or m == 0:
        return Result(0.0, 1.0)
    gap = np.abs(np.cumsum(expected) / n - np.cumsum(actual) / m)
    d = float(gap.max())
    return Result(d, kolmogorov_p(d, n * m / (n + m)))


def ks_exact(a: np.ndarray, b: np.ndarray) -> Result:
    """The exact two-sample KS statistic of raw samples ``a`` and ``b`` (NaN dropped)."""
    a = np.sort(a[~np.isnan(a)].reshape(-1))
    b = np.sort(b[~np.isnan(b)].reshape(-1))
    if a.size == 0 or b.size == 0:
        return Result(0.0, 1.0)
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / a.size
    cdf_b = np.searchsorted(b, points, side="right") / b.size
    d = float(np.max(np.abs(cdf_a - cdf_b)))
    return Result(d, kolmogorov_p(d, a.size * b.size / (a.size + b.size)))


def chi_square(expected: np.ndarray, observed: np.ndarray) -> tuple[Result, int]:
    """Pearson's chi-square of ``observed`` counts against ``expected``'s proportions.

    Categories training never saw get a floor of half a training example, so a new class
    counts heavily without dividing by zero.

    Returns:
        The result and its degrees of freedom (categories - 1).
    """
    expected = np.asarray(expected, "float64")
    observed = np.asarray(observed, "float64")
    total = observed.sum()
    if total == 0 or expected.sum() == 0 or len(expected) < 2:
        return Result(0.0, 1.0), max(len(expected) - 1, 0)
    share = np.maximum(expected, 0.5) / np.maximum(expected, 0.5).sum()
    wanted = share * total
    statistic = float(np.sum((observed - wanted) ** 2 / wanted))
    dof = len(expected) - 1
    return Result(statistic, chi2_p(statistic, dof)), dof


def kolmogorov_p(d: float, effective_n: float) -> float:
    """P(D >= d) for the KS statistic of effective size ``effective_n`` (asymptotic)."""
    if d <= 0:
        return 1.0
    root = math.sqrt(effective_n)
    lam = (root + 0.12 + 0.11 / root) * d
    if lam < 0.2:
        return 1.0
    total = sum((-1) ** (j - 1) * math.exp(-2.0 * j * j * lam * lam) for j in range(1, 101))
    return float(min(1.0, max(0.0, 2.0 * total)))


def chi2_p(statistic: float, dof: int) -> float:
    """P(X >= statistic) for a chi-square variable with ``dof`` degrees of freedom."""
    if dof <= 0:
        return 1.0
    if statistic <= 0:
        return 1.0
    return upper_gamma(dof / 2.0, statistic / 2.0)


def upper_gamma(a: float, x: float) -> float:
    """The regularised upper incomplete gamma function ``Q(a, x)``."""
    if x < a + 1.0:
        return 1.0 - _lower_series(a, x)
    return _upper_fraction(a, x)


def _lower_series(a: float, x: float) -> float:
    """``P(a, x)`` from its power series (converges fast for ``x < a + 1``)."""
    term = total = 1.0 / a
    denominator = a
    for _ in range(1000):
        denominator += 1.0
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * 1e-15:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _upper_fraction(a: float, x: float) -> float:
    """``Q(a, x)`` from its continued fraction, evaluated by the modified Lentz method."""
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-15:
            break
    return h * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _shares(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, "float64")
    total = counts.sum()
    shares = counts / total if total else np.full(len(counts), 1.0 / len(counts))
    return np.maximum(shares, PSI_FLOOR)
