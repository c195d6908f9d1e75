"""The skew check's input side: what the export's in-graph preprocessing hands the model.

Every signature other than the raw tensor's (``serving_features``' columns, ``serving_bytes``'
encoded images, ``classify``/``regress``'s tf.Examples) turns its request into the model's
raw input inside the graph, then runs the model's one traced forward pass
(``signatures.traced_once``). Here the exported SavedModel is loaded, each such signature's
graph is cut just before that forward pass, and the tensor it receives is computed for a
sample of the training split, sent in that signature's own request form
(``input_forms.request_inputs``). Its monitored input features (``monitoring/features.py``:
each column, each image channel, the text's words) must be distributed as the training
split that fed the model during training. A column stacked in the wrong order, a
different pixel scale or a decoder that shifts intensities fails the publish naming the
feature and the signature.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..card import ModelCard, SignatureInfo
from ..monitoring.features import input_features
from .input_forms import request_inputs
from .signatures import IMAGE_BYTES_INPUT, feature_keys


def preprocessed_inputs(
    loaded: Any, signatures: dict[str, SignatureInfo], card: ModelCard, x: Any
) -> dict[str, np.ndarray]:
    """Each signature's model input for ``x`` sent in that signature's request form
    (``loaded``: the exported SavedModel, loaded).

    Returns:
        ``{signature: the raw tensor its graph feeds the forward pass}`` for every signature
        that preprocesses its request into a forward pass taking ``x``'s shape (not the raw
        tensor's own signature; not a generator's, whose forward pass takes noise).
    """
    import tensorflow as tf

    x = np.asarray(x)
    found = {}
    for name, info in signatures.items():
        restored = getattr(loaded, name, None)
        if restored is None or not info.inputs:
            continue
        cut = _cut_before_forward(restored, x)
        if cut is None:
            continue
        request = _training_request(info, x, card)
        found[name] = np.asarray(cut(*[tf.constant(request[t.name]) for t in info.inputs]))
    return found


def as_sent(info: SignatureInfo, x: np.ndarray, card: ModelCard) -> np.ndarray:
    """The raw inputs ``x`` as the signature's request form can carry them: pixels rounded
    to the 8 bits of an encoded image for ``serving_bytes``, anything else as it is."""
    if [t.name for t in info.inputs] != [IMAGE_BYTES_INPUT]:
        return x
    low, high = (float(v) for v in (card.data.get("value_range") or (0.0, 255.0)))
    levels = np.clip(np.round((x.astype("float64") - low) * (255.0 / (high - low))), 0, 255)
    return (low + levels * ((high - low) / 255.0)).astype("float32")


def _training_request(info: SignatureInfo, x: np.ndarray, card: ModelCard) -> dict[str, Any]:
    """``x`` in the signature's request form, each column under the key the training
    data's feature names give it (not the export's order of its inputs)."""
    request = request_inputs(info, x, card.data.get("value_range"))
    if len(info.inputs) > 1:
        columns = x.reshape(len(x), -1).astype("float32")
        keys = feature_keys(list(card.data.get("feature_names") or []), columns.shape[1])
        request = {key: columns[:, i] for i, key in enumerate(keys)}
    return request


def input_feature_arrays(x: Any, card: ModelCard) -> dict[str, np.ndarray]:
    """The monitored input features of a batch of the model's raw inputs."""
    kind = card.data.get("inputs", "image" if np.ndim(x) == 4 else "tabular")
    return input_features(x, kind, card.data.get("feature_names") or ())


def _cut_before_forward(restored: Any, x: np.ndarray) -> Any | None:
    """A function of ``restored``'s inputs returning the tensor its forward pass receives.

    The forward pass is the call in the signature's graph whose first input has the raw
    input's dtype and rank ``x.ndim``; a signature with none (or several) is left out.
    """
    import tensorflow as tf
    from tensorflow.python.eager import wrap_function

    concrete = restored.concrete_functions[0]
    graph = concrete.graph
    dtype = tf.string if x.dtype.kind in "OSU" else tf.float32
    calls = [
        op
        for op in graph.get_operations()
        if op.type in ("StatefulPartitionedCall", "PartitionedCall")
        and op.inputs
        and op.inputs[0].dtype == dtype
        and op.inputs[0].shape.rank == x.ndim
        and op.inputs[0].shape[1:].is_compatible_with(x.shape[1:])
    ]
    if len(calls) != 1:
        return None
    feeds = graph.inputs[: len(tf.nest.flatten(concrete.structured_input_signature))]
    if any(calls[0].inputs[0] is t for t in feeds):
        return None  # the raw tensor's own signature: no preprocessing in the graph
    wrapped = wrap_function.WrappedFunction(graph, variable_holder=None)
    return wrapped.prune(feeds=feeds, fetches=calls[0].inputs[0])
