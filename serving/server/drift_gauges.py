"""The Prometheus families of drift tracking (:mod:`.drift`), in the server's registry.

Per model, version, feature and direction (``input`` or ``output``), each feature's
latest test results against the version's training statistics
(``serving/monitoring/drift.py``); a test that does not apply to a feature's kind
(KS for a class mix, chi-square for a numeric column) has no series. Label values are
the served models' names and versions and the features of their ``statistics.json``,
never a client's words; a version's series go when it unloads.

=====================================  =================================================
family                                 value
=====================================  =================================================
``kerasforge_drift_psi``               population stability index, bias-corrected (drift.py)
``kerasforge_drift_ks_p_value``        Kolmogorov-Smirnov p-value (numeric features)
``kerasforge_drift_chi2_p_value``      chi-square p-value (categories, class mix, words)
``kerasforge_drift_oov_rate``          live out-of-vocabulary rate (text)
``kerasforge_drift_oov_rate_increase`` live minus training out-of-vocabulary rate (text)
``kerasforge_drift_verdict``           -1 no data (too few rows), 0 ok, 1 warn, 2 alert
``kerasforge_drift_window_rows``       rows in the version's window (no feature label)
``kerasforge_drift_requests_total``    requests by model and outcome: tracked, dropped
=====================================  =================================================
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from ..monitoring.drift import DriftReport, FeatureDrift

VERDICT_VALUES = {"no_data": -1, "ok": 0, "warn": 1, "alert": 2}
FEATURE_LABELS = ["model", "version", "feature", "direction"]
TESTS = {
    "psi": (
        "kerasforge_drift_psi",
        "Population stability index against the training data, less its no-drift expectation.",
    ),
    "ks_p_value": (
        "kerasforge_drift_ks_p_value",
        "Kolmogorov-Smirnov p-value against the training data (numeric features).",
    ),
    "chi2_p_value": (
        "kerasforge_drift_chi2_p_value",
        "Chi-square p-value against the training mix (categories, classes, words).",
    ),
    "oov_rate_live": (
        "kerasforge_drift_oov_rate",
        "Out-of-vocabulary rate of the live words (text features).",
    ),
    "oov_rate_difference": (
        "kerasforge_drift_oov_rate_increase",
        "Live minus training out-of-vocabulary rate (text features).",
    ),
}
"""``FeatureDrift`` field -> its family's name and help."""


class DriftGauges:
    """The drift families, set from a version's :class:`DriftReport`, removed with it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.tests = {
            key: Gauge(name, text, FEATURE_LABELS, registry=registry)
            for key, (name, text) in TESTS.items()
        }
        self.verdict = Gauge(
            "kerasforge_drift_verdict",
            "Drift verdict per feature: -1 no data (too few rows), 0 ok, 1 warn, 2 alert.",
            FEATURE_LABELS,
            registry=registry,
        )
        self.window_rows = Gauge(
            "kerasforge_drift_window_rows",
            "Rows in a version's drift window (the last rows it served).",
            ["model", "version"],
            registry=registry,
        )
        self.requests = Counter(
            "kerasforge_drift_requests",
            "Requests seen by drift tracking by model and outcome: tracked (added to the "
            "window) or dropped (the tracking queue was full).",
            ["model", "outcome"],
            registry=registry,
        )
        self._set: dict[tuple[str, int], set[tuple[Any, tuple[str, ...]]]] = {}
        self._counters: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def count(self, model: str, outcome: str, amount: int = 1) -> None:
        """Count ``amount`` requests of ``model`` as ``outcome``."""
        child = self._counters.get((model, outcome))
        if child is None:  # labels() locks and checks on every call: keep the child
            child = self._counters[(model, outcome)] = self.requests.labels(model, outcome)
        child.inc(amount)

    def set(self, model: str, version: int, report: DriftReport) -> None:
        """Set ``model``/``version``'s series from ``report``."""
        written: set[tuple[Any, tuple[str, ...]]] = set()
        for direction, features in (("input", report.inputs), ("output", report.outputs)):
            for feature, drift in features.items():
                labels = (model, str(version), feature, direction)
                for gauge, value in self._values(drift):
                    gauge.labels(*labels).set(value)
                    written.add((gauge, labels))
        self.window_rows.labels(model, str(version)).set(report.live_rows)
        with self._lock:
            stale = self._set.get((model, version), set()) - written
            self._set[(model, version)] = written
        for gauge, labels in stale:
            gauge.remove(*labels)

    def remove(self, model: str, version: int) -> None:
        """Remove every series of ``model``/``version`` (it unloaded)."""
        with self._lock:
            written = self._set.pop((model, version), set())
        for gauge, labels in written:
            gauge.remove(*labels)
        with contextlib.suppress(KeyError):  # never reported
            self.window_rows.remove(model, str(version))

    def _values(self, drift: FeatureDrift) -> list[tuple[Gauge, float]]:
        found = [(self.verdict, float(VERDICT_VALUES[drift.verdict]))]
        for key, gauge in self.tests.items():
            value = getattr(drift, key)
            if value is not None:
                found.append((gauge, float(value)))
        return found
