"""The validation gate before a version is published (TFX's InfraValidator, without TFX).

The staged SavedModel is loaded in a fresh Python process (nothing shared
with the training process), its warm-up requests are replayed, each through
its own signature, and every output is compared with the same signature's
function over the in-memory Keras model, on the same inputs. Any failure
(the export does not load, a request fails, an output differs by more than
``TOLERANCE``) raises ``GateError``;
``publish`` then removes the staging folder, so no version appears.

Run as ``python -m kerasforge.serving.export.gate SAVED_MODEL OUT.npz`` by ``validate``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..card import ModelCard
from ..errors import ServingError
from .contracts import endpoints
from .warmup import read_warmup

TOLERANCE = 1e-5
TIMEOUT_S = 600


class GateError(ServingError):
    """The staged export failed validation; nothing was published."""


def validate(saved_model_dir: Path, model: Any, card: ModelCard) -> float:
    """Replay the warm-up requests in a fresh process and compare with ``model``.

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


def _replay_in_fresh_process(saved_model_dir: Path) -> dict[str, np.ndarray]:
    """``{"<request>/<output>": array}`` from ``python -m kerasforge.serving.export.gate``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "served.npz"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "kerasforge.serving.export.gate",
                str(saved_model_dir),
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise GateError(
                f"validation gate: the export does not load and serve in a fresh process "
                f"({last}); nothing was published"
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


def _serve_warmup(saved_model_dir: str, out: str) -> None:
    import tensorflow as tf

    signatures = tf.saved_model.load(saved_model_dir).signatures
    results = {}
    for i, (signature, inputs) in enumerate(read_warmup(Path(saved_model_dir))):
        outputs = signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
        results.update({f"{i}/{name}": _storable(value.numpy()) for name, value in outputs.items()})
    np.savez(out, **results)


def _storable(value: np.ndarray) -> np.ndarray:
    """String outputs as fixed-width bytes, which ``np.load`` reads without pickle."""
    return value.astype(bytes) if value.dtype == object else value


if __name__ == "__main__":
    _serve_warmup(sys.argv[1], sys.argv[2])
