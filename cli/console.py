"""What every command-line entry point shares: the usage error and a quiet TensorFlow start.

Both sides of ``kerasforge`` (``pipelines/cli.py`` and ``serving/cli.py``) use
these, so they live above both; importing this module loads the standard
library only.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


class UsageError(Exception):
    """A bad command-line argument; the message says what was expected."""


@contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Hide TensorFlow's native start-up chatter (it writes to fd 2 before Python can filter).

    What was written is replayed if the block fails, so no diagnostic is lost.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    failed = True
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
            failed = False
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                sink.seek(0)
                sys.stderr.write(sink.read().decode(errors="replace"))


def start_tensorflow(intra_op_threads: int = 0, inter_op_threads: int = 0) -> list[str]:
    """Import TensorFlow and initialise its devices with the native chatter hidden.

    Args:
        intra_op_threads: threads one op may split its work over (0: TensorFlow picks).
        inter_op_threads: ops that may run at once (0: TensorFlow picks). Both are fixed
            from here on: TensorFlow reads them when its devices start.

    Returns:
        The devices TensorFlow will use, e.g. ``["CPU:0"]`` or ``["CPU:0", "GPU:0"]``.

    Raises:
        ModuleNotFoundError: TensorFlow is not installed (the command line turns
            this into a message naming the extra to install).
    """
    with quiet_native_logs():
        import tensorflow as tf

        threading = tf.config.threading
        if intra_op_threads and threading.get_intra_op_parallelism_threads() != intra_op_threads:
            threading.set_intra_op_parallelism_threads(intra_op_threads)
        if inter_op_threads and threading.get_inter_op_parallelism_threads() != inter_op_threads:
            threading.set_inter_op_parallelism_threads(inter_op_threads)
        devices = tf.config.list_logical_devices()
    return [d.name.removeprefix("/device:") for d in devices]
