"""The validation gate before a version is published (TFX's InfraValidator, without TFX).

The staged SavedModel is loaded by a process that shares nothing with the training
process, its warm-up requests are replayed, each through its own signature, and every
output is compared with the same signature's function over the in-memory Keras model,
on the same inputs. Any failure (the export does not load, a request fails, an output
differs by more than ``TOLERANCE``) raises ``GateError``; ``publish`` then removes the
staging folder, so no version appears.

The guarantee: the export is judged by a process that never saw the training
process's Python objects, TF graphs or function caches, so it passes only if the files
on disk alone load and answer as Keras does. The design that keeps it cheaply: one
**gate worker** per publishing process, a child started by ``python -m
kerasforge.serving.export.gate --worker`` on the first publish (``prepare``, at the
start of an export, so that its TensorFlow import overlaps the SavedModel writing) and
reused by the next publishes of that process (a training process that publishes
several versions, a test session). Each request loads its SavedModel afresh with
``tf.saved_model.load``; the worker only ever receives a folder name, never an object
of the training process, so nothing of the parent can leak in. Nor can an earlier
export help a later one: TensorFlow renames every function of a loaded library and
suffixes its resources' shared names with an id unique to that load
(``saved_model/function_deserialization.py``), so two loads share no function or
resource. The worker imports TensorFlow without Keras (``_tensorflow_alone``): the
export must load from its files as TF Serving loads it, with no Keras class to revive
it. A worker is replaced after ``LOADS_PER_WORKER`` loads (memory stays bounded) and
after any failure; it exits when its parent closes its stdin, or dies.

Run as ``python -m kerasforge.serving.export.gate SAVED_MODEL OUT.npz`` for one export,
or ``... --worker`` to serve requests (one JSON line in: ``{"saved_model", "out"}``;
one JSON line out: ``{"ok": true}`` or ``{"error": "..."}``).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..card import ModelCard
from ..errors import ServingError
from .contracts import endpoints
from .warmup import read_warmup

TOLERANCE = 1e-5
TIMEOUT_S = 600
LOADS_PER_WORKER = 25
WORKER_FLAG = "--worker"


class GateError(ServingError):
    """The staged export failed validation; nothing was published."""


def validate(saved_model_dir: Path, model: Any, card: ModelCard) -> float:
    """Replay the warm-up requests in the gate worker and compare with ``model``.

    Each request runs through its own signature (``serving_default``, ``classify``,
    ``serving_bytes``, ...) in the export, and through the same signature's
    function over the in-memory Keras model.

    Returns:
        The largest difference seen (at most ``TOLERANCE``; relative above 1).

    Raises:
        GateError: the export does not load or answers differently from Keras.
    """
    import tensorflow as tf

    found = endpoints(card, model)
    served = _replay_in_fresh_process(saved_model_dir)
    worst = 0.0
    for i, (signature, inputs) in enumerate(read_warmup(saved_model_dir)):
        endpoint = found[signature]
        expected = endpoint.fn(*[tf.constant(inputs[s.name]) for s in endpoint.input_signature])
        for name, value in expected.items():
            got = served.get(f"{i}/{name}")
            where = f"validation gate: warm-up request {i} ({signature}): output {name!r}"
            if got is None or got.shape != tuple(value.shape):
                raise GateError(
                    f"{where} missing or of another shape in the export; nothing was published"
                )
            diff = _difference(got, value.numpy())
            worst = max(worst, diff)
            if diff > TOLERANCE:
                raise GateError(
                    f"{where} differs from the Keras model by {diff:.3g} (tolerance "
                    f"{TOLERANCE}); nothing was published"
                )
    return worst


class _Worker:
    """One ``python -m kerasforge.serving.export.gate --worker`` child of this process."""

    def __init__(self) -> None:
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the worker)
        # ^ its stderr: TF's logs and tracebacks, read back when it dies
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kerasforge.serving.export.gate", WORKER_FLAG],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
        )
        self.owner = os.getpid()
        self.loads = 0

    def ask(self, saved_model_dir: Path, out: Path) -> str | None:
        """Have it load and replay one export; ``None`` when it did, else why not."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.loads += 1
        # Absolute: the worker keeps the folder it started in, this process may have moved.
        paths = {"saved_model": str(Path(saved_model_dir).resolve()), "out": str(out.resolve())}
        request = json.dumps(paths)
        try:
            self.proc.stdin.write(request.encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            return self._died()
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT_S)
        if not ready:
            self.close()
            return f"no answer in {TIMEOUT_S} s"
        line = self.proc.stdout.readline()
        if not line:
            return self._died()
        return json.loads(line).get("error")

    def _died(self) -> str:
        """Why it ended: the last line it wrote on stderr."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.seek(0)
        lines = self.log.read().decode(errors="replace").strip().splitlines()
        self.close()
        return (lines or ["the gate worker ended without output"])[-1]

    def close(self) -> None:
        """Close its stdin (it exits at end of input); kill it if it lingers."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.log.close()


_worker: _Worker | None = None
_lock = threading.Lock()


def prepare() -> None:
    """Start this process's gate worker now (``publish`` calls it before writing the
    SavedModel, so that the worker's TensorFlow import runs meanwhile)."""
    with _lock:
        _current_worker()


def _current_worker() -> _Worker:
    """This process's live worker; a new one after a failure, a fork or its quota."""
    global _worker
    stale = _worker is not None and (
        _worker.proc.poll() is not None
        or _worker.owner != os.getpid()
        or _worker.loads >= LOADS_PER_WORKER
    )
    if stale and _worker is not None and _worker.owner == os.getpid():
        _worker.close()
    if _worker is None or stale:
        _worker = _Worker()
    return _worker


@atexit.register
def _close_worker() -> None:
    with _lock:
        if _worker is not None and _worker.owner == os.getpid():
            _worker.close()


def _replay_in_fresh_process(saved_model_dir: Path) -> dict[str, np.ndarray]:
    """``{"<request>/<output>": array}`` as the gate worker served them."""
    with _lock, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "served.npz"
        worker = _current_worker()
        error = worker.ask(saved_model_dir, out)
        if error is not None:
            worker.close()  # the next export gets a worker that saw no failure
            raise GateError(
                f"validation gate: the export does not load and serve in a fresh process "
                f"({error}); nothing was published"
            )
        return dict(np.load(out))


def _difference(got: np.ndarray, expected: np.ndarray) -> float:
    """Largest abs difference, relative to the expected value where that exceeds 1 (float32
    cannot hold 0-255 pixels to 1e-5 absolute: one ulp at 255 is 1.5e-5); for strings
    (class names) 0 when equal, else infinite."""
    if expected.dtype.kind in "OSU":
        return 0.0 if np.array_equal(got.astype(bytes), expected.astype(bytes)) else np.inf
    expected = expected.astype("float64")
    diff = np.abs(got.astype("float64") - expected) / np.maximum(1.0, np.abs(expected))
    return float(np.max(diff, initial=0.0))


def _tensorflow_alone() -> Any:
    """TensorFlow without Keras (TF imports Keras eagerly; blocked, it skips it): the
    export must load from its own files, and the worker starts 2 s of CPU sooner."""
    for name in ("keras", "tf_keras"):
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    import tensorflow as tf

    return tf


def _serve_warmup(saved_model_dir: str, out: str) -> None:
    """Load one export afresh, replay its warm-up requests, write the outputs to ``out``."""
    tf = _tensorflow_alone()
    signatures = tf.saved_model.load(saved_model_dir).signatures
    results = {}
    for i, (signature, inputs) in enumerate(read_warmup(Path(saved_model_dir))):
        outputs = signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
        results.update({f"{i}/{name}": _storable(value.numpy()) for name, value in outputs.items()})
    np.savez(out, **results)


def _storable(value: np.ndarray) -> np.ndarray:
    """String outputs as fixed-width bytes, which ``np.load`` reads without pickle."""
    return value.astype(bytes) if value.dtype == object else value


def _serve_requests() -> None:
    """The worker's loop: one JSON request per stdin line, one JSON answer per line on
    the original stdout; anything else printed goes to stderr, so it cannot garble one."""
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _tensorflow_alone()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            _serve_warmup(request["saved_model"], request["out"])
            answer: dict[str, Any] = {"ok": True}
        except Exception as error:  # reported to the parent, which refuses the export
            answer = {"error": f"{type(error).__name__}: {str(error).strip()[-500:]}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    if sys.argv[1:] == [WORKER_FLAG]:
        _serve_requests()
    else:
        _serve_warmup(sys.argv[1], sys.argv[2])
