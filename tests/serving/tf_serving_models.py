"""TF Serving's own test models, built here with TensorFlow as its testdata scripts describe them.

``tensorflow_serving/servables/tensorflow/testdata/saved_model_half_plus_two.py`` builds
``y = a*x + b`` (``a=0.5``, ``b=2``; ``y2 = a*x + c`` and ``y3 = a2*x2 + c2`` with ``c=3``)
twice: as a TF1 graph written by ``SavedModelBuilder`` (five signatures: predict
``serving_default``, ``regress_x_to_y``, ``regress_x_to_y2``, ``regress_x2_to_y3``,
``classify_x_to_y``) and as a TF2 ``tf.Module`` saved by ``tf.saved_model.save`` (those
five and ``classify_x2_to_y3``). ``saved_model_half_plus_three/00000123`` (used by ``api_rest.md``)
is the TF1 graph with ``b=3`` in a zero-padded version folder, with the two signatures
its ``saved_model.pb`` holds: ``serving_default`` and ``tensorflow/serving/regress``.

Each function writes ``<root>/<name>/<version>/`` and returns the version folder;
``version`` is the folder's name as written (``"00000123"`` keeps its zeros).

Example:
    >>> half_plus_two(tmp_path)  # tmp_path/half_plus_two/1/saved_model.pb
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

v1 = tf.compat.v1

PREDICT_INPUT, PREDICT_OUTPUT = "x", "y"


def _feature_spec() -> dict[str, object]:
    """The script's tf.Example features: ``x`` (required) and ``x2`` (default 0)."""
    return {
        "x": v1.FixedLenFeature([1], dtype=tf.float32),
        "x2": v1.FixedLenFeature([1], dtype=tf.float32, default_value=[0.0]),
    }


def _signature(inputs: dict, outputs: dict, method: str) -> object:
    info = v1.saved_model.utils.build_tensor_info
    return v1.saved_model.signature_def_utils.build_signature_def(
        {k: info(t) for k, t in inputs.items()}, {k: info(t) for k, t in outputs.items()}, method
    )


def _tf1_graph_model(export_dir: Path, offset: float, api_rest_signatures: bool = False) -> Path:
    """The TF1 half-plus-``offset`` graph and its five signatures, as the script writes it
    (``api_rest_signatures``: the two of TF Serving's ``saved_model_half_plus_three``)."""
    constants = v1.saved_model.signature_constants
    builder = v1.saved_model.builder.SavedModelBuilder(str(export_dir))
    with v1.Session(graph=tf.Graph()) as sess:
        a = v1.Variable(0.5, name="a")
        b = v1.Variable(offset, name="b")
        c = v1.Variable(3.0, name="c")
        serialized = v1.placeholder(tf.string, name="tf_example", shape=[None])
        parsed = v1.parse_example(serialized, _feature_spec())
        x = tf.identity(parsed["x"], name="x")
        y = tf.identity(tf.add(tf.multiply(a, x), b), name="y")
        y2 = tf.identity(tf.add(tf.multiply(a, x), c), name="y2")
        x2 = tf.identity(parsed["x2"], name="x2")
        a2 = v1.Variable(0.5, name="a2")
        c2 = v1.Variable(3.0, name="c2")
        y3 = tf.identity(tf.add(tf.multiply(a2, x2), c2), name="y3")
        regress, classify = constants.REGRESS_METHOD_NAME, constants.CLASSIFY_METHOD_NAME
        signatures = {
            "regress_x_to_y": _signature({"inputs": serialized}, {"outputs": y}, regress),
            "regress_x_to_y2": _signature({"inputs": serialized}, {"outputs": y2}, regress),
            "regress_x2_to_y3": _signature({"inputs": x2}, {"outputs": y3}, regress),
            "classify_x_to_y": _signature({"inputs": serialized}, {"scores": y}, classify),
            constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY: _signature(
                {PREDICT_INPUT: x}, {PREDICT_OUTPUT: y}, constants.PREDICT_METHOD_NAME
            ),
        }
        if api_rest_signatures:
            signatures = {
                "serving_default": signatures["serving_default"],
                regress: signatures["regress_x_to_y"],
            }
        sess.run(v1.global_variables_initializer())
        builder.add_meta_graph_and_variables(
            sess, [v1.saved_model.tag_constants.SERVING], signature_def_map=signatures
        )
    builder.save()
    return export_dir


def half_plus_two(root: str | Path, version: str = "1", name: str = "half_plus_two") -> Path:
    """TF Serving's TF1 ``saved_model_half_plus_two_cpu``: ``y = 0.5 * x + 2``."""
    return _tf1_graph_model(Path(root) / name / version, offset=2.0)


def half_plus_three(
    root: str | Path, version: str = "00000123", name: str = "saved_model_half_plus_three"
) -> Path:
    """TF Serving's ``saved_model_half_plus_three/00000123``: ``y = 0.5 * x + 3`` (TF1)."""
    return _tf1_graph_model(Path(root) / name / version, offset=3.0, api_rest_signatures=True)


class _HalfPlusTwo(tf.Module):
    """The script's native TF2 model (``HalfPlusTwoModel``)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = tf.Variable(0.5, name="a")
        self.b = tf.Variable(2.0, name="b")
        self.c = tf.Variable(3.0, name="c")

    def _parse_x(self, serialized: tf.Tensor) -> tf.Tensor:
        return v1.parse_example(serialized, _feature_spec())["x"]

    @tf.function(input_signature=[tf.TensorSpec([1], tf.float32)])
    def predict(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"y": self.a * x + self.b}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress_xy(self, serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"outputs": self.a * self._parse_x(serialized) + self.b}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress_xy2(self, serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"outputs": self.a * self._parse_x(serialized) + self.c}

    @tf.function(input_signature=[tf.TensorSpec([1], tf.float32, name="inputs")])
    def regress_x2y3(self, x2: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"outputs": self.a * x2 + self.c}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify_xy(self, serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"scores": self.a * self._parse_x(serialized) + self.b}

    @tf.function(input_signature=[tf.TensorSpec([1], tf.float32, name="inputs")])
    def classify_x2y3(self, x2: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"scores": self.a * x2 + self.c}


def tf2_half_plus_two(
    root: str | Path, version: str = "1", name: str = "saved_model_half_plus_two_tf2"
) -> Path:
    """TF Serving's ``saved_model_half_plus_two_tf2_cpu``: ``tf.saved_model.save`` of a
    ``tf.Module`` with six signatures, each of method ``tensorflow/serving/predict``."""
    model = _HalfPlusTwo()
    signatures = {
        "serving_default": model.predict,
        "regress_x_to_y": model.regress_xy,
        "regress_x_to_y2": model.regress_xy2,
        "regress_x2_to_y3": model.regress_x2y3,
        "classify_x_to_y": model.classify_xy,
        "classify_x2_to_y3": model.classify_x2y3,
    }
    export_dir = Path(root) / name / version
    tf.saved_model.save(model, str(export_dir), signatures=signatures)
    return export_dir


def two_versions(root: str | Path, name: str = "half_plus_n") -> tuple[Path, Path]:
    """One model, two versions: ``1`` is half-plus-two, ``2`` half-plus-three (both TF1)."""
    return half_plus_two(root, "1", name), half_plus_three(root, "2", name)
