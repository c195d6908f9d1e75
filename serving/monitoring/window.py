"""The server's rolling window of what one model version served: the last N rows.

:class:`LiveWindow` is fed each request's raw inputs and outputs (``add``); it keeps only
the monitored per-row values (``features.py``: a column's value, a strided pixel grid per
channel and its mean, a text's words), never whole requests, in batches that are dropped
from the old end once more than ``size`` rows are held, so its memory is bounded by
``size`` rows of those values. ``add`` is cheap (the feature extraction, an append); the
summaries and tests run only when asked (``statistics`` / ``report``). Thread-safe.

Example:
    >>> window = LiveWindow(read_statistics(version_dir), size=1000)
    >>> window.add(inputs, outputs)          # per request, from the request path
    >>> window.report().verdict              # on /v1/models/NAME/drift or a metrics scrape
    'ok'
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from .drift import DEFAULT_THRESHOLDS, DriftReport, Thresholds, drift_report
from .features import input_features, output_features
from .statistics import TrainingStatistics, summarize_like, vocabulary_set
from .summaries import Summary

DEFAULT_SIZE = 1000


class _Rows:
    """Per-feature arrays of the last ``size`` rows, kept as a queue of batches."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.batches: deque[dict[str, np.ndarray]] = deque()
        self.count = 0

    def add(self, batch: dict[str, np.ndarray]) -> None:
        rows = len(next(iter(batch.values()))) if batch else 0
        if rows == 0:
            return
        if rows > self.size:  # one batch bigger than the window: its last rows
            batch = {k: v[-self.size :] for k, v in batch.items()}
            rows = self.size
        self.batches.append(batch)
        self.count += rows
        while self.count > self.size:
            oldest = self.batches[0]
            held = len(next(iter(oldest.values())))
            extra = self.count - self.size
            if held <= extra:
                self.batches.popleft()
                self.count -= held
            else:
                self.batches[0] = {k: v[extra:] for k, v in oldest.items()}
                self.count -= extra

    def features(self) -> dict[str, np.ndarray]:
        if not self.batches:
            return {}
        names = self.batches[0].keys()
        return {n: np.concatenate([b[n] for b in self.batches if n in b]) for n in names}


class LiveWindow:
    """The last ``size`` inputs and outputs one model version served, against its training
    statistics."""

    def __init__(
        self,
        training: TrainingStatistics,
        size: int = DEFAULT_SIZE,
        *,
        vocabulary: Sequence[str] | None = None,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
    ) -> None:
        """``vocabulary``: a text model's (the card's ``preprocessing.tokenizer``), for the
        out-of-vocabulary rate; ``size``: rows kept (inputs and outputs each)."""
        if size < 1:
            raise ValueError(f"a live window holds at least one row; received size={size}")
        self.training = training
        self.thresholds = thresholds
        self.vocabulary = vocabulary_set(vocabulary)
        self._inputs = _Rows(size)
        self._outputs = _Rows(size)
        self._lock = threading.Lock()

    def add(self, inputs: Any = None, outputs: dict[str, Any] | None = None) -> None:
        """Record one request's raw inputs (the batch the model took) and/or its outputs.

        Raises:
            ValueError: ``inputs`` do not have the rank of the training inputs' kind.
        """
        found_in = (
            input_features(inputs, self.training.input_kind, self.training.feature_names)
            if inputs is not None
            else None
        )
        found_out = output_features(outputs) if outputs else None
        with self._lock:
            if found_in:
                self._inputs.add(_kept(found_in, self.training.inputs))
            if found_out:
                self._outputs.add(_kept(found_out, self.training.outputs))

    @property
    def rows(self) -> int:
        """Input rows held now."""
        return self._inputs.count

    def statistics(self) -> TrainingStatistics:
        """The window's statistics, binned like the training ones."""
        with self._lock:
            inputs, outputs = self._inputs.features(), self._outputs.features()
            rows, output_rows = self._inputs.count, self._outputs.count
        return self.training.model_copy(
            update={
                "rows": rows,
                "output_rows": output_rows,
                "inputs": summarize_like(inputs, self.training.inputs, self.vocabulary),
                "outputs": summarize_like(outputs, self.training.outputs, self.vocabulary),
            }
        )

    def report(self) -> DriftReport:
        """The drift report of the window against the training statistics."""
        return drift_report(self.training, self.statistics(), self.thresholds)


def _kept(found: dict[str, np.ndarray], reference: dict[str, Summary]) -> dict[str, np.ndarray]:
    """Only the features training summarised (an unknown output is not held)."""
    return {name: values for name, values in found.items() if name in reference}
