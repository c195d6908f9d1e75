"""What every peer server does with the model: load the SavedModel, call ``serving_default``.

Runs inside a peer's venv (``.bench-peers/<name>/``): TensorFlow and NumPy only,
nothing from kerasforge, so each peer serves the model as its own users would.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf


class Signature:
    """The SavedModel's ``serving_default`` signature and its one input's name and dtype."""

    def __init__(self, model_dir: str) -> None:
        self.fn = tf.saved_model.load(model_dir).signatures["serving_default"]
        ((self.input_name, spec),) = self.fn.structured_input_signature[1].items()
        self.dtype = spec.dtype.as_numpy_dtype

    def __call__(self, instances: Any) -> list[dict[str, Any]]:
        """One row per instance, ``{output name: value}``, as TF Serving's row format answers."""
        x = tf.constant(np.asarray(instances, dtype=self.dtype))
        outputs = {name: t.numpy() for name, t in self.fn(**{self.input_name: x}).items()}
        count = len(next(iter(outputs.values())))
        return [{name: _plain(v[i]) for name, v in outputs.items()} for i in range(count)]


def _plain(value: Any) -> Any:
    """A NumPy value as JSON-ready Python: string tensors (bytes) decoded as UTF-8."""
    listed = value.tolist() if isinstance(value, np.ndarray | np.generic) else value
    if isinstance(listed, bytes):
        return listed.decode()
    if isinstance(listed, list):
        return [_plain(item) for item in listed]
    return listed
