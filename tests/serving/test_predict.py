"""The request path's signature call (``serving/predict.py``): the inline executor where a
graph allows it, TensorFlow's default executor where it does not, the same answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from kerasforge.serving import predict
from kerasforge.serving.errors import ServingError

SPEC = tf.TensorSpec([None, 3], tf.float32, name="x")


class _Module(tf.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = tf.Variable([[1.0], [2.0], [3.0]])

    @tf.function(input_signature=[SPEC])
    def dense(self, x):
        return {"y": tf.nn.relu(tf.matmul(x, self.w)), "ids": tf.argmax(x, axis=-1)}

    @tf.function(input_signature=[SPEC])
    def branch(self, x):
        y = tf.cond(tf.reduce_sum(x) > 0, lambda: x * 2.0, lambda: -x)
        return {"y": tf.matmul(y, self.w)}

    @tf.function(input_signature=[SPEC])
    def rows(self, x):
        return {"y": tf.map_fn(lambda row: tf.reduce_sum(row * row), x)}

    @tf.function(input_signature=[SPEC])
    def lookup(self, x):
        return {"y": tf.gather(self.w, tf.cast(x[:, 0], tf.int32))}


@pytest.fixture(scope="module")
def signatures(tmp_path_factory: pytest.TempPathFactory) -> dict:
    module = _Module()
    path = Path(tmp_path_factory.mktemp("predict")) / "1"
    names = ("dense", "branch", "rows", "lookup")
    tf.saved_model.save(
        module, str(path), signatures={n: getattr(module, n).get_concrete_function() for n in names}
    )
    loaded = tf.saved_model.load(str(path))
    return {"loaded": loaded, **{n: loaded.signatures[n] for n in names}}


X = np.array([[1.0, -2.0, 3.0], [0.5, 0.5, 0.5]], dtype=np.float32)


def test_graphs_without_control_flow_run_inline(signatures: dict) -> None:
    assert predict.runs_inline(signatures["dense"])
    assert predict.runs_inline(signatures["lookup"])
    assert not predict.runs_inline(signatures["branch"])  # tf.cond
    assert not predict.runs_inline(signatures["rows"])  # tf.map_fn: a while loop


@pytest.mark.parametrize("name", ["dense", "branch", "rows"])
def test_answers_equal_the_plain_signature_call(signatures: dict, name: str) -> None:
    expected = signatures[name](x=tf.constant(X))
    outputs = predict.run(signatures[name], {"x": X})
    assert set(outputs) == set(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(outputs[key], value.numpy())


def test_a_graph_the_inline_executor_refuses_falls_back_for_good(signatures: dict) -> None:
    """Were the control-flow check wrong, the call is retried on the default executor, whose
    answer is returned, and the signature is not tried inline again."""
    branch = signatures["branch"]
    predict._INLINE[branch] = True
    try:
        outputs = predict.run(branch, {"x": X})
        assert predict._INLINE[branch] is False
    finally:
        predict._INLINE.pop(branch, None)
    np.testing.assert_allclose(outputs["y"], branch(x=tf.constant(X))["y"].numpy())


def test_values_the_graph_refuses_are_a_client_error_inline_too(signatures: dict) -> None:
    assert predict.runs_inline(signatures["lookup"])
    with pytest.raises(ServingError, match=r"indices\[0\] = 7 is not in \[0, 3\)") as info:
        predict.run(signatures["lookup"], {"x": X + 6})
    assert info.value.status == 400
