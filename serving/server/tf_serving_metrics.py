"""TF Serving's own Prometheus families, served beside ``kerasforge_*`` at the metrics path.

Dashboards and alerts written for ``tensorflow_model_server`` query
``:tensorflow:serving:request_count`` and friends; this module keeps those
families with TF Serving's names, types, label names, units and buckets, and
writes them the way TF Serving's exporter does:

- the name is the TensorFlow metric name with every character outside
  ``[a-zA-Z0-9_]`` turned into ``:`` (``/tensorflow/serving/request_count`` ->
  ``:tensorflow:serving:request_count``; util/prometheus_exporter.cc,
  ``GetPrometheusMetricName``), families sorted by TensorFlow name;
- a ``# TYPE`` line per family and no ``# HELP``; counters carry no ``_total``
  suffix (a label-less one is written ``name{} 3``); histograms list every bucket
  (``le`` written with six significant digits, the last one ``+Inf``), then
  ``_sum`` and ``_count``;
- latencies are in microseconds, a value falling in the bucket whose lower
  limit it reaches (TensorFlow's ``Histogram::Add`` uses ``upper_bound``).

What fills them (the TF Serving function that records each, in brackets):

- ``request_count{model_name, status}``: every Predict/Classify/Regress, REST or
  gRPC, by gRPC code name (model_servers/http_server.cc ``ProcessRequest``,
  prediction_service_impl.cc);
- ``request_latency{model_name, API, entrypoint}``: the successful ones; ``API``
  is the REST verb as written in the URL (``predict``) or the gRPC method name
  (``Predict``), ``entrypoint`` is ``REST`` or ``GRPC``;
- ``runtime_latency{model_name, API, runtime}``: the signature call's wall time,
  ``API`` ``Predict``/``Classify``/``Regress`` for both protocols, ``runtime``
  ``TF1`` (predict_util.cc ``RunPredict``, classifier.cc / regressor.cc, the
  non-TFRT paths); with batching, the wait in the batch queue is part of it, as
  the ``BatchingSession::Run`` it times includes it;
- ``request_example_counts{model}`` and ``request_example_count_total{model}``:
  examples per gRPC MultiInference (multi_inference.cc ``Infer``; Classify and
  Regress record neither);
- ``request_log_count{model_name, status_code}``: each sampled request by the
  outcome of writing it: ``OK`` written, ``RESOURCE_EXHAUSTED`` dropped (queue
  full), ``INTERNAL`` failed (core/request_logger.cc ``Log``);
- ``batching_session/queuing_latency{thread_pool_name}`` (the model server
  passes ``""``), ``batching_session/wrapped_run_count``, and, once a batch
  ran, ``batching_session/{input,processed}_batch_size`` and
  ``padding_size{execution_batch_size}`` (batching_session.cc, batching_util.h);
- ``model_warmup_latency{model_path, status}`` and ``model_warmup_records_read``
  (saved_model_warmup_util.cc), ``/tensorflow/cc/saved_model/load_attempt_count
  {model_path, status}`` and ``load_latency{model_path}`` (TensorFlow's
  cc/saved_model/loader.cc ``LoadSavedModel``, recorded here with the same
  meaning because ``tf.saved_model.load`` in Python does not go through it).

gRPC MultiInference tasks are counted in neither request family nor in
``runtime_latency`` (TF Serving records none of them for MultiInference); the
gRPC handler marks them on the :class:`Call`.

Loads and warm-ups happen in the model store, before and apart from any
server's metrics; like TF Serving's, their families are process-global
(:data:`LOADS`). Their series are labelled by the version's directory, so
servers sharing a process (tests) keep apart as long as they serve different
directories, and a version loaded before the metrics existed is still counted.
"""

from __future__ import annotations

import bisect
import re
import sys
import threading
from dataclasses import dataclass
from typing import Any, Protocol

ENTRYPOINTS = {"rest": "REST", "grpc": "GRPC"}
GRPC_APIS = {"predict": "Predict", "classify": "Classify", "regress": "Regress"}
RUNTIME = "TF1"  # the runtime label of TF Serving's non-TFRT (session) paths
BATCH_THREAD_POOL = ""  # the thread_pool_name the model server's batching sessions get
LOG_STATUS = {"written": "OK", "dropped": "RESOURCE_EXHAUSTED", "failed": "INTERNAL"}


def exponential_buckets(scale: float, growth: float, count: int) -> tuple[float, ...]:
    """TensorFlow's ``Buckets::Exponential``: ``count`` limits from ``scale``, then ``DBL_MAX``."""
    limits = [scale * growth**i for i in range(count)]
    return (*limits, sys.float_info.max)


LATENCY_BUCKETS = exponential_buckets(10, 1.8, 33)
EXAMPLE_BUCKETS = exponential_buckets(1, 2, 15)
BATCH_BUCKETS = exponential_buckets(1, 2, 14)
QUEUING_BUCKETS = exponential_buckets(100, 1.2, 52)


@dataclass(frozen=True)
class Family:
    """One TensorFlow metric: its name, kind, label names and (histograms) bucket limits.

    ``lazy`` families exist only once recorded (batching_util.h creates them on first use).
    """

    name: str
    kind: str  # "counter" or "histogram"
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    lazy: bool = False

    @property
    def prometheus_name(self) -> str:
        """``GetPrometheusMetricName``: every character outside ``[a-zA-Z0-9_]`` -> ``:``."""
        return re.sub(r"[^a-zA-Z0-9_]", ":", self.name)


def _serving(name: str, *args: object, **kwargs: object) -> Family:
    return Family(f"/tensorflow/serving/{name}", *args, **kwargs)  # type: ignore[arg-type]


REQUEST_COUNT = _serving("request_count", "counter", ("model_name", "status"))
REQUEST_LATENCY = _serving(
    "request_latency", "histogram", ("model_name", "API", "entrypoint"), LATENCY_BUCKETS
)
RUNTIME_LATENCY = _serving(
    "runtime_latency", "histogram", ("model_name", "API", "runtime"), LATENCY_BUCKETS
)
EXAMPLE_COUNTS = _serving("request_example_counts", "histogram", ("model",), EXAMPLE_BUCKETS)
EXAMPLE_COUNT_TOTAL = _serving("request_example_count_total", "counter", ("model",))
REQUEST_LOG_COUNT = _serving("request_log_count", "counter", ("model_name", "status_code"))
QUEUING_LATENCY = _serving(
    "batching_session/queuing_latency", "histogram", ("thread_pool_name",), QUEUING_BUCKETS
)
WRAPPED_RUN_COUNT = _serving("batching_session/wrapped_run_count", "counter")
INPUT_BATCH_SIZE = _serving(
    "batching_session/input_batch_size", "histogram", (), BATCH_BUCKETS, lazy=True
)
PROCESSED_BATCH_SIZE = _serving(
    "batching_session/processed_batch_size", "histogram", (), BATCH_BUCKETS, lazy=True
)
PADDING_SIZE = _serving(
    "batching_session/padding_size", "histogram", ("execution_batch_size",), BATCH_BUCKETS, True
)
WARMUP_LATENCY = _serving(
    "model_warmup_latency", "histogram", ("model_path", "status"), LATENCY_BUCKETS
)
WARMUP_RECORDS_READ = _serving("model_warmup_records_read", "counter", ("model_path", "status"))
LOAD_ATTEMPT_COUNT = Family(
    "/tensorflow/cc/saved_model/load_attempt_count", "counter", ("model_path", "status")
)
LOAD_LATENCY = Family("/tensorflow/cc/saved_model/load_latency", "counter", ("model_path",))

SERVER_FAMILIES = (
    REQUEST_COUNT,
    REQUEST_LATENCY,
    RUNTIME_LATENCY,
    EXAMPLE_COUNTS,
    EXAMPLE_COUNT_TOTAL,
    REQUEST_LOG_COUNT,
    QUEUING_LATENCY,
    WRAPPED_RUN_COUNT,
    INPUT_BATCH_SIZE,
    PROCESSED_BATCH_SIZE,
    PADDING_SIZE,
)
LOAD_FAMILIES = (WARMUP_LATENCY, WARMUP_RECORDS_READ, LOAD_ATTEMPT_COUNT, LOAD_LATENCY)


class TrackedCall(Protocol):
    """What a recorded call tells these families (``metrics.Call`` has all of it)."""

    protocol: str
    api: str
    model: str
    multi_inference: bool
    runtime_seconds: float | None


class _Histogram:
    """One labelled TensorFlow histogram: counts per bucket and the sum."""

    def __init__(self, limits: tuple[float, ...]) -> None:
        self.limits = limits
        self.counts = [0] * len(limits)
        self.sum = 0.0

    def add(self, value: float) -> None:
        index = min(bisect.bisect_right(self.limits, value), len(self.limits) - 1)
        self.counts[index] += 1
        self.sum += value


class Recorder:
    """Cells of some families: counters (integers) and histograms, by label values."""

    def __init__(self, families: tuple[Family, ...]) -> None:
        self.families = families
        self._lock = threading.Lock()
        self._cells: dict[Family, dict[tuple[str, ...], int | _Histogram]] = {
            f: {} for f in families
        }

    def add(self, family: Family, labels: tuple[str, ...], value: float) -> None:
        """Increment a counter by ``value``, or add ``value`` to a histogram."""
        with self._lock:
            cells = self._cells[family]
            if family.kind == "counter":
                cells[labels] = cells.get(labels, 0) + int(value)
                return
            histogram = cells.get(labels)
            if histogram is None:
                histogram = cells[labels] = _Histogram(family.buckets)
            histogram.add(value)  # type: ignore[union-attr]

    def lines(self, family: Family) -> list[str]:
        """The family as TF Serving's exporter writes it (nothing for an unused lazy one)."""
        with self._lock:
            cells = sorted(self._cells[family].items())
            if family.lazy and not cells:
                return []
            name = family.prometheus_name
            lines = [f"# TYPE {name} {family.kind}"]
            for values, cell in cells:
                labels = dict(zip(family.labels, values, strict=True))
                if isinstance(cell, _Histogram):
                    lines += _histogram_lines(name, labels, cell)
                else:
                    lines.append(f"{name}{_labels(**labels)} {cell}")
        return lines


LOADS = Recorder(LOAD_FAMILIES)
"""Loads and warm-ups of every version this process loaded (process-global, as in TF)."""


def record_load(model_path: str, ok: bool, seconds: float) -> None:
    """One ``LoadSavedModel`` attempt: counted as ``success``/``fail``, timed when it succeeded."""
    LOADS.add(LOAD_ATTEMPT_COUNT, (model_path, "success" if ok else "fail"), 1)
    if ok:
        LOADS.add(LOAD_LATENCY, (model_path,), _micros(seconds))


def record_warmup(model_path: str, status: str, records: int, seconds: float) -> None:
    """One warm-up that read its records to the end (``status`` ``OK``) or failed reading."""
    LOADS.add(WARMUP_LATENCY, (model_path, status), _micros(seconds))
    LOADS.add(WARMUP_RECORDS_READ, (model_path, status), records)


class TfServingMetrics(Recorder):
    """One server's TF Serving families, filled by the handlers, written by :meth:`exposition`
    with the process's loads and warm-ups (:data:`LOADS`)."""

    def __init__(self) -> None:
        super().__init__(SERVER_FAMILIES)

    def record(self, call: TrackedCall, status: str, seconds: float) -> None:
        """Count one answered call with its outcome (a gRPC code name) and wall time."""
        if call.multi_inference or call.protocol not in ENTRYPOINTS:
            return
        entrypoint = ENTRYPOINTS[call.protocol]
        api = call.api if entrypoint == "REST" else GRPC_APIS.get(call.api, call.api)
        self.add(REQUEST_COUNT, (call.model, status), 1)
        if status == "OK":  # TF Serving times successful requests only
            self.add(REQUEST_LATENCY, (call.model, api, entrypoint), _micros(seconds))
        if call.runtime_seconds is not None:  # the signature ran, whatever followed
            self.record_runtime(call.model, call.api, call.runtime_seconds)

    def record_runtime(self, model: str, api: str, seconds: float) -> None:
        """One successful signature call of ``api`` (``predict``, ``classify``, ``regress``)."""
        labels = (model, GRPC_APIS.get(api, api), RUNTIME)
        self.add(RUNTIME_LATENCY, labels, _micros(seconds))

    def record_examples(self, model: str, count: int) -> None:
        """The examples of one MultiInference."""
        self.add(EXAMPLE_COUNTS, (model,), count)
        self.add(EXAMPLE_COUNT_TOTAL, (model,), count)

    def record_request_log(self, model: str, outcome: str) -> None:
        """One sampled request: ``written``, ``dropped`` or ``failed``."""
        self.add(REQUEST_LOG_COUNT, (model, LOG_STATUS[outcome]), 1)

    def record_batch_input(self, rows: list[int]) -> None:
        """One request entering batching: the rows of each of its inputs (``ComputeInputSize``)."""
        for count in rows:
            self.add(INPUT_BATCH_SIZE, (), count)

    def record_wrapped_run(self) -> None:
        """One signature call made by the batcher (``wrapped_run_count``)."""
        self.add(WRAPPED_RUN_COUNT, (), 1)

    def record_queuing(self, waited: list[float]) -> None:
        """The seconds each request of a batch waited in its queue (``ProcessBatch``)."""
        for seconds in waited:
            self.add(QUEUING_LATENCY, (BATCH_THREAD_POOL,), _micros(seconds))

    def record_padding(self, rows: int, padded: int) -> None:
        """One merged batch's rows before and after padding (``MergeInputTensors``)."""
        self.add(PADDING_SIZE, (str(padded),), padded - rows)
        self.add(PROCESSED_BATCH_SIZE, (), padded)

    def exposition(self) -> str:
        """The families in TF Serving's text format, sorted by TensorFlow metric name."""
        sources = [(f, self) for f in self.families] + [(f, LOADS) for f in LOADS.families]
        lines: list[str] = []
        for family, recorder in sorted(sources, key=lambda pair: pair[0].name):
            lines += recorder.lines(family)
        return "\n".join(lines) + "\n"


def input_examples(request_input: Any) -> int:
    """The examples of a ``tensorflow.serving.Input`` (util.cc ``NumInputExamples``)."""
    kind = request_input.WhichOneof("kind")
    return len(getattr(request_input, kind).examples) if kind else 0


def _micros(seconds: float) -> int:
    return max(int(seconds * 1e6), 0)


def _histogram_lines(name: str, labels: dict[str, str], histogram: _Histogram) -> list[str]:
    lines, total = [], 0
    last = len(histogram.limits) - 1
    for index, (limit, count) in enumerate(zip(histogram.limits, histogram.counts, strict=True)):
        total += count
        le = "+Inf" if index == last else _number(limit)
        lines.append(f"{name}_bucket{_labels(**labels, le=le)} {total}")
    lines.append(f"{name}_sum{_labels(**labels)} {_number(histogram.sum)}")
    lines.append(f"{name}_count{_labels(**labels)} {total}")
    return lines


def _number(value: float) -> str:
    """A double as TF Serving writes it (absl's ``StrCat``: six significant digits)."""
    return f"{value:.6g}"


def _labels(**labels: str) -> str:
    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}"
