"""Request logging: sampled requests and answers as TF Serving ``PredictionLog`` records.

A model whose ``models.config`` entry has a ``logging_config``
(:class:`~.model_config.RequestLogConfig`) has each answered request sampled
with probability ``sampling_rate``, as TF Serving's ``RequestLogger`` samples
(``core/request_logger.cc``): uniformly at random, the ``LogMetadata`` holding
the model spec that answered (name, version, signature), the sampling config,
the MetaGraph tags and the time. A sample is one ``PredictionLog``
(``apis/prediction_log.proto``): ``predict_log``, ``classify_log``,
``regress_log`` or ``multi_inference_log`` with the request and the response.
gRPC requests are logged as received and answered; REST ones as the equivalent
messages (a predict's decoded tensors as a ``PredictRequest``, its outputs as a
``PredictResponse``), so tools written for TF Serving's logs read both.

Models sharing one logging config share one log (as TF Serving shares a
``RequestLogger`` per distinct config). Each log has a bounded queue and one
writer thread: a request only draws a random number and, when sampled, puts a
reference to what it already holds on the queue; building and writing the
records happens on the writer thread. A full queue drops the sample and counts
it (``kerasforge_request_log_records_total{outcome="dropped"}``); a write that
fails is logged once and counted as ``failed``. Requests never wait and never
fail for logging.

Files are TFRecord files named ``<prefix>-<UTC time>-<sequence>.tfrecord`` (the
names sort by time; a prefix ending in ``/`` is a folder), closed and the next
begun before one passes ``max_file_bytes`` or holds ``max_file_records``. Data
is flushed whenever the queue runs empty; :meth:`RequestLog.close` (shutdown,
after the last request is answered) writes what is queued and closes the files.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ServingError
from .metrics import Metrics
from .model_config import RequestLogConfig
from .observers import Exchange
from .store import ModelStore

log = logging.getLogger(__name__)

RECORD_FRAMING_BYTES = 16
"""TFRecord's bytes around each record: its length (8), and the CRCs of length and data (4+4)."""

_STOP = object()


class RequestLog:
    """The request-logging observer of a server: one log per distinct logging config.

    Args:
        store: the served models; each request's model's entry says whether and how to log.
        metrics: where written, dropped and failed samples are counted.

    Raises:
        ServingError: the folder of a configured prefix cannot be created (at start).
    """

    def __init__(self, store: ModelStore, metrics: Metrics | None = None) -> None:
        self._entry = store.entry
        self._metrics = metrics or Metrics()
        self._logs: dict[RequestLogConfig, _Log] = {}
        self._lock = threading.Lock()
        self._random = random.random
        self._closed = False
        for name in store.model_names():  # folders made now: a bad one fails the start
            config = store.entry(name).logging
            if config is not None:
                self._log(config)

    def observe(self, exchange: Exchange) -> None:
        """Sample ``exchange`` at its model's rate; queue it for the writer, or count a drop."""
        config = self._entry(exchange.model).logging
        if config is None or self._random() >= config.sampling_rate:
            return
        target = self._logs.get(config) or self._log(config)
        target.offer(exchange)

    def _log(self, config: RequestLogConfig) -> _Log:
        with self._lock:
            found = self._logs.get(config)
            if found is None:
                found = self._logs[config] = _Log(config, self._metrics, closed=self._closed)
            return found

    def close(self) -> None:
        """Write what is queued, close every file and stop the writer threads."""
        with self._lock:
            self._closed = True
            logs = list(self._logs.values())
        for each in logs:
            each.close()


class _Log:
    """One log: its bounded queue, its writer thread and the file being written."""

    def __init__(self, config: RequestLogConfig, metrics: Metrics, closed: bool = False) -> None:
        self.config = config
        self._metrics = metrics
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=config.queue_size)
        prefix = Path(config.prefix)
        folder = prefix if config.prefix.endswith("/") else prefix.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ServingError(
                f"cannot create the request log folder {folder}: {exc.strerror}; make it "
                "writable or change logging_config's filename_prefix",
                status=503,
            ) from None
        self._writer: Any = None
        self._bytes = self._records = self._sequence = 0
        self._failed = False
        self._closed = closed
        self.counts: Counter[str] = Counter()  # written, dropped, failed: logged at close
        self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
        self._thread.start()

    def offer(self, exchange: Exchange) -> None:
        """Queue ``exchange`` for the writer; a full queue (or a closed log) drops it."""
        if self._closed:
            self._count(exchange.model, "dropped")
            return
        try:
            self._queue.put_nowait(exchange)
        except queue.Full:
            self._count(exchange.model, "dropped")

    def close(self, timeout_s: float = 30.0) -> None:
        """Let the writer finish what is queued, then close its file."""
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout_s)
        counts = ", ".join(f"{self.counts[k]} {k}" for k in ("written", "dropped", "failed"))
        log.info("request log %s closed: %s", self.config.prefix, counts)

    def _count(self, model: str, outcome: str) -> None:
        self.counts[outcome] += 1
        self._metrics.request_log.labels(model, outcome).inc()
        self._metrics.tf_serving.record_request_log(model, outcome)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            self._write(item)
            if self._queue.empty() and self._writer is not None:
                self._writer.flush()
        self._close_file()

    def _write(self, exchange: Exchange) -> None:
        try:
            record = prediction_log(exchange, self.config.sampling_rate).SerializeToString()
            self._rotate(len(record) + RECORD_FRAMING_BYTES)
            self._writer.write(record)
        except Exception as exc:  # a full disk, a removed folder: the request is not affected
            if not self._failed:
                log.error("request log %s: cannot write a record: %s", self.config.prefix, exc)
            self._failed = True
            self._count(exchange.model, "failed")
            self._close_file()
            return
        self._bytes += len(record) + RECORD_FRAMING_BYTES
        self._records += 1
        self._count(exchange.model, "written")

    def _rotate(self, size: int) -> None:
        """Close the current file if ``size`` more bytes would pass a limit; open one if none."""
        limit_records = self.config.max_file_records
        full = self._bytes + size > self.config.max_file_bytes or (
            limit_records and self._records >= limit_records
        )
        if self._writer is not None and full:
            self._close_file()
        if self._writer is None:
            import tensorflow as tf

            self._writer = tf.io.TFRecordWriter(str(self._next_path()))

    def _next_path(self) -> Path:
        self._sequence += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        prefix = self.config.prefix
        joiner = "" if prefix.endswith("/") else "-"
        return Path(f"{prefix}{joiner}{stamp}-{self._sequence:06d}.tfrecord")

    def _close_file(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception as exc:
                log.error("request log %s: cannot close a file: %s", self.config.prefix, exc)
        self._writer = None
        self._bytes = self._records = 0


def prediction_log(exchange: Exchange, sampling_rate: float) -> Any:
    """``exchange`` as TF Serving's ``PredictionLog`` (``LogMetadata`` as ``RequestLogger::Log``
    fills it: the model spec that answered, the sampling config, the tags, the time)."""
    from tensorflow_serving.apis import prediction_log_pb2

    entry = prediction_log_pb2.PredictionLog()
    meta = entry.log_metadata
    meta.model_spec.name = exchange.model
    meta.model_spec.version.value = exchange.version
    meta.model_spec.signature_name = exchange.signature
    meta.sampling_config.sampling_rate = sampling_rate
    meta.saved_model_tags.extend(exchange.tags)
    meta.timestamp_secs = int(exchange.time)
    kind = {"multi_inference": "multi_inference_log"}.get(exchange.method, f"{exchange.method}_log")
    body = getattr(entry, kind)
    if exchange.response is not None:  # gRPC: the messages as received and sent
        body.request.CopyFrom(exchange.request)
        body.response.CopyFrom(exchange.response)
    elif exchange.method == "predict":
        _rest_predict(body, meta.model_spec, exchange)
    else:
        _rest_examples(body, meta.model_spec, exchange)
    return entry


def _rest_predict(body: Any, spec: Any, exchange: Exchange) -> None:
    """A REST predict as the ``PredictRequest`` and ``PredictResponse`` gRPC would carry."""
    from .tensor_proto import fill_tensor_proto

    body.request.model_spec.CopyFrom(spec)
    for name, array in (exchange.inputs or {}).items():
        fill_tensor_proto(body.request.inputs[name], array, tensor_content=True)
    body.response.model_spec.CopyFrom(spec)
    for name, array in (exchange.outputs or {}).items():
        fill_tensor_proto(body.response.outputs[name], array, tensor_content=True)


def _rest_examples(body: Any, spec: Any, exchange: Exchange) -> None:
    """A REST classify or regress as its ``ClassificationRequest``/``RegressionRequest`` and
    answer."""
    from . import examples

    body.request.model_spec.CopyFrom(spec)
    body.request.input.CopyFrom(exchange.request)
    body.response.model_spec.CopyFrom(spec)
    result = (
        examples.classification_result
        if exchange.method == "classify"
        else examples.regression_result
    )
    body.response.result.CopyFrom(result(dict(exchange.outputs or {})))
