"""TF Serving's JSON tf.Example rules (json_tensor.cc) and the REST results format."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerasforge.serving import tf_example
from kerasforge.serving.errors import ServingError
from kerasforge.serving.server import examples, json_tensor


def features(body: dict) -> list[dict]:
    request_input = examples.input_from_json(body)
    holder = request_input.example_list_with_context
    if request_input.WhichOneof("kind") == "example_list":
        holder = request_input.example_list
    return [
        {k: (f.WhichOneof("kind"), list(getattr(f, f.WhichOneof("kind")).value)) for k, f in items}
        for items in (e.features.feature.items() for e in holder.examples)
    ]


def test_values_become_the_feature_kinds_tf_serving_chooses():
    (example,) = features(
        {
            "examples": [
                {
                    "i": [1, -2],
                    "f": [1.5, 2.0],
                    "b": True,
                    "s": "seaside",
                    "raw": {"b64": "aW1hZ2U="},
                    "huge": 2**70,
                }
            ]
        }
    )
    assert example["i"] == ("int64_list", [1, -2])
    assert example["f"] == ("float_list", [1.5, 2.0])
    assert example["b"] == ("int64_list", [1])
    assert example["s"] == ("bytes_list", [b"seaside"])
    assert example["raw"] == ("bytes_list", [b"image"])
    assert example["huge"][0] == "float_list"  # RapidJSON reads it as a double


def test_context_goes_with_the_examples():
    request_input = examples.input_from_json({"context": {"c": 1}, "examples": [{"x": 2.5}]})
    assert request_input.WhichOneof("kind") == "example_list_with_context"
    (merged,) = tf_example.serialize(request_input)
    assert b"c" in merged and b"x" in merged


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"examples": [{"x": [1, 2.5]}]},
            "Unexpected element type in feature: x expecting type: int64",
        ),
        ({"examples": [{"x": [2.5, "a"]}]}, "expecting type: float"),
        ({"examples": [{"x": [[1]]}]}, "Feature: x has element with unexpected JSON type: Array"),
        ({"examples": [{"x": {"a": 1}}]}, "unexpected JSON type: Object"),
        ({"examples": [{"x": 2**63}]}, "Feature: x has uint64_t element"),
        ({"examples": [{"x": {"b64": "%%"}}]}, "Unable to base64 decode"),
        ({"context": [1], "examples": [{}]}, "Example must be JSON object but got JSON Array"),
    ],
)
def test_bad_values_get_tf_servings_messages(body, message):
    with pytest.raises(ServingError, match=message.replace("(", r"\(")) as info:
        examples.input_from_json(body)
    assert info.value.status == 400


def test_results_are_written_as_tf_serving_writes_them():
    outputs = {
        "classes": np.array([[b"cat", b"dog"]], dtype=object),
        "scores": np.array([[0.25, 0.75]], np.float32),
    }
    assert json.loads(examples.results_json(examples.CLASSIFY_METHOD, outputs)) == {
        "results": [[["cat", 0.25], ["dog", 0.75]]]
    }
    regress = {"outputs": np.array([[0.1], [np.nan]], np.float32)}
    assert examples.results_json(examples.REGRESS_METHOD, regress) == b'{"results":[0.1,NaN]}'
    nan = {"outputs": np.array([np.nan, np.inf, 0.1], np.float32)}
    assert json_tensor.dumps_plain(nan) == b'{"outputs":[NaN,Infinity,0.1]}'
