"""The stderr filter of a quiet command: libraries' known log lines out, everything else through.

Native libraries (TensorFlow's C++ core, the TFLite converter and interpreter,
libjpeg) write to file descriptor 2 directly, at any time, and some of them
before any setting can reach them: TensorFlow logs through absl before absl's
log is initialised, which ``TF_CPP_MIN_LOG_LEVEL`` does not govern. So a quiet
command (:mod:`kerasforge.cli.quiet`) points its fd 2 at a pipe read by this
script, run as a separate process on the standard library alone (``python -I -S
stderr_filter.py``): a thread of the command itself could deadlock when native
code fills the pipe while holding the GIL.

Each line that matches :data:`NOISE` is dropped; any other line (an error, a
traceback, a warning of ours) is passed on as it arrives. A partial line (a
progress bar, a prompt) is passed on after :data:`HOLD_S` without a newline.
"""

from __future__ import annotations

import os
import re
import select
import signal

NOISE: tuple[re.Pattern[bytes], ...] = tuple(
    re.compile(pattern)
    for pattern in (
        # absl before its initialisation (TensorFlow, gRPC), then its INFO and WARNING lines:
        # oneDNN (port.cc), cudart_stub, cpu_feature_guard, local_rendezvous, ...
        rb"^WARNING: All log messages before absl::InitializeLog\(\) is called",
        rb"^[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] ",  # (seconds since 1970 before init)
        rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IW] \S+:\d+\] ",  # TensorFlow's older format
        rb"^To enable the following instructions: .*rebuild TensorFlow",  # cpu_feature_guard
        # An ERROR only on a machine without a GPU driver (the devices line says CPU),
        # and CUDA plugins registered twice by TensorFlow's own start-up.
        rb"^E\d{4} .*\] failed call to cuInit: ",
        rb"^E\d{4} .*\] Unable to register cu(DNN|FFT|BLAS) factory: ",
        # The TFLite converter's quantisation summary and the interpreter's INFO lines.
        rb"^fully_quantize: \d+, inference_type: \d+",
        rb"^INFO: (Created TensorFlow Lite .*delegate|Initialized TensorFlow Lite runtime)",
        # libjpeg on a corrupt image: the image-folder check counts and reports those files.
        rb"^(Improper call to JPEG library in state \d+|Corrupt JPEG data: |Premature end of "
        rb"JPEG file|Invalid JPEG file structure: |Not a JPEG file: |Input file read error$)",
        # Optuna's INFO lines ([I 2025-01-01 12:00:00,000] Trial 0 finished ...).
        rb"^\[I \d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\] ",
        # MLflow's INFO log lines and what its registry prints beside them.
        rb"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d INFO mlflow\.",
        rb"^Successfully registered model '.*'\.$",
        rb"^Registered model '.*' already exists\. Creating a new version of this model\.\.\.$",
        rb"^Created version '\d+' of model '.*'\.$",
        # `mlflow ui` at start when it binds 127.0.0.1 (its DISABLED warning still shows).
        rb"^\[MLflow\] Security middleware enabled with default settings \(localhost-only\)\.",
        # Apache Beam at import, without the Google Cloud extras nobody here needs.
        rb"^WARNING:root:apitools not found, and bigquery client libraries are not available",
        rb"^WARNING:root:Resource module is not available for current platform, memory usage",
    )
)
"""Lines a quiet command drops: each a library's own log line, none an error of the user's."""

HOLD_S = 0.05
"""How long a partial line waits for the rest of its line before it is passed on."""


def is_noise(line: bytes) -> bool:
    """Whether ``line`` (without its newline) is a library log line that a quiet command drops."""
    line = line.rstrip(b"\r")
    return any(pattern.search(line) for pattern in NOISE)


def _write(fd: int, data: bytes) -> bool:
    """Write all of ``data`` to ``fd``; False once the reader is gone (then the rest is dropped)."""
    while data:
        try:
            data = data[os.write(fd, data) :]
        except OSError:
            return False
    return True


def run(source: int = 0, sink: int = 1) -> None:
    """Copy ``source`` to ``sink`` line by line, leaving out :func:`is_noise` lines, until EOF.

    Ctrl-C and SIGTERM are ignored: they are the command's to handle, and what it
    prints on its way out (``interrupted``, a traceback) must still get through.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pending, open_sink = b"", True
    while True:
        ready, _, _ = select.select([source], [], [], HOLD_S if pending else None)
        if not ready:  # a partial line waited long enough: a progress bar or a prompt
            open_sink = open_sink and _write(sink, pending)
            pending = b""
            continue
        chunk = os.read(source, 1 << 16)
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        kept = b"".join(line + b"\n" for line in lines if not is_noise(line))
        open_sink = open_sink and _write(sink, kept)
    if pending and not is_noise(pending) and open_sink:
        _write(sink, pending)


if __name__ == "__main__":
    run()
