"""The forms a raw input takes in a signature, and the request side of every signature.

Classifiers and regressors get, besides ``serving_default`` over the raw input tensor:

- image models: ``serving_bytes`` over encoded images (``image_bytes``,
  ``{"b64": ...}`` over REST), decoded, converted and resized in the graph
  (``serving.export.images``). With ``export.image_input: encoded`` (the card's
  ``image_input``) ``serving_default`` takes those encoded images too, as TF Serving's
  image clients send them, and the raw pixel tensor moves to ``serving_pixels``;
- tabular models: ``serving_features``, one ``[N]`` float input per column,
  named by the data's feature names (``signatures.feature_keys``);
- TF Serving's Classify / Regress APIs: ``classify`` (method
  ``tensorflow/serving/classify``: ``classes`` and ``scores``, each
  ``[N, classes]``) or ``regress`` (``tensorflow/serving/regress``:
  ``outputs``, ``[N]``; single-target models only), over serialized
  tf.Examples in ``inputs`` (``serving.tf_example`` builds them).

:class:`SignatureInputs` builds those endpoints for a task's contract; :func:`request_inputs`
speaks each signature from raw inputs (warm-up records and the tests use it). TensorFlow is
imported inside the functions that build graphs only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..card import ExampleFeature, ModelCard, SignatureInfo
from ..errors import ServingError
from ..wire import CLASSIFY_METHOD
from .images import bytes_endpoint, encode_png
from .signatures import (
    BYTES_SIGNATURE,
    CLASSIFY_SIGNATURE,
    DEFAULT_SIGNATURE,
    ENCODED_IMAGES,
    EXAMPLES_INPUT,
    FEATURES_SIGNATURE,
    IMAGE_BYTES_INPUT,
    IMAGE_EXAMPLE_KEY,
    PIXELS_SIGNATURE,
    REGRESS_SIGNATURE,
    TEXT_EXAMPLE_KEY,
    Endpoint,
    feature_keys,
    raw_input_spec,
)


class SignatureInputs:
    """The raw input of one model and every other form a signature may take it in."""

    def __init__(self, model: Any, card: ModelCard) -> None:
        self.model, self.card = model, card
        self.spec = raw_input_spec(model)
        self.shape = self.spec.shape.as_list()[1:]
        self.kind = card.data.get("inputs", "image" if len(self.shape) == 3 else "tabular")
        names = list(card.data.get("feature_names") or [])
        self.columns = int(self.shape[0]) if self.kind == "tabular" else 0
        self.keys = feature_keys(names, self.columns) if self.kind == "tabular" else []
        self.names = names if len(names) == self.columns else self.keys

    def raw_endpoint(self, head: Callable[[Any], dict[str, Any]]) -> Endpoint:
        """``head`` over the raw input tensor, described with the data's facts."""
        facts = {
            k: self.card.data[k] for k in ("value_range", "feature_names") if self.card.data.get(k)
        }
        return Endpoint(head, [self.spec], input_facts=(facts,), description="the raw input")

    def predict_endpoints(self, head: Callable[[Any], dict[str, Any]]) -> dict[str, Endpoint]:
        """``serving_default`` and every other form of the raw input, each answering as ``head``.

        As :meth:`raw_endpoint` and :meth:`other_endpoints`, unless the card's ``image_input``
        is ``encoded``: then ``serving_default`` is the ``serving_bytes`` endpoint (both
        names stay, the answer is the same) and the raw tensor is ``serving_pixels``.

        Raises:
            ServingError: ``encoded`` for a model that takes no image of known size.
        """
        raw, others = self.raw_endpoint(head), self.other_endpoints(head)
        if self.card.image_input != ENCODED_IMAGES:
            return {DEFAULT_SIGNATURE: raw, **others}
        if BYTES_SIGNATURE not in others:
            raise ServingError(
                f"export.image_input: 'encoded' needs an image model taking [height, width, "
                f"1 or 3] pixels of known size; this {self.kind} model takes {self.shape}: "
                "set export.image_input: pixels (or image_input on the run's model card)"
            )
        return {DEFAULT_SIGNATURE: others[BYTES_SIGNATURE], PIXELS_SIGNATURE: raw, **others}

    def other_endpoints(self, head: Callable[[Any], dict[str, Any]]) -> dict[str, Endpoint]:
        """``serving_bytes`` (images) or ``serving_features`` (tabular) answering as ``head``."""
        if self.kind == "tabular":
            return {FEATURES_SIGNATURE: self._features_endpoint(head)}
        if self.kind != "image":  # sequences: the raw tensor and tf.Examples only
            return {}
        found = bytes_endpoint(self.shape, self.card.data.get("value_range"), head)
        return {BYTES_SIGNATURE: found} if found else {}

    def _features_endpoint(self, head: Callable[[Any], dict[str, Any]]) -> Endpoint:
        import tensorflow as tf

        specs = [tf.TensorSpec((None,), tf.float32, name=key) for key in self.keys]
        facts = tuple({"description": f"feature {name!r}"} for name in self.names)

        def serve(*columns: tf.Tensor) -> dict[str, tf.Tensor]:
            return head(tf.stack(columns, axis=-1))

        return Endpoint(serve, specs, input_facts=facts, description="one input per column")

    def examples_endpoint(
        self, head: Callable[[Any], dict[str, Any]], method: str
    ) -> dict[str, Endpoint]:
        """``head`` over serialized tf.Examples (one float feature per column, or the pixels).

        Named ``classify`` or ``regress`` after ``method``; none for an input of unknown size.
        A text model's tf.Example holds its string under ``text`` (one ``bytes_list`` value).
        """
        import tensorflow as tf

        if None in self.shape:
            return {}
        if self.kind == "tabular":
            features = {k: tf.io.FixedLenFeature([], tf.float32) for k in self.keys}
            described = tuple(ExampleFeature(key=k, dtype="float", shape=[1]) for k in self.keys)
        elif self.kind == "text":
            features = {TEXT_EXAMPLE_KEY: tf.io.FixedLenFeature([], tf.string)}
            described = (ExampleFeature(key=TEXT_EXAMPLE_KEY, dtype="bytes", shape=[1]),)
        else:
            size = math.prod(int(d) for d in self.shape)
            features = {IMAGE_EXAMPLE_KEY: tf.io.FixedLenFeature([size], tf.float32)}
            described = (ExampleFeature(key=IMAGE_EXAMPLE_KEY, dtype="float", shape=[size]),)

        def serve(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
            parsed = tf.io.parse_example(inputs, features)
            if self.kind == "tabular":
                x = tf.stack([parsed[k] for k in self.keys], axis=-1)
            elif self.kind == "text":
                x = parsed[TEXT_EXAMPLE_KEY]
            else:
                x = tf.reshape(parsed[IMAGE_EXAMPLE_KEY], [-1, *self.shape])
            return head(x)

        spec = tf.TensorSpec((None,), tf.string, name=EXAMPLES_INPUT)
        facts = ({"description": "serialized tf.Example protos (see example_features)"},)
        name = CLASSIFY_SIGNATURE if method == CLASSIFY_METHOD else REGRESS_SIGNATURE
        about = f"TF Serving's {name.capitalize()} API over tf.Examples"
        return {name: Endpoint(serve, [spec], method, facts, described, about)}


def request_inputs(
    info: SignatureInfo, x: np.ndarray, value_range: Sequence[float] | None = None
) -> dict[str, np.ndarray]:
    """Raw inputs ``x`` (a batch) as the named inputs of the signature ``info`` describes.

    The raw tensor as it is; one ``[N]`` array per column for ``serving_features``;
    PNG bytes for ``serving_bytes`` (pixels in ``value_range``, default 0-255,
    rounded to 8 bits); serialized tf.Examples for ``classify``/``regress``.
    Warm-up records and the tests speak each signature through this.
    """
    names = [t.name for t in info.inputs]
    if info.example_features:
        from .. import tf_example

        built = tf_example.build(x, info.example_features)
        return {EXAMPLES_INPUT: np.array([e.SerializeToString() for e in built], dtype=object)}
    if names == [IMAGE_BYTES_INPUT]:
        return {IMAGE_BYTES_INPUT: encode_png(x, value_range)}
    if len(names) > 1:
        columns = np.asarray(x, dtype="float32").reshape(len(x), -1)
        return {name: columns[:, i] for i, name in enumerate(names)}
    dtype = object if info.inputs[0].dtype == "string" else info.inputs[0].dtype
    return {names[0]: np.asarray(x, dtype=dtype)}
