"""The statistical tests behind drift and skew, in NumPy (no SciPy in the serving extra).

- :func:`psi`: population stability index between two histograms over the same bins.
- :func:`psi_judged`: the PSI that drift judges: on bins merged until each expects at
  least :data:`MIN_BIN_ROWS` live rows (:func:`psi_groups`), less its expected value when
  nothing drifted (see below).
- :func:`ks_binned`: two-sample Kolmogorov-Smirnov from two histograms over the same bins.
  The training side keeps histograms, not samples, so this is the one drift uses. The
  statistic is the largest CDF gap *at the bin edges*, never larger than the exact one:
  it can miss a shift inside a bin, but it cannot raise more false alarms than the exact
  test at the same significance.
- :func:`ks_exact`: the exact two-sample statistic, where both raw samples are at hand
  (the skew check at publish has both).
- :func:`chi_square`: Pearson's goodness of fit of live category counts to training's mix.

Effective sizes. Every test takes the sizes of both samples in independent *rows* (images,
texts, series windows), which may be fewer than the values counted: an image gives many
pixels, a text many words, and values of one row are not independent draws. The
histograms give the shares; the sizes give the noise. Judging pooled values as if
each were a row of its own turns a re-encoding of the same images into a "significant"
shift. Counting rows instead is conservative: the pooled share of a bin is a mean over
rows of each row's share in ``[0, 1]``, whose variance is at most ``p (1 - p) / rows``.

PSI's bias. Over ``k`` bins, a window of ``n`` rows drawn from the training distribution
(itself known from ``m`` rows) has ``PSI ~ (k - 1) (1/n + 1/m)`` on average, not 0:
``PSI / (1/n + 1/m)`` is close to a chi-square of ``k - 1`` degrees of freedom. With the
training histogram's 16 bins, some expecting under one row of a 67-row window, held-out
rows score 0.2-0.9 by chance. Hence, for a window of ``n`` rows: adjacent bins are merged
until each expects at least :data:`MIN_BIN_ROWS` of them (the outer, beyond-training bins
merge into their neighbours), and the expected value is subtracted (floored at 0). Under
no drift the judged PSI then exceeds 0.25 with a probability of about
``P(chi2(k-1) > k-1 + 0.25 / (1/n + 1/m))``: 0.2% for 67 rows against diabetes' 286
training rows, 1% for 30 rows, far less for hundreds. A window too small for two such
bins has a PSI of 0 (no evidence); drift's ``min_rows`` says "no data" before that.

Chi-square also accounts for training's own noise (the class mix of a validation split of
a few hundred rows): the statistic is Pearson's over the shares, times ``n m / (n + m)``.

p-values: KS from the asymptotic Kolmogorov distribution with Stephens' small-sample
correction, over the effective size ``n*m/(n+m)``; chi-square from the regularised upper
incomplete gamma function (series and continued fraction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PSI_FLOOR = 1e-4
"""Smallest bin share in the raw PSI (an empty bin would make it infinite)."""
MIN_BIN_ROWS = 10
"""Live rows each bin of the judged PSI expects at least (finer bins are merged)."""


@dataclass(frozen=True)
class Result:
    """A test's statistic and p-value."""

    statistic: float
    p_value: float


@dataclass(frozen=True)
class Psi:
    """The judged PSI (:func:`psi_judged`), its raw value and the bins it was taken over."""

    value: float
    raw: float
    bins: int


Sizes = tuple[float, float]
"""Rows behind the expected (training) and the actual (live) histogram (see the module)."""


def psi(expected: np.ndarray, actual: np.ndarray, floor: float = PSI_FLOOR) -> float:
    """``sum((a - e) * ln(a / e))`` over the bins' shares, each floored at ``floor``."""
    e = _shares(expected, floor)
    a = _shares(actual, floor)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_groups(expected: np.ndarray, rows: float, min_rows: int = MIN_BIN_ROWS) -> np.ndarray:
    """Each bin's group: adjacent bins merged, left to right, until a group expects at least
    ``min_rows`` of a window of ``rows`` rows; a short last group joins the one before.
    Depends on training's histogram and the window's size only, never on the live data."""
    expected = np.asarray(expected, "float64")
    total = expected.sum()
    wanted = min_rows / rows if rows > 0 else np.inf
    groups = np.zeros(len(expected), "int64")
    group, held = 0, 0.0
    for i, count in enumerate(expected):
        groups[i] = group
        held += count / total if total else 0.0
        if held >= wanted and i < len(expected) - 1:
            group, held = group + 1, 0.0
    if group > 0 and held < wanted:  # the last group is short (or empty): merge it
        groups[groups == group] = group - 1
    return groups


def psi_judged(
    expected: np.ndarray, actual: np.ndarray, sizes: Sizes, min_rows: int = MIN_BIN_ROWS
) -> Psi:
    """PSI over :func:`psi_groups`' bins, less its expected value under no drift
    ``(k - 1) (1/n + 1/m)``, floored at 0 (module docstring). ``sizes``: rows ``(m, n)``."""
    reference, window = sizes
    if reference <= 0 or window <= 0:
        return Psi(0.0, 0.0, 0)
    groups = psi_groups(expected, window, min_rows)
    bins = int(groups.max()) + 1
    merged_e = np.bincount(groups, weights=np.asarray(expected, "float64"), minlength=bins)
    merged_a = np.bincount(groups, weights=np.asarray(actual, "float64"), minlength=bins)
    raw = psi(merged_e, merged_a, floor=0.5 / window)  # half a row: an empty bin stays finite
    bias = (bins - 1) * (1.0 / window + 1.0 / reference)
    return Psi(max(0.0, raw - bias), raw, bins)


def ks_binned(expected: np.ndarray, actual: np.ndarray, sizes: Sizes | None = None) -> Result:
    """KS statistic and p-value from two histograms over the same bins (see the module);
    ``sizes``: the rows behind each (default: the histograms' totals)."""
    n, m = float(np.sum(expected)), float(np.sum(actual))
    if n == 0 or m == 0:
        return Result(0.0, 1.0)
    gap = np.abs(np.cumsum(expected) / n - np.cumsum(actual) / m)
    d = float(gap.max())
    rows_e, rows_a = sizes or (n, m)
    return Result(d, kolmogorov_p(d, rows_e * rows_a / (rows_e + rows_a)))


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


def chi_square(
    expected: np.ndarray, observed: np.ndarray, sizes: Sizes | None = None
) -> tuple[Result, int]:
    """Pearson's chi-square of ``observed`` counts against ``expected``'s proportions, over
    the effective size ``n m / (n + m)`` of the rows behind them (``sizes``, default the
    counts' totals): both sides are samples (module docstring).

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
    rows_e, rows_a = sizes or (expected.sum(), total)
    effective = rows_e * rows_a / (rows_e + rows_a)
    statistic = float(np.sum((observed / total - share) ** 2 / share) * effective)
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


def _shares(counts: np.ndarray, floor: float) -> np.ndarray:
    counts = np.asarray(counts, "float64")
    total = counts.sum()
    shares = counts / total if total else np.full(len(counts), 1.0 / len(counts))
    return np.maximum(shares, floor)
