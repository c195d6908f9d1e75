"""Drift tracking in the server: what each version serves against its training statistics.

An observer (:mod:`.observers`) of every answered request. Each loaded version whose
folder holds training statistics (the card's ``statistics`` field, ``statistics.json``)
gets a :class:`~..monitoring.window.LiveWindow` of the last ``window_size`` rows it
served, built on the first request it answers; a version without statistics is skipped
(its ``/drift`` answer says so). Fed: the inputs of ``predict`` answers on the card's raw
signature (``serving_default``, or ``serving_pixels`` when that one takes encoded
images) and of ``serving_features`` (one input per column, stacked); the tf.Examples of
``classify`` and ``regress`` answers (their float or text features, read back into the
raw layout); and the outputs of all of them. Encoded images (``serving_bytes``) add only
their outputs: decoding the images again would cost as much as the request did.

Requests never wait for it: :meth:`DriftTracker.observe` only appends a reference to
what the request already holds to its version's list, which keeps the newest
``window_size`` requests (older ones would leave the window before the next report
anyway) and all lists together at most :data:`QUEUE_BYTES` (past that a request is
dropped and counted, ``kerasforge_drift_requests_total{outcome="dropped"}``). Every
``interval_s`` seconds a background thread takes the lists, adds each version's newest
``window_size`` rows to its window in one batch, recomputes the report and sets the gauges
(:class:`DriftGauges`), so neither a metrics scrape nor ``GET /v1/models/NAME/drift``
computes anything, and the tracking costs one batch per version per interval, whatever the
request rate. Series of a
version that unloads are removed; label values come from the served models and the
features of their ``statistics.json``, never from a client.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..card import CardError, ModelCard, read_card
from ..errors import ServingError
from ..monitoring.drift import DEFAULT_THRESHOLDS, DriftReport, Thresholds
from ..monitoring.statistics import StatisticsError, TrainingStatistics, read_statistics
from ..monitoring.window import DEFAULT_SIZE, LiveWindow
from .drift_gauges import DriftGauges
from .loaded import LoadedModel
from .metrics import Metrics
from .observers import Exchange
from .store import ModelStore

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 5.0
"""Seconds between two reports (and gauge updates) of a version."""
QUEUE_BYTES = 64 * 1024 * 1024
"""Bounds of the requests waiting for the tracking thread (their arrays stay referenced)."""
METHODS = ("predict", "classify", "regress")
"""Calls whose rows are tracked (a MultiInference runs several signatures: not tracked)."""


@dataclass(frozen=True)
class DriftOptions:
    """How the server tracks drift (``--drift_window_size``, ``--drift_interval_seconds``).

    Attributes:
        window_size: rows kept per version (inputs and outputs each); 0 turns tracking off.
        interval_s: seconds between two reports and gauge updates.
        thresholds: where a feature's verdict turns ``warn`` and ``alert``.
    """

    window_size: int = DEFAULT_SIZE
    interval_s: float = DEFAULT_INTERVAL_S
    thresholds: Thresholds = DEFAULT_THRESHOLDS


@dataclass
class _Tracked:
    """One version's tracking: its window and latest report, or why it is not tracked."""

    model: LoadedModel
    card: ModelCard | None = None
    window: LiveWindow | None = None
    reason: str = ""
    report: DriftReport | None = None
    updated: float | None = None
    failed: bool = False  # a request that could not be added was logged once


class _Pending:
    """Per version, the newest requests waiting for the tracking thread; bounded in bytes."""

    def __init__(self, per_version: int) -> None:
        self.per_version = per_version
        self.lists: dict[tuple[str, int], deque[Exchange]] = {}
        self.bytes = 0  # of every request appended since the last take (an upper bound)
        self.lock = threading.Lock()

    def offer(self, exchange: Exchange) -> bool:
        size = _nbytes(exchange)
        key = (exchange.model, exchange.version)
        with self.lock:
            if self.bytes + size > QUEUE_BYTES:
                return False
            self.bytes += size
            found = self.lists.get(key)
            if found is None:
                found = self.lists[key] = deque(maxlen=self.per_version)
            found.append(exchange)
            return True

    def take(self) -> dict[tuple[str, int], deque[Exchange]]:
        with self.lock:
            taken, self.lists, self.bytes = self.lists, {}, 0
        return taken


class DriftTracker:
    """The drift observer of a server (module docstring).

    Args:
        store: the served models (a request's version is looked up there).
        metrics: the registry the gauges join, and the request counter.
        options: window size, report interval, thresholds.
    """

    def __init__(
        self, store: ModelStore, metrics: Metrics, options: DriftOptions | None = None
    ) -> None:
        self.store = store
        self.options = options or DriftOptions()
        self.gauges = DriftGauges(metrics.registry)
        self._tracked: dict[tuple[str, int], _Tracked] = {}
        self._lock = threading.Lock()
        self._pending = _Pending(self.options.window_size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drift", daemon=True)
        self._thread.start()

    def observe(self, exchange: Exchange) -> None:
        """Queue ``exchange`` for the tracking thread, or count it dropped (never blocks)."""
        if exchange.method not in METHODS or exchange.outputs is None:
            return
        tracked = self._tracked.get((exchange.model, exchange.version))
        if tracked is not None and tracked.window is None:
            return  # a version without statistics
        if not self._pending.offer(exchange):
            self.gauges.count(exchange.model, "dropped")

    def close(self) -> None:
        """Stop the tracking thread."""
        self._stop.set()
        self._thread.join(timeout=10)

    def report_body(self, model: LoadedModel) -> dict[str, Any]:
        """``GET /v1/models/NAME[/versions/N]/drift``: ``model``'s latest report as JSON.

        Raises:
            ServingError: the version has no training statistics (HTTP 404, saying why).
        """
        tracked = self._track(model)
        if tracked.window is None:
            raise ServingError(tracked.reason, status=404)
        report = tracked.report or tracked.window.report()
        return report_json(tracked, report, self.options)

    def _track(self, model: LoadedModel) -> _Tracked:
        """``model``'s tracking, set up on first use (its card and statistics read)."""
        key = (model.name, model.version)
        with self._lock:
            found = self._tracked.get(key)
            if found is not None and found.model is model:
                return found
            found = self._tracked[key] = _start(model, self.options)
        if found.window is None:
            log.info("drift: %s", found.reason)
        return found

    def _run(self) -> None:
        while not self._stop.wait(self.options.interval_s):
            try:
                self._add(self._pending.take())
                self.refresh()
            except Exception:  # a bug here must not end tracking for good
                log.exception("drift tracking failed; carrying on")

    def _add(self, taken: dict[tuple[str, int], deque[Exchange]]) -> None:
        """Add the newest ``window_size`` rows of each version's requests to its window."""
        for (name, version), exchanges in taken.items():
            model = self.store.versions(name).get(version)
            if model is None:
                continue  # unloaded since
            tracked = self._track(model)
            if tracked.window is None:
                continue
            kept = _newest(list(exchanges), self.options.window_size)
            added = self._add_batch(tracked, kept)
            if added:
                self.gauges.count(name, "tracked", added)

    def _add_batch(self, tracked: _Tracked, kept: list[Exchange]) -> int:
        """Add ``kept`` as one batch (one per request where their shapes differ)."""
        assert tracked.window is not None and tracked.card is not None
        try:
            pairs = [(tracked_inputs(tracked.card, tracked.window.training, e), e) for e in kept]
            inputs, outputs = _batch(pairs)
            tracked.window.add(inputs, outputs)
            return len(kept)
        except ValueError:  # shapes that do not stack, or one request the window refuses
            return sum(self._add_one(tracked, exchange) for exchange in kept)

    def _add_one(self, tracked: _Tracked, exchange: Exchange) -> int:
        assert tracked.window is not None and tracked.card is not None
        try:
            inputs = tracked_inputs(tracked.card, tracked.window.training, exchange)
            tracked.window.add(inputs, dict(exchange.outputs or {}))
            return 1
        except Exception as exc:  # inputs the statistics cannot read: say so once
            if not tracked.failed:
                log.warning("drift: %s version %d: a request was not tracked: %s",
                            exchange.model, exchange.version, exc)  # fmt: skip
            tracked.failed = True
            return 0

    def refresh(self) -> None:
        """Recompute every tracked version's report and set its gauges; forget the versions
        no longer loaded (their series removed)."""
        loaded = {(m.name, m.version): m for m in self.store.models()}
        with self._lock:
            gone = [k for k, t in self._tracked.items() if loaded.get(k) is not t.model]
            for key in gone:
                del self._tracked[key]
            current = list(self._tracked.items())
        for name, version in gone:
            self.gauges.remove(name, version)
        for (name, version), tracked in current:
            if tracked.window is None:
                continue
            tracked.report, tracked.updated = tracked.window.report(), time.time()
            self.gauges.set(name, version, tracked.report)


def _start(model: LoadedModel, options: DriftOptions) -> _Tracked:
    """A version's tracking: its window when it has statistics, else the reason it has none."""
    where = f"{model.name} version {model.version}"
    try:
        card = read_card(model.path)
    except CardError as exc:
        return _Tracked(model, reason=f"{where} is not tracked for drift: {exc}")
    if not card.statistics:
        return _Tracked(
            model,
            card,
            reason=f"{where} has no training statistics (its card names no statistics.json): "
            "drift is not tracked; republish it with a kerasforge that writes them "
            "(export.statistics: true)",
        )
    try:
        training = read_statistics(model.path / card.statistics)
    except StatisticsError as exc:
        return _Tracked(model, card, reason=f"{where} is not tracked for drift: {exc}")
    vocabulary = (card.preprocessing.get("tokenizer") or {}).get("vocabulary")
    window = LiveWindow(
        training, options.window_size, vocabulary=vocabulary, thresholds=options.thresholds
    )
    return _Tracked(model, card, window)


def tracked_inputs(card: ModelCard, training: TrainingStatistics, exchange: Exchange) -> Any:
    """The raw input batch ``exchange`` carries, as the training statistics read it; ``None``
    when its signature's inputs are not the raw ones (encoded images: outputs only)."""
    info = card.signatures.get(exchange.signature)
    if info is None:
        return None
    if info.example_features:
        request = getattr(exchange.request, "input", exchange.request)
        return _from_examples(request, info.example_features, card, training.input_kind)
    inputs = exchange.inputs or {}
    if info is card.raw_signature() and len(inputs) == 1:
        return next(iter(inputs.values()))
    names = [t.name for t in info.inputs]
    if len(names) > 1 and training.input_kind == "tabular" and set(names) <= set(inputs):
        return np.stack([np.asarray(inputs[n]).reshape(-1) for n in names], axis=-1)
    return None


def _from_examples(request: Any, features: list[Any], card: ModelCard, kind: str) -> Any:
    """The raw rows of a classify/regress request's tf.Examples (context merged)."""
    if request is None:
        return None
    which = request.WhichOneof("kind")
    if which == "example_list":
        context, examples = {}, request.example_list.examples
    elif which == "example_list_with_context":
        found = request.example_list_with_context
        context, examples = dict(found.context.features.feature), found.examples
    else:
        return None
    rows = []
    for example in examples:
        merged = {**context, **dict(example.features.feature)}
        row: list[Any] = []
        for feature in features:
            value = merged[feature.key]
            row.extend(
                value.bytes_list.value if feature.dtype == "bytes" else value.float_list.value
            )
        rows.append(row)
    if [f.dtype for f in features] == ["bytes"]:
        return np.array([r[0] for r in rows], dtype=object)
    x = np.asarray(rows, dtype="float32")
    if kind != "tabular":
        shape = card.raw_signature().inputs[0].shape[1:]
        x = x.reshape(len(x), *[int(d) for d in shape])  # type: ignore[arg-type]
    return x


def report_json(tracked: _Tracked, report: DriftReport, options: DriftOptions) -> dict[str, Any]:
    """The ``/drift`` answer: the model spec, the window, the thresholds and the report."""
    assert tracked.window is not None
    training = tracked.window.training
    return {
        "model_spec": {"name": tracked.model.name, "version": str(tracked.model.version)},
        "verdict": report.verdict,
        "alerts": report.alerts(),
        "task": report.task,
        "window": {"rows": report.live_rows, "size": options.window_size},
        "training": {"rows": training.rows, "output_rows": training.output_rows},
        "updated": tracked.updated,
        "interval_seconds": options.interval_s,
        "thresholds": dataclasses.asdict(options.thresholds),
        "inputs": {k: v.model_dump() for k, v in report.inputs.items()},
        "outputs": {k: v.model_dump() for k, v in report.outputs.items()},
    }


def _newest(exchanges: list[Exchange], rows: int) -> list[Exchange]:
    """The newest of ``exchanges`` that together hold at least ``rows`` rows, oldest first."""
    kept: list[Exchange] = []
    held = 0
    for exchange in reversed(exchanges):
        kept.append(exchange)
        held += _rows(exchange)
        if held >= rows:
            break
    return kept[::-1]


def _batch(pairs: list[tuple[Any, Exchange]]) -> tuple[Any, dict[str, np.ndarray]]:
    """The requests' inputs (of those that have raw ones) and outputs as one batch each.

    Raises:
        ValueError: their shapes do not stack.
    """
    found = [x for x, _ in pairs if x is not None]
    inputs = np.concatenate(found) if found else None
    names = set.intersection(*(set(e.outputs or {}) for _, e in pairs)) if pairs else set()
    outputs = {n: np.concatenate([np.asarray(e.outputs[n]) for _, e in pairs]) for n in names}  # type: ignore[index]
    return inputs, outputs


def _rows(exchange: Exchange) -> int:
    first = next(iter((exchange.outputs or {}).values()), None)
    return len(first) if first is not None and np.ndim(first) else 1


def _nbytes(exchange: Exchange) -> int:
    arrays = [*(exchange.inputs or {}).values(), *(exchange.outputs or {}).values()]
    size = sum(getattr(a, "nbytes", 0) for a in arrays)
    if exchange.inputs is None and exchange.request is not None:
        size += exchange.request.ByteSize()
    return size
