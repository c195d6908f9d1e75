"""tf.Example requests without a server: raw inputs to tf.Examples, and a request's examples
serialized as a classify or regress signature takes them.

The exporter's warm-up records, the request side of every signature (``export.input_forms``)
and the embedded server's Classify and Regress calls (``server.examples``) share these.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tensorflow.core.example import example_pb2

from .errors import ServingError


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
    key per column of a tabular ``x`` (each a one-value ``float_list``), one
    key holding an image's pixels flattened row-major, or a text model's one
    ``bytes`` key holding each string of ``x`` (UTF-8).

    Example:
        >>> info = read_card(version_dir).signature("classify")
        >>> build(x_test[:2], info.example_features)[0].features.feature["pixels"]
    """
    if [f.dtype for f in features] == ["bytes"]:
        return [_text_example(features[0].key, text) for text in np.asarray(x).reshape(-1)]
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


def _text_example(key: str, text: Any) -> example_pb2.Example:
    example = example_pb2.Example()
    value = text if isinstance(text, bytes) else str(text).encode()
    example.features.feature[key].bytes_list.value.append(value)
    return example


def merge(context: example_pb2.Example, example: example_pb2.Example) -> bytes:
    """``example`` with ``context``'s features added (its own take precedence), serialized."""
    merged = example_pb2.Example()
    merged.CopyFrom(context)
    for key, feature in example.features.feature.items():
        merged.features.feature[key].CopyFrom(feature)
    return merged.SerializeToString()
