"""tf.Example inputs and results of TF Serving's Classify and Regress APIs.

A request's ``Input`` holds an ``example_list`` or an ``example_list_with_context``
(each example gets the context's features, the example's own winning on a
clash); the model's classify/regress signature takes them serialized, under
one string input. Results follow ``classification.proto``/``regression.proto``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import classification_pb2, regression_pb2

from kerasforge.serving.errors import ServingError


def serialize(request_input: Any) -> np.ndarray:
    """The request's examples, serialized, as a 1-D object array of bytes.

    Raises:
        ServingError: no examples (INVALID_ARGUMENT / HTTP 400).
    """
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        found = [e.SerializeToString() for e in request_input.example_list.examples]
    elif kind == "example_list_with_context":
        with_context = request_input.example_list_with_context
        found = [merge(with_context.context, e) for e in with_context.examples]
    else:
        found = []
    if not found:
        raise ServingError("Input is empty: expected at least one tf.Example in 'examples'")
    array = np.empty(len(found), dtype=object)
    array[:] = found
    return array


def build(x: np.ndarray, features: list[Any]) -> list[example_pb2.Example]:
    """One tf.Example per row of raw inputs ``x``, keyed as a signature's ``example_features``.

    ``features`` is the card's list (``SignatureInfo.example_features``): one
    key per column of a tabular ``x`` (each a one-value ``float_list``), or
    one key holding an image's pixels flattened row-major.

    Example:
        >>> info = read_card(version_dir).signature("classify")
        >>> build(x_test[:2], info.example_features)[0].features.feature["pixels"]
    """
    rows = np.asarray(x, dtype="float32").reshape(len(x), -1)
    sizes = [int(np.prod(f.shape)) for f in features]
    if sum(sizes) != rows.shape[1]:
        raise ValueError(
            f"examples: the features {[f.key for f in features]} hold {sum(sizes)} values; "
            f"each input holds {rows.shape[1]}"
        )
    found = []
    for row in rows:
        example, start = example_pb2.Example(), 0
        for feature, size in zip(features, sizes, strict=True):
            values = row[start : start + size].tolist()
            example.features.feature[feature.key].float_list.value.extend(values)
            start += size
        found.append(example)
    return found


def merge(context: example_pb2.Example, example: example_pb2.Example) -> bytes:
    """``example`` with ``context``'s features added (its own take precedence), serialized."""
    merged = example_pb2.Example()
    merged.CopyFrom(context)
    for key, feature in example.features.feature.items():
        merged.features.feature[key].CopyFrom(feature)
    return merged.SerializeToString()


def classification_result(outputs: dict[str, np.ndarray]) -> Any:
    """A ``ClassificationResult`` from a classify signature's ``classes``/``scores``."""
    classes, scores = outputs.get("classes"), outputs.get("scores")
    if classes is None and scores is None:
        raise ServingError("classify signature has neither 'classes' nor 'scores' output")
    rows = len(scores if scores is not None else classes)
    result = classification_pb2.ClassificationResult()
    for i in range(rows):
        row = result.classifications.add()
        width = (scores if scores is not None else classes).reshape(rows, -1).shape[1]
        for j in range(width):
            item = row.classes.add()
            if classes is not None:
                value = classes.reshape(rows, -1)[i, j]
                item.label = value.decode() if isinstance(value, bytes) else str(value)
            if scores is not None:
                item.score = float(scores.reshape(rows, -1)[i, j])
    return result


def regression_result(outputs: dict[str, np.ndarray]) -> Any:
    """A ``RegressionResult`` from a regress signature's ``outputs`` (``[N]`` or ``[N, 1]``)."""
    if "outputs" not in outputs:
        raise ServingError(f"regress signature has no 'outputs' output: {sorted(outputs)}")
    values = outputs["outputs"]
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ServingError(
            f"Expected output Tensor shape to be [N] or [N, 1]: {list(values.shape)}"
        )
    result = regression_pb2.RegressionResult()
    for value in values:
        result.regressions.add().value = float(value)
    return result
