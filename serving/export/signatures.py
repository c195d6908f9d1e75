"""The shared pieces of every task's signatures: names, the endpoint, the traced forward pass.

Each task builds its signatures in its serving contract
(``pipelines/tasks/<task>/contract.py``, ``endpoints``), from what is here: the signature,
method and input names, the :class:`Endpoint` each signature is exported from, the model's
forward pass traced once (:func:`traced_once`), the keys of tabular columns
(:func:`feature_keys`) and the method names the exporter writes into ``saved_model.pb``
(:func:`write_method_names`). The forms a raw input may take (bytes, columns, tf.Examples)
are in ``input_forms.py``; the contract of a card's task is found by ``contracts.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..card import PIXELS_SIGNATURE as PIXELS_SIGNATURE  # named by the card (no TensorFlow)
from ..card import ExampleFeature
from ..wire import PREDICT_METHOD

DEFAULT_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "serving_bytes"
FEATURES_SIGNATURE = "serving_features"
CLASSIFY_SIGNATURE = "classify"
REGRESS_SIGNATURE = "regress"
EXAMPLES_INPUT = "inputs"
"""The serialized tf.Example input of classify/regress (TF Serving's ``kClassifyInputs``)."""
IMAGE_BYTES_INPUT = "image_bytes"
ENCODED_IMAGES = "encoded"
"""``export.image_input`` (the card's ``image_input``) that makes ``serving_default`` take
encoded images."""
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


def raw_input_spec(model: Any) -> Any:
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

    return tf.function(lambda x: model(x, training=False), input_signature=[raw_input_spec(model)])


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
