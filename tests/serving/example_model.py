"""A tiny SavedModel with TF Serving's classify, regress and predict signatures.

Written with ``tf.saved_model.save`` (every signature comes out as ``predict``);
the classify and regress method names are then set in ``saved_model.pb``, as an
exporter does. Each version answers differently, so a test can tell which
version served a request: ``regress`` returns ``sum(x) + version - 1`` and
``predict`` returns ``x * version``.
"""

from __future__ import annotations

from pathlib import Path

from kerasforge.serving.wire import CLASSIFY_METHOD, REGRESS_METHOD


def save_example_model(path: Path, version: int = 1) -> Path:
    """Write the model to ``path`` (a version directory); returns ``path``.

    Signatures: ``serving_default`` (classify: ``inputs`` serialized tf.Examples
    with feature ``x``, two floats -> ``classes`` cat/dog and their softmax
    ``scores``), ``regress`` (-> ``outputs``) and ``predict`` (``x`` float32
    ``[N, 2]`` -> ``y``).
    """
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    features = {"x": tf.io.FixedLenFeature([2], tf.float32)}
    offset = float(version - 1)

    class Examples(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify(self, inputs):
            x = tf.io.parse_example(inputs, features)["x"]
            classes = tf.tile(tf.constant([["cat", "dog"]]), [tf.shape(x)[0], 1])
            return {"classes": classes, "scores": tf.nn.softmax(x)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress(self, inputs):
            x = tf.io.parse_example(inputs, features)["x"]
            return {"outputs": tf.reduce_sum(x, axis=-1) + offset}

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def predict(self, x):
            return {"y": x * float(version)}

    module = Examples()
    signatures = {
        "serving_default": module.classify.get_concrete_function(),
        "regress": module.regress.get_concrete_function(),
        "predict": module.predict.get_concrete_function(),
    }
    tf.saved_model.save(module, str(path), signatures=signatures)
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    defs = proto.meta_graphs[0].signature_def
    defs["serving_default"].method_name = CLASSIFY_METHOD
    defs["regress"].method_name = REGRESS_METHOD
    (path / "saved_model.pb").write_bytes(proto.SerializeToString())
    return path
