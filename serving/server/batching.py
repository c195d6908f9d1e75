"""Dynamic batching (TF Serving's ``--enable_batching`` and ``--batching_parameters_file``).

Concurrent predict, classify and regress requests for the same model, version and
signature wait in
one queue; each of ``num_batch_threads`` threads takes the oldest queue's
requests, up to ``max_batch_size`` rows, once the queue holds that many rows,
``batch_timeout_micros`` passed since its oldest request arrived, or (timeout
0) at once. The batch's inputs are concatenated along axis 0 (padded to the
next of ``allowed_batch_sizes`` by repeating its first row, as TF Serving
pads), run as one signature call and split back by rows. A request larger
than ``max_batch_size`` runs alone; requests whose inputs cannot be
concatenated (other trailing shapes) or whose outputs do not keep the batch
axis run one by one, and so do a failed batch's requests (only the one whose
values failed gets the error). A queue already holding ``max_enqueued_batches`` full
batches refuses more with HTTP 429 / gRPC RESOURCE_EXHAUSTED.

Example:
    >>> batcher = Batcher(BatchingOptions(max_batch_size=32), Metrics())
    >>> outputs = batcher.run(("digits_cnn", "1", "serving_default"), signature, arrays)
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ServingError
from . import predict
from .metrics import Call, Metrics

Key = tuple[str, str, str]  # model, version, signature


@dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's ``BatchingParameters`` (its defaults where a field is unset)."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 100
    num_batch_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    allowed_batch_sizes: tuple[int, ...] = ()


@dataclass
class _Task:
    signature: Any
    arrays: dict[str, np.ndarray]
    rows: int
    arrived: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    outputs: dict[str, np.ndarray] | None = None
    error: BaseException | None = None
    on_done: Callable[[], None] | None = None  # besides ``done``: wakes an awaiting handler

    def result(self) -> dict[str, np.ndarray]:
        """The outputs, once ``done``; the error the batch raised for this request."""
        if self.error is not None:
            raise self.error
        assert self.outputs is not None
        return self.outputs


class Batcher:
    """Queues per (model, version, signature) and the threads that run their batches."""

    def __init__(self, options: BatchingOptions, metrics: Metrics) -> None:
        self.options = options
        self.metrics = metrics
        self._queues: dict[Key, deque[_Task]] = {}
        self._rows: dict[Key, int] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"batch-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def run(self, key: Key, signature: Any, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        """``predict.run(signature, arrays)``, batched with concurrent calls for ``key``.

        Raises:
            ServingError: the queue for ``key`` is full (HTTP 429).
        """
        rows = self._admit(arrays)
        if rows is None or rows > self.options.max_batch_size:
            return self._call(key, signature, arrays, rows)
        task = self._enqueue(key, _Task(signature, arrays, rows))
        task.done.wait()
        return task.result()

    async def run_async(
        self, key: Key, signature: Any, arrays: dict[str, np.ndarray]
    ) -> dict[str, Any] | None:
        """:meth:`run` for a handler on an event loop: it awaits the batch instead of
        holding a thread. ``None`` where the request cannot join a batch (no batch
        axis, or more than ``max_batch_size`` rows): run it with :meth:`run`, off the loop.

        Raises:
            ServingError: the queue for ``key`` is full (HTTP 429).
        """
        rows = self._admit(arrays)
        if rows is None or rows > self.options.max_batch_size:
            return None
        start = time.perf_counter()
        loop = asyncio.get_running_loop()
        finished = loop.create_future()

        def wake() -> None:  # on the batch thread
            loop.call_soon_threadsafe(_resolve, finished)

        task = self._enqueue(key, _Task(signature, arrays, rows, on_done=wake))
        await finished
        outputs = task.result()
        # REST predict's path (its handler has no Call here): TF Serving times the batching
        # session's Run, queue included
        self.metrics.tf_serving.record_runtime(key[0], "predict", time.perf_counter() - start)
        return outputs

    def _admit(self, arrays: dict[str, np.ndarray]) -> int | None:
        """The request's rows; TF Serving's input batch size of each of its inputs."""
        rows = predict.batch_size(arrays)
        if rows is not None:
            self.metrics.tf_serving.record_batch_input([len(a) for a in arrays.values()])
        return rows

    def _enqueue(self, key: Key, task: _Task) -> _Task:
        limit = self.options.max_enqueued_batches * self.options.max_batch_size
        with self._cond:
            if self._rows.get(key, 0) + task.rows > limit:
                raise ServingError(
                    f"batching queue of {key[0]} version {key[1]} is full ({limit} rows "
                    "waiting); retry with backoff",
                    status=429,
                )
            self._queues.setdefault(key, deque()).append(task)
            self._rows[key] = self._rows.get(key, 0) + task.rows
            self._cond.notify()
        return task

    def close(self) -> None:
        """Stop the batch threads once the queued batches have run."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)

    def _call(self, key: Key, signature: Any, arrays: dict, rows: int | None) -> dict:
        if rows is not None:
            self.metrics.batch_size.labels(*key).observe(rows)
        try:
            return predict.run(signature, arrays)
        finally:
            self.metrics.tf_serving.record_wrapped_run()

    def _work(self) -> None:
        while True:
            with self._cond:
                taken = self._take()
                while taken is None:
                    if self._closed and not any(self._queues.values()):
                        return
                    self._cond.wait(self._wait_seconds())
                    taken = self._take()
            self._run_batch(*taken)

    def _wait_seconds(self) -> float | None:
        """How long until the oldest waiting request's timeout (``None``: none waits)."""
        heads = [q[0].arrived for q in self._queues.values() if q]
        if not heads:
            return None
        due = min(heads) + self.options.batch_timeout_micros / 1e6
        return max(due - time.monotonic(), 0.0005)

    def _take(self) -> tuple[Key, list[_Task]] | None:
        """The next batch to run (called holding the lock), or ``None`` if none is due."""
        now, timeout = time.monotonic(), self.options.batch_timeout_micros / 1e6
        due = [
            (queue[0].arrived, key)
            for key, queue in self._queues.items()
            if queue
            and (
                self._rows[key] >= self.options.max_batch_size
                or now - queue[0].arrived >= timeout
                or self._closed
            )
        ]
        if not due:
            return None
        _, key = min(due)
        queue, tasks, rows = self._queues[key], [], 0
        while queue and rows + queue[0].rows <= self.options.max_batch_size:
            task = queue.popleft()
            tasks.append(task)
            rows += task.rows
        self._rows[key] -= rows
        return key, tasks

    def _run_batch(self, key: Key, tasks: list[_Task]) -> None:
        now = time.monotonic()
        self.metrics.tf_serving.record_queuing([now - t.arrived for t in tasks])
        try:
            merged = _concatenate([t.arrays for t in tasks])
            if merged is not None:
                rows = sum(t.rows for t in tasks)
                padded = self._pad(merged, rows)
                self.metrics.tf_serving.record_padding(rows, _rows(padded))
                outputs = self._call_merged(key, tasks, padded)
                if outputs is not None and all(
                    np.ndim(v) and v.shape[0] == _rows(padded) for v in outputs.values()
                ):
                    offset = 0
                    for task in tasks:
                        end = offset + task.rows
                        task.outputs = {k: v[offset:end] for k, v in outputs.items()}
                        offset = end
                    return
            for task in tasks:  # cannot merge: one call each
                self._run_alone(key, task)
        except BaseException as exc:
            for task in tasks:
                if task.outputs is None and task.error is None:
                    task.error = exc
        finally:
            for task in tasks:
                task.done.set()
                if task.on_done is not None:
                    task.on_done()

    def _call_merged(self, key: Key, tasks: list[_Task], arrays: dict) -> dict | None:
        """The batch's outputs; ``None`` if the batch failed, so each request runs alone
        and only the one whose values broke it (a corrupt image, an unparsable
        tf.Example) gets the error."""
        try:
            return self._call(key, tasks[0].signature, arrays, _rows(arrays))
        except Exception:
            if len(tasks) == 1:
                raise
            return None

    def _run_alone(self, key: Key, task: _Task) -> None:
        try:
            task.outputs = self._call(key, task.signature, task.arrays, task.rows)
        except Exception as exc:
            task.error = exc

    def _pad(self, arrays: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
        target = next((s for s in self.options.allowed_batch_sizes if s >= rows), rows)
        if target == rows:
            return arrays
        return {
            k: np.concatenate([v, np.repeat(v[:1], target - rows, axis=0)])
            for k, v in arrays.items()
        }


def _resolve(finished: asyncio.Future) -> None:
    if not finished.done():  # a handler whose client went away was cancelled
        finished.set_result(None)


def _rows(arrays: dict[str, np.ndarray]) -> int:
    return predict.batch_size(arrays) or 0


def _concatenate(requests: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray] | None:
    """The requests' inputs joined along axis 0, or ``None`` where their shapes differ."""
    if len(requests) == 1:
        return requests[0]
    merged = {}
    for name in requests[0]:
        parts = [r[name] for r in requests]
        if len({p.shape[1:] for p in parts}) != 1:
            return None
        merged[name] = np.concatenate(parts)
    return merged


def run(batcher: Batcher | None, call: Call, signature: Any, arrays: dict) -> dict[str, Any]:
    """Run a predict call, through ``batcher`` when batching is on; ``call`` learns its size."""
    start = time.perf_counter()
    if batcher is None:
        call.batch_size = predict.batch_size(arrays)
        outputs = predict.run(signature, arrays)
    else:
        outputs = batcher.run(key(call), signature, arrays)
    call.runtime_seconds = time.perf_counter() - start  # TF Serving's runtime_latency
    return outputs


def key(call: Call) -> Key:
    """The queue a tracked call's requests batch in: its model, version and signature."""
    return call.model, "" if call.version is None else str(call.version), call.signature


def read_batching_parameters(path: Path) -> BatchingOptions:
    """``--batching_parameters_file`` (TF Serving's ``BatchingParameters`` text proto).

    Raises:
        ServingError: the file is unreadable, not that message, or its values break
            TF Serving's rules (sizes >= 1, allowed sizes increasing up to max_batch_size).
    """
    from .tf_serving_protos import read_text_proto

    example = "max_batch_size { value: 32 } batch_timeout_micros { value: 1000 }"
    proto = read_text_proto(path, "BatchingParameters", "--batching_parameters_file", example)
    defaults = BatchingOptions()
    values = {
        name: getattr(proto, name).value if proto.HasField(name) else getattr(defaults, name)
        for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches")
    }
    threads = proto.num_batch_threads.value if proto.HasField("num_batch_threads") else None
    options = BatchingOptions(
        **values,
        num_batch_threads=threads or defaults.num_batch_threads,
        allowed_batch_sizes=tuple(proto.allowed_batch_sizes),
    )
    _check(options, path, proto.pad_variable_length_inputs)
    return options


def _check(options: BatchingOptions, path: Path, pad_variable_length: bool) -> None:
    problems = [
        f"{name} must be >= {low}; received {getattr(options, name)}"
        for name, low in [
            ("max_batch_size", 1),
            ("batch_timeout_micros", 0),
            ("max_enqueued_batches", 1),
            ("num_batch_threads", 1),
        ]
        if getattr(options, name) < low
    ]
    sizes = list(options.allowed_batch_sizes)
    if sizes and (sizes != sorted(set(sizes)) or sizes[-1] != options.max_batch_size):
        problems.append(
            "allowed_batch_sizes must increase and end at max_batch_size "
            f"({options.max_batch_size}); received {sizes}"
        )
    if pad_variable_length:
        problems.append("pad_variable_length_inputs is not supported here; remove it")
    if problems:
        raise ServingError(f"--batching_parameters_file {str(path)!r}: {'; '.join(problems)}")
