"""TF Serving's own Prometheus families, served beside ``kerasforge_*`` at the metrics path.

Dashboards and alerts written for ``tensorflow_model_server`` query
``:tensorflow:serving:request_count`` and friends; this module keeps those
families with TF Serving's names, types, label names, units and buckets, and
writes them the way TF Serving's exporter does:

- the name is the TensorFlow metric name with every character outside
  ``[a-zA-Z0-9_]`` turned into ``:`` (``/tensorflow/serving/request_count`` ->
  ``:tensorflow:serving:request_count``; util/prometheus_exporter.cc,
  ``GetPrometheusMetricName``);
- a ``# TYPE`` line per family and no ``# HELP``; counters carry no ``_total``
  suffix; histograms list every bucket (``le`` written with six significant
  digits, the last one ``+Inf``), then ``_sum`` and ``_count``;
- latencies are in microseconds, in TF Serving's ``Buckets::Exponential(10, 1.8,
  33)`` (servables/tensorflow/util.cc), a value falling in the bucket whose lower
  limit it reaches (TensorFlow's ``Histogram::Add`` uses ``upper_bound``).

What fills them (servables/tensorflow/util.cc and its callers):

- ``request_count{model_name, status}``: every Predict/Classify/Regress, REST or
  gRPC, by gRPC code name (model_servers/http_server.cc ``ProcessRequest``,
  prediction_service_impl.cc);
- ``request_latency{model_name, API, entrypoint}``: the successful ones; ``API``
  is the REST verb as written in the URL (``predict``) or the gRPC method name
  (``Predict``), ``entrypoint`` is ``REST`` or ``GRPC``.

gRPC MultiInference tasks are counted in neither (TF Serving records neither for
MultiInference); they are marked on the :class:`Call` by the gRPC handler.
"""

from __future__ import annotations

import bisect
import sys
import threading
from typing import Protocol

PREFIX = ":tensorflow:serving:"
REQUEST_COUNT = PREFIX + "request_count"
REQUEST_LATENCY = PREFIX + "request_latency"
ENTRYPOINTS = {"rest": "REST", "grpc": "GRPC"}
GRPC_APIS = {"predict": "Predict", "classify": "Classify", "regress": "Regress"}


def exponential_buckets(scale: float, growth: float, count: int) -> tuple[float, ...]:
    """TensorFlow's ``Buckets::Exponential``: ``count`` limits from ``scale``, then ``DBL_MAX``."""
    limits = [scale * growth**i for i in range(count)]
    return (*limits, sys.float_info.max)


LATENCY_BUCKETS = exponential_buckets(10, 1.8, 33)


class TrackedCall(Protocol):
    """What a recorded call tells these families (``metrics.Call`` has all of it)."""

    protocol: str
    api: str
    model: str
    multi_inference: bool


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


class TfServingMetrics:
    """TF Serving's request families, filled by :meth:`record`, written by :meth:`exposition`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self._latency: dict[tuple[str, str, str], _Histogram] = {}

    def record(self, call: TrackedCall, status: str, seconds: float) -> None:
        """Count one answered call with its outcome (a gRPC code name) and wall time."""
        if call.multi_inference or call.protocol not in ENTRYPOINTS:
            return
        entrypoint = ENTRYPOINTS[call.protocol]
        api = call.api if entrypoint == "REST" else GRPC_APIS.get(call.api, call.api)
        with self._lock:
            key = (call.model, status)
            self._counts[key] = self._counts.get(key, 0) + 1
            if status == "OK":  # TF Serving times successful requests only
                labels = (call.model, api, entrypoint)
                histogram = self._latency.get(labels)
                if histogram is None:
                    histogram = self._latency[labels] = _Histogram(LATENCY_BUCKETS)
                histogram.add(int(seconds * 1e6))

    def exposition(self) -> str:
        """The families in TF Serving's text format, sorted by TensorFlow metric name."""
        with self._lock:
            lines = [f"# TYPE {REQUEST_COUNT} counter"]
            lines += [
                f"{REQUEST_COUNT}{_labels(model_name=m, status=s)} {n}"
                for (m, s), n in sorted(self._counts.items())
            ]
            lines.append(f"# TYPE {REQUEST_LATENCY} histogram")
            for (model, api, entrypoint), histogram in sorted(self._latency.items()):
                labels = {"model_name": model, "API": api, "entrypoint": entrypoint}
                lines += _histogram_lines(REQUEST_LATENCY, labels, histogram)
        return "\n".join(lines) + "\n"


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
