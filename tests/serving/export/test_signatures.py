"""Every exported signature: its SignatureDef as TF Serving reads it, and skew against Keras.

Three tiny untrained models are published: the digits CNN (image
classification), an MLP on breast cancer (tabular classification) and one on
diabetes (regression). The same raw inputs go through the Keras model (its
training-time preprocessing is inside it) and through each signature of the
loaded SavedModel in that signature's own format (raw tensor, named columns,
encoded PNG, serialized tf.Examples); they agree within 1e-5.
"""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest

from kerasforge.serving import tf_example, wire
from kerasforge.serving.export.input_forms import request_inputs
from kerasforge.serving.export.signatures import feature_keys
from tests.conftest import ROOT, ServerProcess, publish_untrained

pytestmark = pytest.mark.heavy  # exports, servers or training in its fixtures

TOLERANCE = 1e-5
DT_FLOAT, DT_STRING, DT_INT64 = 1, 7, 9


@pytest.fixture(scope="module")
def tabular(tmp_path_factory):
    out = tmp_path_factory.mktemp("cancer")
    return publish_untrained(ROOT / "configs" / "breast_cancer_mlp.yaml", [], out, tflite=False)


@pytest.fixture(scope="module")
def regression(published_once):
    return published_once(ROOT / "configs" / "diabetes_mlp.yaml", [], tflite=False)


def signature_defs(version) -> dict:
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((version / "saved_model.pb").read_bytes())
    defs = proto.meta_graphs[0].signature_def
    return {k: v for k, v in defs.items() if not k.startswith("__")}  # not the init op


def shape_of(info) -> list[int]:
    return [d.size for d in info.tensor_shape.dim]


def loaded_signatures(version) -> dict:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(version))
    return {"owner": loaded, **loaded.signatures}


def call(signature, **arrays) -> dict[str, np.ndarray]:
    import tensorflow as tf

    outputs = signature(**{k: tf.constant(v) for k, v in arrays.items()})
    return {k: v.numpy() for k, v in outputs.items()}


def serialized(x: np.ndarray, card, name: str) -> np.ndarray:
    return request_inputs(card.signature(name), x)["inputs"]


def png(pixels: np.ndarray, mode: str = "L") -> bytes:
    """Pillow's PNG of 0-255 grey ``pixels`` ``[h, w, 1]``, stored as ``mode``."""
    from PIL import Image

    image = Image.fromarray(pixels[..., 0].astype(np.uint8), mode="L").convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_image_classifier_signature_defs(published):
    defs = signature_defs(published.published.path)
    assert sorted(defs) == ["classify", "serving_bytes", "serving_default"]
    default = defs["serving_default"]
    assert default.method_name == "tensorflow/serving/predict"
    assert {k: v.dtype for k, v in default.inputs.items()} == {"pixels": DT_FLOAT}
    assert {k: v.dtype for k, v in default.outputs.items()} == {
        "class_ids": DT_INT64,
        "classes": DT_STRING,
        "probabilities": DT_FLOAT,
    }
    assert shape_of(default.outputs["classes"]) == [-1]
    image = defs["serving_bytes"]
    assert {k: v.dtype for k, v in image.inputs.items()} == {"image_bytes": DT_STRING}
    assert set(image.outputs) == set(default.outputs)
    classify = defs["classify"]  # what TF Serving's classifier.cc checks
    assert classify.method_name == "tensorflow/serving/classify"
    assert {k: v.dtype for k, v in classify.inputs.items()} == {"inputs": DT_STRING}
    assert shape_of(classify.inputs["inputs"]) == [-1]
    assert {k: v.dtype for k, v in classify.outputs.items()} == {
        "classes": DT_STRING,
        "scores": DT_FLOAT,
    }
    assert shape_of(classify.outputs["classes"]) == shape_of(classify.outputs["scores"]) == [-1, 10]


def test_tabular_signature_defs_name_one_input_per_feature(tabular, regression):
    defs = signature_defs(regression.published.path)
    assert sorted(defs) == ["regress", "serving_default", "serving_features"]
    regress = defs["regress"]  # what TF Serving's regressor.cc checks
    assert regress.method_name == "tensorflow/serving/regress"
    assert {k: v.dtype for k, v in regress.inputs.items()} == {"inputs": DT_STRING}
    assert {k: v.dtype for k, v in regress.outputs.items()} == {"outputs": DT_FLOAT}
    assert shape_of(regress.outputs["outputs"]) == [-1]
    features = defs["serving_features"].inputs
    assert sorted(features) == sorted(
        ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    )
    assert {v.dtype for v in features.values()} == {DT_FLOAT}
    assert {tuple(shape_of(v)) for v in features.values()} == {(-1,)}

    defs = signature_defs(tabular.published.path)
    assert sorted(defs) == ["classify", "serving_default", "serving_features"]
    assert defs["classify"].method_name == "tensorflow/serving/classify"
    assert {"mean_radius", "worst_fractal_dimension"} <= set(defs["serving_features"].inputs)


def test_the_card_describes_every_signature(published, regression):
    card = published.published.card
    assert set(card.signatures) == {"serving_default", "serving_bytes", "classify"}
    classify = card.signature("classify")
    assert classify.method_name == "tensorflow/serving/classify"
    assert [(f.key, f.dtype, f.shape) for f in classify.example_features] == [
        ("pixels", "float", [64])
    ]
    assert classify.input("inputs").dtype == "string"
    assert "8x8" in card.signature("serving_bytes").input("image_bytes").description
    assert card.signature().method_name == "tensorflow/serving/predict"

    card = regression.published.card
    regress = card.signature("regress")
    assert [f.key for f in regress.example_features][:3] == ["age", "sex", "bmi"]
    assert [o.name for o in regress.outputs] == ["outputs"]
    age = card.signature("serving_features").input("age")
    assert (age.dtype, age.shape, age.description) == ("float32", [None], "feature 'age'")


def test_feature_keys_are_valid_names_and_unique():
    names = ["mean radius", "od280/od315", "color=red", "2nd", "a b", "a_b", "", "é"]
    assert feature_keys(names, len(names)) == [
        "mean_radius",
        "od280_od315",
        "color_red",
        "f_2nd",
        "a_b",
        "a_b_2",
        "feature_6",
        "feature_7",
    ]
    assert feature_keys([], 2) == ["feature_0", "feature_1"]


def test_image_classifier_signatures_agree_with_keras(published):
    found = loaded_signatures(published.published.path)
    card, model = published.published.card, published.model
    x = published.splits.x_test[:6].astype("float32")
    expected = model.predict(x, verbose=0)
    names = np.array(card.class_names)

    default = call(found["serving_default"], pixels=x)
    np.testing.assert_allclose(default["probabilities"], expected, atol=TOLERANCE)
    np.testing.assert_array_equal(default["class_ids"], expected.argmax(-1))
    assert default["classes"].astype(str).tolist() == names[expected.argmax(-1)].tolist()

    classify = call(found["classify"], inputs=serialized(x, card, "classify"))
    np.testing.assert_allclose(classify["scores"], expected, atol=TOLERANCE)
    assert classify["classes"].astype(str).tolist() == [card.class_names] * len(x)


def test_a_png_through_serving_bytes_answers_as_its_pixels(published):
    found = loaded_signatures(published.published.path)
    pixels = np.round(published.splits.x_test[:5]).astype("float32")  # what a PNG can hold
    expected = published.model.predict(pixels, verbose=0)
    raw = call(found["serving_default"], pixels=pixels)
    for mode in ("L", "RGB", "RGBA"):  # grey, and colour files of the same grey picture
        encoded = np.array([png(p, mode) for p in pixels], dtype=object)
        served = call(found["serving_bytes"], image_bytes=encoded)
        np.testing.assert_array_equal(served["class_ids"], raw["class_ids"])
        np.testing.assert_allclose(served["probabilities"], expected, atol=TOLERANCE)
        assert served["classes"].tolist() == raw["classes"].tolist()


def test_serving_bytes_resizes_and_refuses_what_is_not_an_image(published):
    import tensorflow as tf

    found = loaded_signatures(published.published.path)
    large = np.repeat(np.repeat(published.splits.x_test[:1], 4, axis=1), 4, axis=2)  # 32x32
    served = call(found["serving_bytes"], image_bytes=np.array([png(large[0])], dtype=object))
    assert served["probabilities"].shape == (1, 10)
    with pytest.raises(tf.errors.InvalidArgumentError, match="unsupported image format"):
        call(found["serving_bytes"], image_bytes=np.array([b"not an image"], dtype=object))


def png_declaring(width: int, height: int) -> bytes:
    """A small PNG whose header declares ``width`` x ``height`` grey pixels (a decompression
    bomb: its one IDAT chunk of zeros compresses about 1000:1)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * ((width + 1) * min(height, 64)), 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def test_decompression_bombs_and_other_formats_are_refused_before_decoding(published):
    """A 400 KB PNG declaring 20,000 x 20,000 pixels took 7.9 GB and 90 s to answer."""
    from PIL import Image

    from kerasforge.serving.edge.inputs import MAX_IMAGE_PIXELS
    from kerasforge.serving.errors import ServingError
    from kerasforge.serving.server import predict

    found = loaded_signatures(published.published.path)
    bomb = png_declaring(20_000, 20_000)
    assert len(bomb) < 100_000 and MAX_IMAGE_PIXELS < 20_000**2
    with pytest.raises(
        ServingError, match="image too large: its header declares more than"
    ) as info:
        predict.run(found["serving_bytes"], {"image_bytes": np.array([bomb], dtype=object)})
    assert info.value.status == 400
    webp = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(webp, format="WEBP")
    with pytest.raises(ServingError, match="send JPEG, PNG, GIF or BMP") as info:
        predict.run(
            found["serving_bytes"], {"image_bytes": np.array([webp.getvalue()], dtype=object)}
        )
    for fmt in ("GIF", "BMP", "JPEG"):  # each declared size read from its own header
        encoded = io.BytesIO()
        Image.fromarray(np.zeros((9, 11, 3), np.uint8)).save(encoded, format=fmt)
        served = call(
            found["serving_bytes"], image_bytes=np.array([encoded.getvalue()], dtype=object)
        )
        assert served["probabilities"].shape == (1, 10)


def test_tabular_signatures_agree_with_keras(tabular, regression):
    for tiny, method, main in [(tabular, "classify", "scores"), (regression, "regress", "outputs")]:
        found = loaded_signatures(tiny.published.path)
        card = tiny.published.card
        x = tiny.splits.x_test[:7].astype("float32")
        expected = tiny.model.predict(x, verbose=0)
        expected = expected[:, 0] if card.task == "regression" else expected
        keys = [t.name for t in card.signature("serving_features").inputs]
        columns = {key: x[:, i] for i, key in enumerate(keys)}
        default, named = (
            call(found["serving_default"], features=x),
            call(found["serving_features"], **columns),
        )
        for key in default:
            if default[key].dtype == object:
                assert named[key].tolist() == default[key].tolist()
            else:
                np.testing.assert_allclose(named[key], default[key], atol=TOLERANCE)
        first = "probabilities" if card.task == "classification" else "values"
        np.testing.assert_allclose(default[first], expected, rtol=TOLERANCE, atol=TOLERANCE)
        by_example = call(found[method], inputs=serialized(x, card, method))
        np.testing.assert_allclose(by_example[main], expected, rtol=TOLERANCE, atol=TOLERANCE)


def test_a_missing_example_feature_is_a_clear_invalid_argument(regression):
    import tensorflow as tf
    from tensorflow.core.example import example_pb2

    found = loaded_signatures(regression.published.path)
    example = example_pb2.Example()
    example.features.feature["age"].float_list.value.append(0.01)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Feature: \w+ .* is required"):
        call(found["regress"], inputs=np.array([example.SerializeToString()], dtype=object))


@pytest.fixture(scope="module")
def served(published, regression, tmp_path_factory):
    """``kerasforge serve`` over the published digits and diabetes models."""
    root = tmp_path_factory.mktemp("repository")
    shutil.copytree(published.published.path, root / "digits" / "1")
    shutil.copytree(regression.published.path, root / "diabetes" / "1")
    server = ServerProcess(root)
    yield server
    server.stop()


def test_grpc_classify_and_regress_match_in_process_calls(served, published, regression):
    import grpc
    from tensorflow_serving.apis import (
        classification_pb2,
        inference_pb2,
        prediction_service_pb2_grpc,
        regression_pb2,
    )

    card = published.published.card
    x = published.splits.x_test[:3].astype("float32")
    expected = call(
        loaded_signatures(published.published.path)["classify"],
        inputs=serialized(x, card, "classify"),
    )
    with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = classification_pb2.ClassificationRequest()
        request.model_spec.name, request.model_spec.signature_name = "digits", "classify"
        request.input.example_list.examples.extend(
            tf_example.build(x, card.signature("classify").example_features)
        )
        result = stub.Classify(request, timeout=60).result
        labels = [[c.label for c in row.classes] for row in result.classifications]
        scores = np.array([[c.score for c in row.classes] for row in result.classifications])
        assert labels == expected["classes"].astype(str).tolist()
        np.testing.assert_allclose(scores, expected["scores"], atol=TOLERANCE)

        card = regression.published.card
        rows = regression.splits.x_test[:4].astype("float32")
        in_process = call(
            loaded_signatures(regression.published.path)["regress"],
            inputs=serialized(rows, card, "regress"),
        )["outputs"]
        request = regression_pb2.RegressionRequest()
        request.model_spec.name, request.model_spec.signature_name = "diabetes", "regress"
        request.input.example_list.examples.extend(
            tf_example.build(rows, card.signature("regress").example_features)
        )
        values = [r.value for r in stub.Regress(request, timeout=60).result.regressions]
        np.testing.assert_allclose(values, in_process, rtol=TOLERANCE)

        multi = inference_pb2.MultiInferenceRequest()
        task = multi.tasks.add()
        task.model_spec.name, task.model_spec.signature_name = "diabetes", "regress"
        task.method_name = wire.REGRESS_METHOD
        multi.input.CopyFrom(request.input)
        (found,) = stub.MultiInference(multi, timeout=60).results
        np.testing.assert_allclose(
            [r.value for r in found.regression_result.regressions], in_process, rtol=TOLERANCE
        )
