"""How a tracked run ends on SIGTERM: KILLED, like Ctrl-C, never left RUNNING.

While :func:`~kerasforge.pipelines.tracking.run.tracked_run` holds a run open in
the main thread, SIGTERM raises :class:`Terminated` there; :class:`SignalCheck`
raises it again at the end of the epoch if the first one was swallowed.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import keras


class Terminated(SystemExit):
    """SIGTERM arrived: unwind like Ctrl-C so the run ends KILLED; exit status 143."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


_TERMINATING = threading.Event()


class SignalCheck(keras.callbacks.Callback):
    """Raise :class:`Terminated` at the end of an epoch once SIGTERM arrived.

    Python runs a signal handler in whatever the main thread executes next; when
    that is a finalizer (``__del__``, a weakref callback during garbage collection)
    the handler's exception is printed and dropped, and a training under load once
    ran its 300 epochs after SIGTERM. The handler's flag is checked here too (per
    epoch: a batch hook would make Keras fetch every batch's logs).
    """

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if _TERMINATING.is_set():
            raise Terminated()


@contextmanager
def ending_signals() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread while the run is open."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(_signum: int, _frame: Any) -> None:
        _TERMINATING.set()  # SignalCheck raises again if a finalizer swallowed this one
        raise Terminated()

    _TERMINATING.clear()
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
