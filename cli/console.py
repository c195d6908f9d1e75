"""What every command-line entry point shares: the usage error, a line at once before
TensorFlow's slow import, a quiet TensorFlow start and help texts that show each option's
default.

Both sides of ``kerasforge`` (``pipelines/cli.py`` and ``serving/cli.py``) use
these, so they live above both; importing this module loads the standard
library only.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from .quiet import verbose


class UsageError(Exception):
    """A bad command-line argument; the message says what was expected."""


@contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Hide TensorFlow's native start-up chatter (it writes to fd 2 before Python can filter).

    What was written is replayed if the block fails, so no diagnostic is lost.
    With ``--verbose`` (``KERASFORGE_VERBOSE=1``) nothing is hidden.
    """
    if verbose():
        yield
        return
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


def sign_of_life(doing: str, stream: TextIO | None = None) -> None:
    """Say at once what a command is about to do, before TensorFlow's import leaves it still.

    TensorFlow takes seconds to import (a minute or more on a busy machine) and a
    command's own first line comes after it; this line comes before, as
    ``<doing> (loading TensorFlow) ...``, or ``<doing>`` alone where TensorFlow is
    loaded already (a notebook, or a second command in one process).

    Args:
        doing: what the command does, e.g. ``"training configs/digits_cnn.yaml"``.
        stream: where the line goes (default: stdout; stderr for a command whose stdout
            is its answer, such as ``predict``'s JSON).
    """
    tail = "" if "tensorflow" in sys.modules else " (loading TensorFlow) ..."
    print(f"{doing}{tail}", file=stream or sys.stdout, flush=True)


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


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """``--help`` with each option's default, ``(default: 8501)``, where it has one to show.

    Unlike ``argparse.ArgumentDefaultsHelpFormatter`` it leaves out defaults that
    say nothing (``None``, an on/off switch's ``False``, an empty list) and help
    texts that already name their default.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        shown = shown_default(action)
        if shown is None or "default" in text.lower():
            return action.help
        return f"{text} (default: {shown.replace('%', '%%')})"


def shown_default(action: argparse.Action) -> str | None:
    """An option's default as ``--help`` writes it, or None where it has none worth showing."""
    default = action.default
    if default is None or default is argparse.SUPPRESS or action.nargs == 0:
        return None  # no value, or a switch (store_true, store_false, count-free flags)
    if not action.option_strings and action.nargs not in ("?", "*"):
        return None  # a required positional
    if isinstance(default, bool):
        return str(default).lower()  # TF Serving's spelling: --enable_batching=false
    if isinstance(default, (list, tuple)):
        return ",".join(map(str, default)) or None
    return str(default)


def show_defaults(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` and every subcommand parser under it :class:`DefaultsHelpFormatter`."""
    parser.formatter_class = DefaultsHelpFormatter
    for child in subcommand_parsers(parser):
        show_defaults(child)


def subcommand_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers of ``parser``'s subcommands (one level down)."""
    return [
        child
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for child in dict.fromkeys(action.choices.values())
    ]
