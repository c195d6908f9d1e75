"""The request path's signature call (``serving/server/invoke.py``): the flat entry and the inline
executor where a signature allows them, the public call and TensorFlow's default executor
where it does not; the same answers either way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from kerasforge.serving.errors import ServingError
from kerasforge.serving.server import invoke, predict

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

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.float32, name="zeta"),
            tf.TensorSpec([None], tf.float32, name="alpha"),
            tf.TensorSpec([None], tf.int64, name="mid"),
        ]
    )
    def three(self, zeta, alpha, mid):
        return {"out": zeta * 100.0 + alpha * 10.0 + tf.cast(mid, tf.float32)}

    @tf.function(input_signature=[SPEC])
    def lookup(self, x):
        return {"y": tf.gather(self.w, tf.cast(x[:, 0], tf.int32))}


@pytest.fixture(scope="module")
def signatures(tmp_path_factory: pytest.TempPathFactory) -> dict:
    module = _Module()
    path = Path(tmp_path_factory.mktemp("predict")) / "1"
    names = ("dense", "branch", "rows", "three", "lookup")
    tf.saved_model.save(
        module, str(path), signatures={n: getattr(module, n).get_concrete_function() for n in names}
    )
    loaded = tf.saved_model.load(str(path))
    return {"loaded": loaded, **{n: loaded.signatures[n] for n in names}}


X = np.array([[1.0, -2.0, 3.0], [0.5, 0.5, 0.5]], dtype=np.float32)


def test_graphs_without_control_flow_run_inline(signatures: dict) -> None:
    assert invoke.plan(signatures["dense"]).inline
    assert invoke.plan(signatures["lookup"]).inline
    assert not invoke.plan(signatures["branch"]).inline  # tf.cond
    assert not invoke.plan(signatures["rows"]).inline  # tf.map_fn: a while loop


def test_flat_inputs_follow_the_graph_inputs_order(signatures: dict) -> None:
    three = signatures["three"]
    flat = invoke.plan(three).flat_inputs
    assert flat == (
        ("alpha", np.dtype("float32"), (None,)),
        ("mid", np.dtype("int64"), (None,)),
        ("zeta", np.dtype("float32"), (None,)),
    )
    assert [t.name for t in three.inputs[:3]] == ["alpha:0", "mid:0", "zeta:0"]
    arrays = {
        "zeta": np.array([1.0, 4.0], "float32"),
        "alpha": np.array([2.0, 5.0], "float32"),
        "mid": np.array([3, 6], "int64"),
    }
    np.testing.assert_array_equal(predict.run(three, arrays)["out"], [123.0, 456.0])


@pytest.mark.parametrize(
    "x",
    [X.astype(np.float64), X[:, :2], X[0]],
    ids=["float64 for float32", "2 columns for 3", "rank 1 for rank 2"],
)
def test_what_does_not_fit_the_spec_goes_to_the_public_call_and_its_checks(
    signatures: dict, x: np.ndarray
) -> None:
    """TensorFlow refuses them (what it raises is its own); nothing runs on a wrong input."""
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
        invoke.call(signatures["dense"], {"x": x})


@pytest.mark.parametrize("name", ["dense", "branch", "rows", "lookup"])
def test_answers_equal_the_plain_signature_call(signatures: dict, name: str) -> None:
    expected = signatures[name](x=tf.constant(X if name != "lookup" else X % 3))
    outputs = predict.run(signatures[name], {"x": X if name != "lookup" else X % 3})
    assert set(outputs) == set(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(outputs[key], value.numpy())


def test_a_graph_the_inline_executor_refuses_falls_back_for_good(signatures: dict) -> None:
    """Were the control-flow check wrong, the call is retried on the default executor, whose
    answer is returned, and the signature is not tried inline again."""
    branch = signatures["branch"]
    invoke._PLANS[branch] = invoke.Plan(True, invoke.plan(branch).flat_inputs)
    try:
        outputs = predict.run(branch, {"x": X})
        assert invoke.plan(branch).inline is False
    finally:
        invoke._PLANS.pop(branch, None)
    np.testing.assert_allclose(outputs["y"], branch(x=tf.constant(X))["y"].numpy())


def test_values_the_graph_refuses_are_a_client_error_inline_too(signatures: dict) -> None:
    assert invoke.plan(signatures["lookup"]).inline
    with pytest.raises(ServingError, match=r"indices\[0\] = 7 is not in \[0, 3\)") as info:
        predict.run(signatures["lookup"], {"x": X + 6})
    assert info.value.status == 400


F32 = np.dtype("float32")


@pytest.mark.parametrize(
    ("array", "dtype", "shape", "fits"),
    [
        (X, F32, (None, 3), True),
        (X, F32, (2, 3), True),
        (X.astype(np.float64), F32, (None, 3), False),
        # shapes are the graph's to refuse (predict_util.cc RunPredict -> Session::Run, which
        # holds no feed to the declared shape): the right dtype takes the flat entry
        (X[:, :2], F32, (None, 3), True),
        (X[0], F32, (None, 3), True),
        (np.array([b"a", b"b"], dtype=object), None, (None,), True),
        (np.array(["a"]), None, (None,), True),
        (np.array([1.0], "float32"), None, (None,), False),
        (np.array(2.0, "float32"), F32, (), True),
        (None, F32, (None, 3), False),
        ([[1.0, 2.0, 3.0]], F32, (None, 3), False),  # not an array: the public call converts
    ],
)
def test_an_array_of_the_input_s_dtype_takes_the_flat_entry(array, dtype, shape, fits) -> None:
    assert invoke._fits(array, dtype, shape) is fits


def test_a_loaded_signature_s_captures_are_resolved_once(signatures: dict) -> None:
    dense = signatures["dense"]
    captures = invoke.plan(dense).captures
    assert captures is not None
    assert [c.ref() for c in captures] == [c.ref() for c in dense.captured_inputs]
    signatures["loaded"].w.assign([[3.0], [2.0], [1.0]])  # values move, handles stay
    try:
        expected = dense(x=tf.constant(X))["y"].numpy()
        np.testing.assert_array_equal(predict.run(dense, {"x": X})["y"], expected)
        np.testing.assert_array_equal(expected, [[2.0], [3.0]])  # relu(3 - 4 + 3), 1.5 + 1 + 0.5
    finally:
        signatures["loaded"].w.assign([[1.0], [2.0], [3.0]])


def test_distributed_variables_are_looked_up_per_call(signatures: dict, tmp_path: Path) -> None:
    """Loaded under a strategy, a capture is a replica's handle picked per call."""
    path = tmp_path / "1"
    module = _Module()
    tf.saved_model.save(module, str(path), signatures={"dense": module.dense})
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        dense = tf.saved_model.load(str(path)).signatures["dense"]
    assert any(getattr(c, "is_distributed_variable", False) for c in dense.captured_inputs)
    assert invoke.plan(dense).captures is None
    expected = signatures["dense"](x=tf.constant(X))["y"].numpy()
    np.testing.assert_array_equal(predict.run(dense, {"x": X})["y"], expected)


def test_deferred_captures_are_resolved_per_call() -> None:
    scale = tf.Variable(5.0)

    @tf.function(input_signature=[SPEC])
    def scaled(x):
        graph = tf.compat.v1.get_default_graph()
        value = graph.capture_call_time_value(scale.read_value, tf.TensorSpec([], tf.float32))
        return {"y": x * value}

    function = scaled.get_concrete_function()
    assert invoke.plan(function).captures is None
    np.testing.assert_array_equal(predict.run(function, {"x": X})["y"], X * 5.0)
    scale.assign(7.0)
    np.testing.assert_array_equal(predict.run(function, {"x": X})["y"], X * 7.0)


def test_the_thread_s_executor_is_restored_after_an_inline_call(signatures: dict) -> None:
    from tensorflow.python.eager import context

    options = context.context().function_call_options
    before = options.executor_type
    predict.run(signatures["dense"], {"x": X})
    assert options.executor_type == before
    with pytest.raises(ServingError):  # restored when the graph refuses the values too
        predict.run(signatures["lookup"], {"x": X + 6})
    assert context.context().function_call_options.executor_type == before
    assert signatures["branch"](x=tf.constant(X))["y"].shape == (2, 1)  # control flow still runs


def test_numeric_inputs_become_host_tensors_strings_constants(monkeypatch) -> None:
    tensor = invoke._host_tensor(X, np.dtype("float32"))
    assert tensor.device.endswith("CPU:0")
    np.testing.assert_array_equal(tensor.numpy(), X)
    words = np.array([b"a", b"bc"], dtype=object)
    assert invoke._host_tensor(words, None).numpy().tolist() == [b"a", b"bc"]
    monkeypatch.setattr(invoke, "_eager_tensor_type", lambda: None)  # a TensorFlow without it
    np.testing.assert_array_equal(invoke._host_tensor(X, np.dtype("float32")).numpy(), X)


def test_a_flat_dict_signature_is_called_through_its_graph_function(signatures: dict) -> None:
    """The direct call names the flat outputs in the graph function's order (sorted keys,
    as ``tf.nest`` flattens a dict); a wrong order would swap ``ids`` and ``y``."""
    dense = signatures["dense"]
    direct = invoke.plan(dense).direct
    assert direct is not None and direct.outputs == ("ids", "y")
    outputs = invoke.call(dense, {"x": X})
    expected = dense(x=tf.constant(X))
    assert outputs["ids"].dtype == tf.int64 and outputs["y"].dtype == tf.float32
    for key in ("ids", "y"):
        np.testing.assert_array_equal(outputs[key].numpy(), expected[key].numpy())


def test_under_a_gradient_tape_the_public_flat_entry_runs(signatures: dict) -> None:
    x = tf.constant(X)
    assert invoke._nothing_records()
    with tf.GradientTape() as tape:
        tape.watch(x)
        assert not invoke._nothing_records()
        outputs = invoke.call(signatures["dense"], {"x": X})
    np.testing.assert_array_equal(outputs["y"].numpy(), [[6.0], [3.0]])
