"""Prometheus metrics of the embedded server (TF Serving's ``--monitoring_config_file``).

TF Serving's ``MonitoringConfig`` text proto turns them on and names the path
(``prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }``);
the REST port then serves the text exposition format there. Every model call,
REST or gRPC, goes through :meth:`Metrics.track`, which counts it by model,
version, signature, API and protocol with its outcome (``OK`` or the gRPC code
name TF Serving would answer, the same vocabulary for both protocols), and
observes its latency and batch size; ``queue_depth`` is the number of requests
admitted and not yet answered. TF Serving's own families
(``:tensorflow:serving:request_count``, ...) are filled from the same calls and
served after ours (:mod:`.tf_serving_metrics`).

Example:
    >>> metrics = Metrics()
    >>> with metrics.track("rest", "predict", "digits_cnn") as call:
    ...     call.version, call.signature, call.batch_size = 1, "serving_default", 4
    >>> b"kerasforge_requests_total" in metrics.exposition()
    True
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ..errors import ServingError
from .tf_serving_metrics import TfServingMetrics

DEFAULT_PATH = "/monitoring/prometheus/metrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# ServingError's HTTP status -> the gRPC code name TF Serving answers with.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    412: "FAILED_PRECONDITION",
    413: "RESOURCE_EXHAUSTED",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
}
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass
class Call:
    """One model call being tracked; the handler fills in what it learns on the way.

    ``model`` and ``signature`` name what the server resolved, never what a client
    asked for: a call that fails before resolving them keeps them empty, so no
    request can add label series beyond the models and signatures served.
    """

    protocol: str
    api: str
    model: str
    version: int | None = None
    signature: str = ""
    batch_size: int | None = None
    multi_inference: bool = False  # one task of a gRPC MultiInference
    runtime_seconds: float | None = None  # the signature call's wall time, once it succeeded


def status_name(exc: BaseException | None) -> str:
    """The outcome label of a call: ``OK``, a gRPC code name, or ``INTERNAL``."""
    if exc is None:
        return "OK"
    if isinstance(exc, ServingError):
        return STATUS_NAMES.get(exc.status, "INTERNAL")
    if isinstance(exc, ValueError | TypeError) or type(exc).__name__ == "InvalidArgumentError":
        return "INVALID_ARGUMENT"  # what the gRPC API answers for them
    return "INTERNAL"


class Metrics:
    """The server's metrics in a registry of their own (several servers per process in tests)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        model = ["model", "version", "signature"]
        self.requests = Counter(
            "kerasforge_requests",
            "Model calls by model, version, signature, API, protocol and outcome.",
            [*model, "api", "protocol", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "kerasforge_request_latency_seconds",
            "Seconds from admitting a model call to its answer.",
            model,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "kerasforge_batch_size",
            "Rows (axis 0) per signature call.",
            model,
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "kerasforge_queue_depth",
            "Model calls admitted and not yet answered.",
            registry=self.registry,
        )
        # One entry per call under way (append and pop are atomic across threads, and
        # cheaper than the gauge's lock per call); the gauge reads its length when scraped.
        self._admitted: deque[None] = deque()
        self.queue_depth.set_function(self._admitted.__len__)
        self.request_log = Counter(
            "kerasforge_request_log_records",
            "Requests sampled for request logging by model and outcome: written, dropped (the "
            "writer's queue was full) or failed (the file could not be written).",
            ["model", "outcome"],
            registry=self.registry,
        )
        self.tf_serving = TfServingMetrics()
        self._children: dict[tuple, tuple[Any, Any, Any]] = {}

    def track(self, protocol: str, api: str, model: str) -> _Tracking:
        """Count, time and size one model call (a context manager giving its :class:`Call`);
        exceptions pass through, labelled by status."""
        return _Tracking(self, Call(protocol, api, model))

    def _record(self, call: Call, status: str, seconds: float) -> None:
        self.tf_serving.record(call, status, seconds)
        key = (call.model, call.version, call.signature, call.api, call.protocol, status)
        children = self._children.get(key)
        if children is None:  # prometheus_client's labels() checks and locks on every call
            children = self._children[key] = self._labelled(call, status)
        requests, latency, batch_size = children
        requests.inc()
        if latency is not None:
            latency.observe(seconds)
            if call.batch_size is not None:
                batch_size.observe(call.batch_size)

    def _labelled(self, call: Call, status: str) -> tuple[Any, Any, Any]:
        """The series one outcome of one call updates (histograms only for ``OK``)."""
        version = "" if call.version is None else str(call.version)
        labels = (call.model, version, call.signature)
        requests = self.requests.labels(*labels, call.api, call.protocol, status)
        if status != "OK":
            return requests, None, None
        return requests, self.latency.labels(*labels), self.batch_size.labels(*labels)

    def exposition(self) -> bytes:
        """The Prometheus text exposition of every metric: ours, then TF Serving's."""
        return generate_latest(self.registry) + self.tf_serving.exposition().encode()


class _Tracking:
    """:meth:`Metrics.track`'s context: the call is under way between enter and exit."""

    __slots__ = ("_call", "_metrics", "_start")

    def __init__(self, metrics: Metrics, call: Call) -> None:
        self._metrics, self._call, self._start = metrics, call, 0.0

    def __enter__(self) -> Call:
        self._metrics._admitted.append(None)
        self._start = time.perf_counter()
        return self._call

    def __exit__(self, kind: type | None, failure: BaseException | None, _tb: Any) -> None:
        seconds = time.perf_counter() - self._start
        self._metrics._admitted.pop()
        self._metrics._record(self._call, status_name(failure), seconds)


def read_monitoring_config(path: Path) -> str | None:
    """The metrics path a TF Serving ``MonitoringConfig`` text proto enables, else ``None``.

    Raises:
        ServingError: the file is missing or is not a ``MonitoringConfig`` text proto.
    """
    from .tf_serving_protos import read_text_proto

    example = f'prometheus_config {{ enable: true, path: "{DEFAULT_PATH}" }}'
    config = read_text_proto(path, "MonitoringConfig", "--monitoring_config_file", example)
    prometheus = config.prometheus_config
    if not prometheus.enable:
        return None
    path_text = prometheus.path or DEFAULT_PATH
    if not path_text.startswith("/") or path_text.startswith("/v1/"):
        raise ServingError(
            f"--monitoring_config_file: prometheus_config.path must start with '/' and not "
            f"with '/v1/'; received {path_text!r}"
        )
    return path_text
