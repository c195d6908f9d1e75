"""Drift: live statistics against the training statistics, one verdict per feature.

:func:`drift_report` compares a live :class:`~.statistics.TrainingStatistics` (from the
server's ``LiveWindow``, or from logged requests) with the version's training one and
returns a :class:`DriftReport`. Per feature, by summary kind:

- numeric (columns, channels, series values and steps, output scores): population
  stability index (PSI) and Kolmogorov-Smirnov over the training histogram's bins
  (``stat_tests.ks_binned``: training keeps no raw samples);
- categorical (class mix, image sizes, ``is_anomaly``): chi-square against training's mix,
  and PSI over the categories plus ``other``;
- text: PSI and KS of the lengths, chi-square of the top words, and the difference of the
  out-of-vocabulary rates (live minus training).

Sample sizes are counted in rows (examples), never in values: a feature that holds many
values per row (an image's pixels, a series window's steps, a text's words) is judged on
the number of images, windows or texts behind it (``stat_tests``' module docstring), so
re-encoding the same images (PNG rounding) does not look like a significant shift.

The PSI judged and reported is ``stat_tests.psi_judged``: over bins merged until each
expects at least ``Thresholds.min_bin_rows`` live rows (``psi_bins`` says how many were
left), less the value it has by chance under no drift, ``(bins - 1) (1/n_live +
1/n_training)``. A raw 16-bin PSI is biased upwards for small windows (67 held-out rows
score 0.2-0.9 by chance); the judged one is about 0 on average under no drift and crosses
the alert threshold by chance 0.2% of the time for 67 rows, far less for hundreds.

A feature's verdict is the worst of its tests' (:class:`Thresholds`, defaults below);
the report's is the worst of its features'. A feature seen in fewer than
``Thresholds.min_rows`` live rows gets ``no_data`` ("not enough rows", gauge value -1):
too little to judge, never an alert.

Default thresholds:

=========================  ===========  ===========
test                       warn         alert
=========================  ===========  ===========
PSI (judged)               >= 0.10      >= 0.25
KS p-value                 < 0.01       < 0.001
chi-square p-value         < 0.01       < 0.001
OOV rate difference        >= 0.05      >= 0.10
=========================  ===========  ===========

The PSI bands are the credit-scoring convention (below 0.1 stable, 0.1-0.25 a moderate
shift, above 0.25 a major one). The p-value bands keep false alarms rare: a window of the
training distribution itself warns about 1% of the time per feature and test (less for
the binned KS and for the row-counted tests, which are conservative). With very large
windows, p-values flag even tiny shifts; PSI, which does not grow with the window, tells
how large the shift is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from . import stat_tests
from .statistics import TrainingStatistics
from .summaries import CategoricalSummary, NumericSummary, Summary, TextSummary

Verdict = Literal["ok", "warn", "alert", "no_data"]
SEVERITY: dict[str, int] = {"no_data": 0, "ok": 1, "warn": 2, "alert": 3}


@dataclass(frozen=True)
class Thresholds:
    """Where a test's result becomes ``warn`` and ``alert`` (module docstring's table)."""

    psi_warn: float = 0.10
    psi_alert: float = 0.25
    p_warn: float = 0.01
    p_alert: float = 0.001
    oov_warn: float = 0.05
    oov_alert: float = 0.10
    min_rows: int = 30
    min_bin_rows: int = stat_tests.MIN_BIN_ROWS


DEFAULT_THRESHOLDS = Thresholds()


class FeatureDrift(BaseModel):
    """One feature's tests and verdict; the tests that do not apply are ``None``."""

    model_config = ConfigDict(frozen=True)

    kind: str
    verdict: Verdict
    live_count: int
    """Live rows (examples) behind the feature: images, texts or windows, not values."""
    psi: float | None = None
    """The judged PSI: bias-corrected, over ``psi_bins`` merged bins (module docstring)."""
    psi_bins: int | None = None
    ks_statistic: float | None = None
    ks_p_value: float | None = None
    chi2: float | None = None
    chi2_dof: int | None = None
    chi2_p_value: float | None = None
    oov_rate_training: float | None = None
    oov_rate_live: float | None = None
    oov_rate_difference: float | None = None
    reasons: list[str] = Field(default_factory=list)
    """Which tests crossed which threshold (``"psi 0.31 >= 0.25"``)."""


class DriftReport(BaseModel):
    """Live traffic against one model version's training statistics (JSON-serialisable)."""

    model_config = ConfigDict(frozen=True)

    task: str
    verdict: Verdict
    live_rows: int
    inputs: dict[str, FeatureDrift] = Field(default_factory=dict)
    outputs: dict[str, FeatureDrift] = Field(default_factory=dict)

    def alerts(self) -> list[str]:
        """``"inputs/age"``-style names of the features whose verdict is ``alert``."""
        return [
            f"{side}/{name}"
            for side, found in (("inputs", self.inputs), ("outputs", self.outputs))
            for name, drift in found.items()
            if drift.verdict == "alert"
        ]


def drift_report(
    training: TrainingStatistics,
    live: TrainingStatistics,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> DriftReport:
    """Compare every feature ``live`` and ``training`` share (``live`` binned like it)."""
    inputs = _compare_all(training.inputs, live.inputs, thresholds, (training.rows, live.rows))
    outputs = _compare_all(
        training.outputs, live.outputs, thresholds, (training.output_rows, live.output_rows)
    )
    verdicts = [d.verdict for d in (*inputs.values(), *outputs.values())]
    return DriftReport(
        task=training.task,
        verdict=worst(verdicts) if verdicts else "no_data",
        live_rows=live.rows,
        inputs=inputs,
        outputs=outputs,
    )


def compare(
    training: Summary,
    live: Summary,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    rows: tuple[int, int] | None = None,
) -> FeatureDrift:
    """One feature's tests and verdict. ``rows``: the training and live rows (examples)
    behind the two summaries, where a row may hold several values (default: one a value).

    Raises:
        ValueError: the two summaries are of different kinds or were binned differently.
    """
    if type(training) is not type(live):
        raise ValueError(f"cannot compare a {training.kind} summary with a {live.kind} one")
    if isinstance(training, NumericSummary) and isinstance(live, NumericSummary):
        sizes = (_rows(training.count, rows, 0), _rows(live.count, rows, 1))
        judged = _rows(live.count + live.missing, rows, 1)  # missing values count as seen
        return _judge(_numeric(training, live, sizes, thresholds), judged, thresholds)
    if isinstance(training, CategoricalSummary) and isinstance(live, CategoricalSummary):
        sizes = (_rows(training.total, rows, 0), _rows(live.total, rows, 1))
        return _judge(_categorical(training, live, sizes, thresholds), sizes[1], thresholds)
    assert isinstance(training, TextSummary) and isinstance(live, TextSummary)
    sizes = (_rows(training.length.count, rows, 0), _rows(live.length.count, rows, 1))
    found = {
        **_numeric(training.length, live.length, sizes, thresholds),
        **_categorical(training.tokens, live.tokens, sizes, thresholds, psi=False),
        "oov_rate_training": training.oov_rate,
        "oov_rate_live": live.oov_rate,
        "oov_rate_difference": live.oov_rate - training.oov_rate,
    }
    return _judge(found, int(sizes[1]), thresholds, kind="text")


def worst(verdicts: list[str]) -> Verdict:
    """The most severe of ``verdicts`` (``alert`` > ``warn`` > ``ok`` > ``no_data``)."""
    return max(verdicts, key=SEVERITY.__getitem__)  # type: ignore[return-value]


def _compare_all(
    training: dict[str, Summary],
    live: dict[str, Summary],
    thresholds: Thresholds,
    rows: tuple[int, int],
) -> dict[str, FeatureDrift]:
    # a document without row counts (0) falls back to one row a value
    known = rows if min(rows) > 0 else None
    return {
        name: compare(training[name], live[name], thresholds, known)
        for name in training
        if name in live
    }


def _rows(values: int, rows: tuple[int, int] | None, side: int) -> int:
    """The rows behind ``values`` values: at most one value a row."""
    return min(values, rows[side]) if rows else values


def _psi(
    expected: np.ndarray, actual: np.ndarray, sizes: tuple[int, int], thresholds: Thresholds
) -> dict[str, object]:
    judged = stat_tests.psi_judged(expected, actual, sizes, thresholds.min_bin_rows)
    return {"psi": judged.value, "psi_bins": judged.bins}


def _numeric(
    training: NumericSummary,
    live: NumericSummary,
    sizes: tuple[int, int],
    thresholds: Thresholds,
) -> dict[str, object]:
    if training.edges != live.edges:
        raise ValueError("the live summary was not binned on the training edges")
    expected, actual = np.asarray(training.counts), np.asarray(live.counts)
    ks = stat_tests.ks_binned(expected, actual, sizes if min(sizes) > 0 else None)
    return {
        "kind": "numeric",
        **_psi(expected, actual, sizes, thresholds),
        "ks_statistic": ks.statistic,
        "ks_p_value": ks.p_value,
    }


def _categorical(
    training: CategoricalSummary,
    live: CategoricalSummary,
    sizes: tuple[int, int],
    thresholds: Thresholds,
    *,
    psi: bool = True,
) -> dict[str, object]:
    if training.categories != live.categories:
        raise ValueError("the live summary was not counted over the training categories")
    expected = np.asarray([*training.counts, training.other])
    observed = np.asarray([*live.counts, live.other])
    if training.other == 0 and live.other == 0:  # no "other" on either side: not a category
        expected, observed = expected[:-1], observed[:-1]
    chi2, dof = stat_tests.chi_square(expected, observed, sizes if min(sizes) > 0 else None)
    found: dict[str, object] = {
        "kind": "categorical",
        "chi2": chi2.statistic,
        "chi2_dof": dof,
        "chi2_p_value": chi2.p_value,
    }
    if psi:
        found.update(_psi(expected, observed, sizes, thresholds))
    return found


def _judge(
    found: dict[str, object], live_count: int, thresholds: Thresholds, kind: str | None = None
) -> FeatureDrift:
    if kind:
        found["kind"] = kind
    if live_count < thresholds.min_rows:
        reason = f"not enough rows: {live_count} live < min_rows {thresholds.min_rows}"
        return FeatureDrift(**found, verdict="no_data", live_count=live_count, reasons=[reason])  # type: ignore[arg-type]
    reasons: list[str] = []
    verdicts: list[str] = ["ok"]
    checks = (
        ("psi", thresholds.psi_warn, thresholds.psi_alert, ">="),
        ("ks_p_value", thresholds.p_warn, thresholds.p_alert, "<"),
        ("chi2_p_value", thresholds.p_warn, thresholds.p_alert, "<"),
        ("oov_rate_difference", thresholds.oov_warn, thresholds.oov_alert, ">="),
    )
    for key, warn, alert, sense in checks:
        value = found.get(key)
        if value is None:
            continue
        level = _level(float(value), warn, alert, sense)  # type: ignore[arg-type]
        if level != "ok":
            bound = alert if level == "alert" else warn
            reasons.append(f"{key} {float(value):.3g} {sense} {bound}")  # type: ignore[arg-type]
            verdicts.append(level)
    return FeatureDrift(**found, verdict=worst(verdicts), live_count=live_count, reasons=reasons)  # type: ignore[arg-type]


def _level(value: float, warn: float, alert: float, sense: str) -> str:
    if sense == ">=":
        return "alert" if value >= alert else "warn" if value >= warn else "ok"
    return "alert" if value < alert else "warn" if value < warn else "ok"
