"""The serving contract's shared pieces: names, endpoints and the forms of a raw input.

Each task's signatures are built in ``serving/export/signatures_tasks.py``, one
function per task; :func:`endpoints` looks the model card's task up there, so
``kerasforge export`` can republish a checkpoint without training code. Here
are what those functions share: the signature, method and input names, the
:class:`Endpoint` each signature is exported from, the model's forward pass
traced once (:func:`traced_once`) and the forms a raw input may take
(``SignatureInputs``); besides, the request side of every signature
(:func:`request_inputs`) and the method names the exporter writes into
``saved_model.pb`` (:func:`write_method_names`).

Classifiers and regressors get, besides ``serving_default`` over the raw input tensor:

- image models: ``serving_bytes`` over encoded images (``image_bytes``,
  ``{"b64": ...}`` over REST), decoded, converted and resized in the graph
  (``serving.export.images``);
- tabular models: ``serving_features``, one ``[N]`` float input per column,
  named by the data's feature names (``feature_keys``);
- TF Serving's Classify / Regress APIs: ``classify`` (method
  ``tensorflow/serving/classify``: ``classes`` and ``scores``, each
  ``[N, classes]``) or ``regress`` (``tensorflow/serving/regress``:
  ``outputs``, ``[N]``; single-target models only), over serialized
  tf.Examples in ``inputs`` (``serving.server.examples``' request side).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..card import ExampleFeature, ModelCard, SignatureInfo
from ..errors import ServingError
from ..wire import CLASSIFY_METHOD, PREDICT_METHOD

DEFAULT_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "serving_bytes"
FEATURES_SIGNATURE = "serving_features"
CLASSIFY_SIGNATURE = "classify"
REGRESS_SIGNATURE = "regress"
EXAMPLES_INPUT = "inputs"
"""The serialized tf.Example input of classify/regress (TF Serving's ``kClassifyInputs``)."""
IMAGE_BYTES_INPUT = "image_bytes"
IMAGE_EXAMPLE_KEY = "pixels"
"""tf.Example key of an image: its raw pixels, ``[height, width, channels]`` flattened row-major."""
TEXT_EXAMPLE_KEY = "text"
"""tf.Example key of a text model's input: the raw string, UTF-8."""


@dataclass(frozen=True)
class Endpoint:
    """One signature to export: a function of named input tensors and its input specs.

    ``method_name`` is the SignatureDef's (TF Serving's Classify/Regress APIs check it);
    ``input_facts`` adds card facts per input (description, feature names, value range);
    ``example_features`` lists, for tf.Example signatures, the features they parse
    (as the card describes them).
    """

    fn: Callable[..., dict[str, Any]]
    input_signature: list[Any]
    method_name: str = PREDICT_METHOD
    input_facts: tuple[dict[str, Any], ...] = ()
    example_features: tuple[ExampleFeature, ...] = ()
    description: str = ""


def _raw_input_spec(model: Any) -> Any:
    import tensorflow as tf

    tensor = model.inputs[0]
    name = tensor.name.split(":")[0]
    return tf.TensorSpec((None, *tensor.shape[1:]), tf.as_dtype(tensor.dtype), name=name)


def traced_once(model: Any) -> Callable[[Any], Any]:
    """``model(x, training=False)`` as one ``tf.function`` over the raw input spec.

    A task's signatures (raw tensor, bytes or columns, tf.Examples) all end in the same
    forward pass; calling it through one function traces the model once per export,
    not once per signature, and the SavedModel holds one copy of its graph.
    """
    import tensorflow as tf

    return tf.function(lambda x: model(x, training=False), input_signature=[_raw_input_spec(model)])


def feature_keys(names: list[str] | tuple[str, ...], count: int) -> list[str]:
    """Input names and tf.Example keys for ``count`` tabular columns.

    The data's feature names, with every run of characters other than letters,
    digits and ``_`` replaced by one ``_`` (``"mean radius"`` -> ``mean_radius``,
    ``"color=red"`` -> ``color_red``); a name starting with a digit gets ``f_``
    in front; duplicates get ``_2``, ``_3``. Without names (or a count that
    does not match): ``feature_0``, ``feature_1``, ...
    """
    if len(names) != count:
        return [f"feature_{i}" for i in range(count)]
    keys: list[str] = []
    for i, name in enumerate(names):
        key = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or f"feature_{i}"
        key = f"f_{key}" if key[0].isdigit() else key
        base, n = key, 2
        while key in keys:
            key, n = f"{base}_{n}", n + 1
        keys.append(key)
    return keys


class SignatureInputs:
    """The raw input of one model and every other form a signature may take it in."""

    def __init__(self, model: Any, card: ModelCard) -> None:
        self.model, self.card = model, card
        self.spec = _raw_input_spec(model)
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

    def other_endpoints(self, head: Callable[[Any], dict[str, Any]]) -> dict[str, Endpoint]:
        """``serving_bytes`` (images) or ``serving_features`` (tabular) answering as ``head``."""
        if self.kind == "tabular":
            return {FEATURES_SIGNATURE: self._features_endpoint(head)}
        if self.kind != "image":  # sequences: the raw tensor and tf.Examples only
            return {}
        from .images import bytes_endpoint

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


def endpoints(card: ModelCard, model: Any) -> dict[str, Endpoint]:
    """The signatures ``card.task`` exports for ``model`` (``signatures_tasks.CONTRACTS``).

    Raises:
        ServingError: no serving contract is known for the card's task.
    """
    from .signatures_tasks import CONTRACTS  # it imports this module

    if card.task not in CONTRACTS:
        raise ServingError(
            f"no serving contract for task {card.task!r}; known: {', '.join(sorted(CONTRACTS))}"
        )
    return CONTRACTS[card.task](model, card)


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
        from ..server import examples

        built = examples.build(x, info.example_features)
        return {EXAMPLES_INPUT: np.array([e.SerializeToString() for e in built], dtype=object)}
    if names == [IMAGE_BYTES_INPUT]:
        from .images import encode_png

        return {IMAGE_BYTES_INPUT: encode_png(x, value_range)}
    if len(names) > 1:
        columns = np.asarray(x, dtype="float32").reshape(len(x), -1)
        return {name: columns[:, i] for i, name in enumerate(names)}
    dtype = object if info.inputs[0].dtype == "string" else info.inputs[0].dtype
    return {names[0]: np.asarray(x, dtype=dtype)}


def write_method_names(saved_model_dir: Path, methods: dict[str, str]) -> None:
    """Set each named signature's ``method_name`` in ``saved_model.pb``.

    ``tf.saved_model.save`` (under ``keras.export.ExportArchive``) writes every
    signature as ``tensorflow/serving/predict`` and has no argument for
    another; TF Serving's Classify and Regress APIs (and the embedded server)
    look for ``tensorflow/serving/classify`` / ``regress``. Only the
    SignatureDef's method name changes; ``fingerprint.pb`` is rewritten to
    match the new file.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    path = saved_model_dir / "saved_model.pb"
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(path.read_bytes())
    defs = proto.meta_graphs[0].signature_def
    for name, method in methods.items():
        defs[name].method_name = method
    path.write_bytes(proto.SerializeToString())
    try:
        from tensorflow.python.saved_model import fingerprinting_utils
    except ImportError:  # a TensorFlow without fingerprints: nothing to keep in step
        return
    fingerprinting_utils.write_fingerprint(str(saved_model_dir))
