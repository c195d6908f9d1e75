"""The request threads of the REST and gRPC servers: a pool whose last idle thread works next.

``concurrent.futures.ThreadPoolExecutor`` hands each task to whichever idle
thread its queue wakes, so one client's sequential requests rotate through
every thread of the pool, each time on a thread whose stack, TensorFlow
thread-local state and CPU caches have gone cold. :class:`LifoThreadPool`
keeps its idle threads on a stack and wakes the one that finished last: at
low concurrency requests keep running on one warm thread (about 0.1 ms less a
gRPC Predict at batch 1 on 2 cores), and under load every thread is busy as
before. Up to ``max_workers`` threads are started as tasks arrive; tasks
beyond that wait in arrival order.

Example:
    >>> pool = LifoThreadPool(8, thread_name_prefix="grpc")
    >>> pool.submit(pow, 2, 10).result()
    1024
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent import futures
from typing import Any

log = logging.getLogger(__name__)


def default_threads() -> int:
    """TF Serving's request threads where ``--rest_api_num_threads`` or ``--grpc_max_threads``
    is not set: 4 per CPU this process may run on (its ``server.h``)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity call on this platform
        cpus = os.cpu_count() or 1
    return 4 * cpus


class _Task:
    """One submitted call and the future that reports it."""

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> None:
        self.future: futures.Future = futures.Future()
        self.fn, self.args, self.kwargs = fn, args, kwargs

    def __call__(self) -> None:
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            result = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:  # reported through the future, as the stdlib pool does
            self.future.set_exception(exc)
        else:
            self.future.set_result(result)


class _Slot:
    """Where an idle thread waits for the one task handed to it (``None``: stop)."""

    def __init__(self) -> None:
        self._ready = threading.Lock()
        self._ready.acquire()
        self._task: Callable[[], None] | None = None

    def hand(self, task: Callable[[], None] | None) -> None:
        self._task = task
        self._ready.release()

    def take(self) -> Callable[[], None] | None:
        self._ready.acquire()
        task, self._task = self._task, None
        return task


class LifoThreadPool(futures.Executor):
    """A ``concurrent.futures`` executor of at most ``max_workers`` daemon threads whose
    most recently idle thread runs the next task (see the module docstring).

    Raises:
        ValueError: ``max_workers`` is below 1.
    """

    def __init__(self, max_workers: int, thread_name_prefix: str = "worker") -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1; received {max_workers}")
        self._max_workers = max_workers
        self._prefix = thread_name_prefix
        self._lock = threading.Lock()
        self._idle: list[_Slot] = []  # a stack: the last thread to go idle is woken first
        self._backlog: deque[Callable[[], None]] = deque()
        self._threads: list[threading.Thread] = []
        self._shutdown = False

    @property
    def max_workers(self) -> int:
        """The most threads this pool runs."""
        return self._max_workers

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> futures.Future:
        """Run ``fn(*args, **kwargs)`` on a pool thread; its future reports the outcome.

        Raises:
            RuntimeError: the pool was shut down.
        """
        task = _Task(fn, args, kwargs)
        self.post(task)
        return task.future

    def post(self, job: Callable[[], None]) -> None:
        """Run ``job()`` on a pool thread, with no future to report it (lighter than
        :meth:`submit`): ``job`` reports its own outcome; one that raises is logged.

        Raises:
            RuntimeError: the pool was shut down.
        """
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if self._idle:
                self._idle.pop().hand(job)
                return
            self._backlog.append(job)
            if len(self._threads) < self._max_workers:
                thread = threading.Thread(
                    target=self._work,
                    name=f"{self._prefix}_{len(self._threads)}",
                    daemon=True,
                )
                self._threads.append(thread)
                thread.start()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Accept no more tasks; queued ones still run unless ``cancel_futures`` (submitted
        ones); with
        ``wait``, return once every thread has finished."""
        with self._lock:
            self._shutdown = True
            if cancel_futures:  # posted jobs still run: they have no future to tell
                for job in self._backlog:
                    if isinstance(job, _Task):
                        job.future.cancel()
            while self._idle:
                self._idle.pop().hand(None)
            threads = list(self._threads)
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()

    def _work(self) -> None:
        slot = _Slot()
        while True:
            with self._lock:
                task = self._backlog.popleft() if self._backlog else None
                if task is None:
                    if self._shutdown:
                        return
                    self._idle.append(slot)
            if task is None:
                task = slot.take()
                if task is None:
                    return
            try:
                task()
            except Exception:  # a posted job's bug: logged, the thread keeps serving
                log.exception("a job posted to the %s pool failed", self._prefix)
            del task  # drop the finished call's arguments and result before going idle


class LoopInbox:
    """Calls from pool threads to run on an event loop, one wake-up for each burst.

    ``loop.call_soon_threadsafe`` writes to the loop's wake-up socket on every call;
    under load many calls finish while the loop is still busy, and one wake-up can
    carry them all. Calls run on the loop in the order they were posted.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._calls: deque[tuple[Callable[..., Any], tuple]] = deque()
        self._signalled = False

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop soon (from any thread).

        Raises:
            RuntimeError: the loop is closed.
        """
        self._calls.append((fn, args))
        if not self._signalled:  # a wake-up not yet drained would also carry this call
            self._signalled = True
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._signalled = False  # first: a call posted from here on signals again
        calls = self._calls
        while calls:
            fn, args = calls.popleft()
            try:
                fn(*args)
            except Exception:  # one call's bug must not drop the calls behind it
                log.exception("a call posted to the event loop failed")
