"""One quiet switch for every command: libraries' own log lines stay hidden unless asked for.

Every ``kerasforge`` command runs quiet (:func:`quiet_command`, entered by
``kerasforge.cli.main``): TensorFlow's C++ start-up lines, absl, the TFLite
converter and interpreter, libjpeg, Optuna's INFO lines, TensorFlow's retracing
warnings and MLflow's own chatter are left out. ``--verbose`` or
``KERASFORGE_VERBOSE=1`` brings them all back. Three means, because the lines
come three ways:

- settings read at start-up (:data:`QUIET_ENVIRONMENT`): they must be in the
  environment before TensorFlow or MLflow is imported, and child processes
  (training workers, tuning trials, ``mlflow ui``'s workers) inherit them;
- Python loggers' levels (:data:`QUIET_LOGGERS`);
- lines written to fd 2 by native code, which no setting reaches: fd 2 goes
  through :mod:`kerasforge.cli.stderr_filter` in a process of its own, which
  drops the known lines and passes on everything else as it comes.

Commands that are not ``kerasforge`` (``make bench``, ``make mlflow-ui``) run
under the same switch with ``python -m kerasforge.cli.quiet COMMAND [ARGS...]``.

Importing this module loads the standard library only.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

VERBOSE_ENV = "KERASFORGE_VERBOSE"
"""``KERASFORGE_VERBOSE=1``: every command shows its libraries' log lines (as ``--verbose``)."""

QUIET_ENVIRONMENT = {
    "TF_CPP_MIN_LOG_LEVEL": "2",  # TensorFlow's C++ INFO and WARNING lines, once absl is set up
    "GRPC_VERBOSITY": "ERROR",  # gRPC core's INFO and WARNING lines
    "MLFLOW_LOGGING_LEVEL": "WARNING",  # MLflow's INFO lines (it resets its logger's level)
    # A deprecation inside MLflow's server, shown once by each of `mlflow ui`'s workers.
    "PYTHONWARNINGS": "ignore:starlette.middleware.wsgi is deprecated",
}
"""Settings a quiet command puts in its environment where the user has not set them."""

QUIET_LOGGERS = {
    "tensorflow": logging.ERROR,  # retracing warnings, deprecation notes
    "absl": logging.ERROR,
    "alembic": logging.WARNING,  # MLflow's database migrations
}
"""Python loggers a quiet command turns down (their libraries leave these levels alone)."""

FILTER_SCRIPT = Path(__file__).with_name("stderr_filter.py")

DRAIN_S = 5.0
"""How long a command waits, as it ends, for the filter to pass on its last lines."""


def verbose() -> bool:
    """Whether this process was asked to show libraries' log lines (``KERASFORGE_VERBOSE``)."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def quiet_libraries() -> None:
    """Turn the libraries' logging down: :data:`QUIET_ENVIRONMENT` and :data:`QUIET_LOGGERS`.

    Call before TensorFlow and MLflow are imported: they read these once.
    """
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)


@contextmanager
def filtered_stderr() -> Iterator[None]:
    """Send what this process (and its children) write to fd 2 through the stderr filter.

    Restores fd 2 on the way out, error or not, then waits up to :data:`DRAIN_S`
    for the filter to pass on the last lines. Without a POSIX fd 2 (Windows, or
    fd 2 closed) or a way to start the filter, the block runs unfiltered.
    """
    started = _start_filter() if os.name == "posix" else None
    if started is None:
        yield
        return
    saved, write_end, process = started
    sys.stderr.flush()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last end in this process closes: the filter sees EOF
        os.close(saved)
        # A child of the command may still hold the pipe; the filter then ends with it.
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=DRAIN_S)


def _start_filter() -> tuple[int, int, subprocess.Popen[bytes]] | None:
    """``(saved fd 2, the pipe's write end, the filter process)``, or None where it cannot run."""
    try:
        saved = os.dup(2)
    except OSError:
        return None
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(FILTER_SCRIPT)],
            stdin=read_end,
            stdout=saved,
            stderr=saved,
        )
    except OSError:
        for fd in (saved, read_end, write_end):
            os.close(fd)
        return None
    os.close(read_end)
    return saved, write_end, process


@contextmanager
def quiet_command(show_logs: bool = False) -> Iterator[None]:
    """Run a command's block quiet, or with every log line where ``show_logs`` or
    ``KERASFORGE_VERBOSE`` asks for them (the command's children then inherit the choice)."""
    if show_logs or verbose():
        os.environ[VERBOSE_ENV] = "1"
        yield
        return
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    unset = [name for name in QUIET_ENVIRONMENT if name not in os.environ]
    quiet_libraries()
    try:
        with filtered_stderr():
            yield
    finally:  # a notebook goes on with its own logger levels and environment
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        for name in unset:
            os.environ.pop(name, None)


def run_quiet(command: list[str]) -> int:
    """Run ``command`` under the quiet switch; its exit status (128 + N when killed by signal N).

    Ctrl-C reaches the command itself (it is in the same process group); this
    process ignores it and waits for the command to finish its shutdown.
    """
    with quiet_command():
        process = subprocess.Popen(command)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # after the start: the command keeps Ctrl-C
        status = process.wait()
    return 128 - status if status < 0 else status


def main(argv: list[str] | None = None) -> int:
    """``python -m kerasforge.cli.quiet COMMAND [ARGS...]``: run a command that is not
    ``kerasforge`` (``mlflow ui``, ``bench/run.py``) under the quiet switch."""
    command = sys.argv[1:] if argv is None else argv
    if not command or command[0].startswith("-"):
        print("usage: python -m kerasforge.cli.quiet COMMAND [ARGS...]", file=sys.stderr)
        return 2
    try:
        return run_quiet(command)
    except FileNotFoundError:
        print(f"error: no command {command[0]!r}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main())
