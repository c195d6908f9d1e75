"""Mergeable, JSON-serialisable summaries of one feature: numeric, categorical, text.

A summary is computed from one NumPy batch (:func:`summarize_numeric`,
:func:`summarize_categories`) and two summaries over the same bins merge into the summary
of both batches (:func:`merge`), so a stream is summarised batch by batch without being
held. A numeric summary's bin edges are fixed once, from the training data
(:func:`quantile_edges`), and live data is binned with the training edges, so the two
histograms compare bin for bin.

Bins of a numeric histogram, for edges ``e[0] < ... < e[k]`` (``counts`` has ``k + 2``
entries): ``counts[0]`` underflow ``(-inf, e[0])``; ``counts[i]`` for ``i`` in ``1..k``
``[e[i-1], e[i])``, the last inner one closed ``[e[k-1], e[k]]``; ``counts[k+1]`` overflow
``(e[k], inf)``. Training data never falls outside its own edges, so the outer bins count
live values beyond the training range. NaN is not binned: it is counted in ``missing``.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

QUANTILE_LEVELS = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
"""The quantiles every numeric summary reports (read from its histogram)."""
DEFAULT_BINS = 10


class _Summary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NumericSummary(_Summary):
    """A numeric feature: moments, range, missing count, and its histogram on fixed edges."""

    kind: Literal["numeric"] = "numeric"
    count: int
    """Finite values summarised (NaN excluded; infinities are binned but not in the moments)."""
    missing: int = 0
    """NaN values."""
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    """Population standard deviation (divides by ``count``)."""
    edges: list[float]
    counts: list[int]
    """``len(edges) + 1`` bin counts: underflow, the inner bins, overflow (module docstring)."""
    quantiles: dict[str, float] = Field(default_factory=dict)
    """``{"0.5": median, ...}`` at :data:`QUANTILE_LEVELS`, interpolated in the histogram:
    exact at the edges, linear between them."""

    def quantile(self, level: float) -> float | None:
        """The ``level`` quantile, linear within the histogram's bins (``None`` when empty)."""
        return _histogram_quantile(self, level)


class CategoricalSummary(_Summary):
    """A categorical feature (class ids, image sizes, tokens): a count per category."""

    kind: Literal["categorical"] = "categorical"
    categories: list[str]
    counts: list[int]
    other: int = 0
    """Values outside ``categories`` (a class or token training never saw in its top list)."""

    @property
    def total(self) -> int:
        return int(sum(self.counts)) + self.other


class TextSummary(_Summary):
    """A text input: lengths in words, the most frequent words, the out-of-vocabulary rate."""

    kind: Literal["text"] = "text"
    length: NumericSummary
    """Words per text (after the model tokeniser's standardisation)."""
    tokens: CategoricalSummary
    """Counts of training's most frequent words; ``other`` holds every other word."""
    token_count: int
    oov_count: int
    """Words not in the model's vocabulary (0 when the model has no vocabulary)."""

    @property
    def oov_rate(self) -> float:
        return self.oov_count / self.token_count if self.token_count else 0.0


Summary = Annotated[NumericSummary | CategoricalSummary | TextSummary, Field(discriminator="kind")]


def quantile_edges(values: np.ndarray, bins: int = DEFAULT_BINS) -> list[float]:
    """Bin edges at the ``0, 1/bins, ..., 1`` quantiles of the finite ``values`` and at
    :data:`QUANTILE_LEVELS` (so the reported quantiles fall near edges, not mid-bin);
    duplicates dropped, so a feature with few distinct values gets fewer, exact bins;
    ``[0.0]`` when nothing is finite."""
    finite = _finite(values)
    if finite.size == 0:
        return [0.0]
    levels = np.union1d(np.linspace(0.0, 1.0, bins + 1), QUANTILE_LEVELS)
    return [float(e) for e in np.unique(np.quantile(finite, levels))]


def bin_index(values: np.ndarray, edges: list[float] | np.ndarray) -> np.ndarray:
    """Each non-NaN value's bin (0: underflow, ``len(edges)``: overflow), as the module says."""
    edges = np.asarray(edges, "float64")
    index = np.searchsorted(edges, values, side="right")
    index[values == edges[-1]] = len(edges) - 1  # the last inner bin is closed
    return index


def summarize_numeric(values: np.ndarray, edges: list[float] | np.ndarray) -> NumericSummary:
    """The summary of ``values`` (any shape; flattened) on the histogram ``edges``."""
    flat = np.asarray(values, "float64").reshape(-1)
    nan = np.isnan(flat)
    present = flat[~nan]
    finite = present[np.isfinite(present)]
    counts = np.bincount(bin_index(present, edges), minlength=len(edges) + 1)
    if finite.size == 0:
        return _finished(NumericSummary(count=0, missing=int(nan.sum()), edges=list(edges),
                                        counts=counts.tolist()))  # fmt: skip
    return _finished(
        NumericSummary(
            count=int(finite.size),
            missing=int(nan.sum()),
            min=float(finite.min()),
            max=float(finite.max()),
            mean=float(finite.mean()),
            std=float(finite.std()),
            edges=[float(e) for e in edges],
            counts=counts.tolist(),
        )
    )


def summarize_categories(values: np.ndarray, categories: list[str]) -> CategoricalSummary:
    """Counts of ``values`` (compared as strings) per category; the rest in ``other``."""
    index = {c: i for i, c in enumerate(categories)}
    counts = [0] * len(categories)
    other = 0
    found, times = np.unique(np.asarray(values).reshape(-1).astype(str), return_counts=True)
    for value, n in zip(found.tolist(), times.tolist(), strict=True):
        if value in index:
            counts[index[value]] += int(n)
        else:
            other += int(n)
    return CategoricalSummary(categories=list(categories), counts=counts, other=other)


def merge(a: Summary, b: Summary) -> Summary:
    """The summary of both batches ``a`` and ``b`` (same kind, same edges or categories).

    Raises:
        ValueError: the two were not binned alike.
    """
    if isinstance(a, NumericSummary) and isinstance(b, NumericSummary):
        return _merge_numeric(a, b)
    if isinstance(a, CategoricalSummary) and isinstance(b, CategoricalSummary):
        if a.categories != b.categories:
            raise ValueError("cannot merge categorical summaries over different categories")
        counts = [x + y for x, y in zip(a.counts, b.counts, strict=True)]
        return CategoricalSummary(categories=a.categories, counts=counts, other=a.other + b.other)
    if isinstance(a, TextSummary) and isinstance(b, TextSummary):
        return TextSummary(
            length=_merge_numeric(a.length, b.length),
            tokens=merge(a.tokens, b.tokens),  # type: ignore[arg-type]
            token_count=a.token_count + b.token_count,
            oov_count=a.oov_count + b.oov_count,
        )
    raise ValueError(f"cannot merge a {a.kind} summary with a {b.kind} one")


def _merge_numeric(a: NumericSummary, b: NumericSummary) -> NumericSummary:
    if a.edges != b.edges:
        raise ValueError("cannot merge numeric summaries binned on different edges")
    counts = [x + y for x, y in zip(a.counts, b.counts, strict=True)]
    missing = a.missing + b.missing
    if not b.count or not a.count:
        kept = a if a.count else b
        return kept.model_copy(update={"counts": counts, "missing": missing})
    n = a.count + b.count
    delta = b.mean - a.mean  # type: ignore[operator]
    mean = a.mean + delta * b.count / n  # type: ignore[operator]
    # Chan et al.'s pairwise update of the sum of squared deviations
    m2 = a.std**2 * a.count + b.std**2 * b.count + delta**2 * a.count * b.count / n  # type: ignore[operator]
    return _finished(
        NumericSummary(
            count=n,
            missing=missing,
            min=min(a.min, b.min),  # type: ignore[type-var]
            max=max(a.max, b.max),  # type: ignore[type-var]
            mean=float(mean),
            std=float(math.sqrt(max(m2 / n, 0.0))),
            edges=a.edges,
            counts=counts,
        )
    )


def _finished(summary: NumericSummary) -> NumericSummary:
    found = {str(q): summary.quantile(q) for q in QUANTILE_LEVELS}
    return summary.model_copy(
        update={"quantiles": {k: v for k, v in found.items() if v is not None}}
    )


def _histogram_quantile(summary: NumericSummary, level: float) -> float | None:
    counts = np.asarray(summary.counts, "float64")
    total = counts.sum()
    if total == 0 or summary.min is None or summary.max is None:
        return None
    edges = summary.edges
    # bin i spans [lower[i], upper[i]]; the outer bins are closed by the observed min and max
    lower = [min(summary.min, edges[0]), *edges]
    upper = [*edges, max(summary.max, edges[-1])]
    target = level * total
    cumulative = np.cumsum(counts)
    i = int(np.searchsorted(cumulative, target, side="left"))
    i = min(i, len(counts) - 1)
    before = cumulative[i] - counts[i]
    share = (target - before) / counts[i] if counts[i] else 0.0
    low, high = max(lower[i], summary.min), min(upper[i], summary.max)
    return float(low + share * (high - low))


def _finite(values: np.ndarray) -> np.ndarray:
    flat = np.asarray(values, "float64").reshape(-1)
    return flat[np.isfinite(flat)]
