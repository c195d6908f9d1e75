"""A Beam ``ModelHandler`` that calls one named signature of a SavedModel on a batch.

Why not Beam's stock ``TFModelHandlerNumpy`` / ``TFModelHandlerTensor``
(``apache_beam.ml.inference.tensorflow_inference``): they load the model with
``tf.keras.models.load_model``, which Keras 3 refuses for a SavedModel folder, and they call
``model(stacked_batch)``: one positional tensor. Our signatures are named and may take
several named inputs (``serving_features``: one per column) or strings
(``serving_bytes``, ``classify``). So this handler, as TFX's BulkInferrer does, loads the
SavedModel with ``tf.saved_model.load`` and calls ``signatures[name](**inputs)``.

The records come already grouped into batches by the reader (:mod:`.pipeline`), so Beam moves
one element per batch rather than one per record (its ``BatchElements`` step, which does that
grouping otherwise, costs more per record than the model call does on a small model):
``should_skip_batching`` is true: each element in is a list of records (Beam hands it over
as the batch) and each element out the list of their results.

A batch that fails in the graph (an image that does not decode, a tf.Example that does
not parse) is scored again one record at a time, so that only the bad records fail, each
with TensorFlow's own line for it: a bad record never stops the job.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from apache_beam.ml.inference.base import ModelHandler

from ..card import SignatureInfo
from ..errors import tf_error_message
from .inputs import Bad, Record

Scored = tuple[str, dict[str, np.ndarray]]
"""A scored record: its source id and one value per output, without the batch dimension."""


@dataclass
class Loaded:
    """A loaded SavedModel and the signature the job calls (the module keeps it alive)."""

    module: Any
    function: Any


class SignatureHandler(ModelHandler[Record, "list[Scored | Bad]", Loaded]):
    """Scores batches of records with the signature ``info`` of the SavedModel at ``path``."""

    def __init__(self, path: str, signature: str, info: SignatureInfo) -> None:
        super().__init__()
        self.path, self.signature, self.info = path, signature, info

    def load_model(self) -> Loaded:
        """Load the SavedModel once per worker (Beam shares it between threads)."""
        import tensorflow as tf

        module = tf.saved_model.load(self.path)
        return Loaded(module, module.signatures[self.signature])

    def run_inference(
        self,
        batch: Sequence[Record],
        model: Loaded,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[list[Scored | Bad]]:
        """One element out per batch in: the list of the batch's results, in order."""
        return [self.score(batch, model)]

    def score(self, batch: Sequence[Record], model: Loaded) -> list[Scored | Bad]:
        """One result per record of ``batch``, in order: its outputs, or why it failed."""
        try:
            return self._score(batch, model)
        except Exception:  # a bad record somewhere: score one at a time, to find it
            return [self._alone(record, model) for record in batch]

    def _score(self, batch: Sequence[Record], model: Loaded) -> list[Scored | Bad]:
        import tensorflow as tf

        inputs = {
            tensor.name: tf.constant(self._stack([r[1][tensor.name] for r in batch], tensor.dtype))
            for tensor in self.info.inputs
        }
        outputs = {k: v.numpy() for k, v in model.function(**inputs).items()}
        sources = [source for source, _ in batch]
        return [
            (source, {k: np.asarray(v[i], dtype=v.dtype) for k, v in outputs.items()})
            for i, source in enumerate(sources)
        ]

    def _alone(self, record: Record, model: Loaded) -> Scored | Bad:
        try:
            return self._score([record], model)[0]
        except Exception as exc:
            return Bad(record[0], f"the model refused it: {tf_error_message(str(exc))}")

    @staticmethod
    def _stack(values: list[np.ndarray], dtype: str) -> np.ndarray:
        if dtype == "string":
            stacked = np.empty(len(values), dtype=object)
            stacked[:] = [v[()] for v in values]
            return stacked
        return np.stack(values).astype(dtype, copy=False)

    def get_num_bytes(self, batch: Sequence[Record]) -> int:
        """The batch's input bytes (Beam's default pickles the batch to count them)."""
        return sum(_size(value) for _, inputs in batch for value in inputs.values())

    def should_skip_batching(self) -> bool:
        """Each element is a batch already (the reader groups the records)."""
        return True

    def get_metrics_namespace(self) -> str:
        """Beam's inference metrics (batch sizes, latencies) under ``kerasforge``."""
        return "kerasforge"


def _size(value: np.ndarray) -> int:
    return len(value[()]) if value.dtype == object else value.nbytes
