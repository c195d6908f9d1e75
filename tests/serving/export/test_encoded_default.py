"""``export.image_input: encoded``: ``serving_default`` takes encoded images, as TF Serving's
image clients send them.

Two tiny untrained classifiers are published with the option, as ``kerasforge train`` puts it
on the card: the digits CNN (8x8 grey) and a 12x12 RGB one over a generated image folder.
Real JPEG and PNG bytes, of other sizes and channels than the model takes, go through a real
``kerasforge serve`` without a signature name (REST ``{"b64": ...}`` with plain urllib, as
``example/resnet_client.py`` sends them; gRPC Predict with the stock stubs, as
``example/resnet_client_grpc.py``); each answer equals the one the pixel path
(``serving_pixels``) gives for the same decoded, converted and resized image.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import DEFAULT_CONFIG, ROOT, TINY, ServerProcess

pytestmark = pytest.mark.heavy  # exports and a server in its fixtures

TOLERANCE = 1e-5
DT_FLOAT, DT_STRING = 1, 7
LUMA = np.array([19595, 38470, 7471])  # Pillow's "L" weights, as the graph converts RGB


def publish_encoded(config: Path, overrides: list[str], out: Path, name: str, tflite):
    """The config's model, untrained, published with ``export.image_input=encoded``."""
    from kerasforge.pipelines.config.experiment import load_config
    from kerasforge.pipelines.tasks import get_task
    from kerasforge.pipelines.training.train import build_task_model, load_splits
    from kerasforge.serving.export.publish import publish

    cfg = load_config(config, [*overrides, "export.image_input=encoded", f"output_dir={out}"])
    task = get_task(cfg.task.name, cfg.task.options)
    splits = load_splits(cfg, task)
    model = build_task_model(cfg, task, splits)
    card = task.card(cfg.model.name, splits.info).model_copy(
        update={"image_input": cfg.export.image_input}  # as train() writes the run's card
    )
    data = task.export_data(model, splits)
    published = publish(model, out / "models", name, card=card, data=data, tflite=tflite)
    return SimpleNamespace(cfg=cfg, model=model, card=card, published=published)


def write_rgb_folder(root: Path) -> None:
    """Two classes of 15 coloured 12x12 PNGs each (a red and a blue gradient)."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for label, channel in (("red", 0), ("blue", 2)):
        (root / label).mkdir(parents=True)
        for i in range(15):
            image = rng.integers(0, 60, (12, 12, 3))
            image[..., channel] += np.linspace(100, 190, 12).astype(int)[None, :]
            png = tf.io.encode_png(image.astype(np.uint8)).numpy()
            (root / label / f"{i}.png").write_bytes(png)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from kerasforge.serving.export.tflite import TFLiteOptions

    out = tmp_path_factory.mktemp("encoded")
    gray = publish_encoded(DEFAULT_CONFIG, TINY, out, "gray", TFLiteOptions(("float32",), 1.0))
    folder = out / "rgb_images"
    write_rgb_folder(folder)
    rgb_config = [f"data.file.path={folder}", "data.file.image_size=[12, 12]"]
    rgb_config += ["data.file.channels=3", *TINY]
    rgb = publish_encoded(ROOT / "configs" / "digits_folder.yaml", rgb_config, out, "rgb", False)
    return SimpleNamespace(gray=gray, rgb=rgb, repository=out / "models")


@pytest.fixture(scope="module")
def server(models):
    proc = ServerProcess(models.repository)
    yield proc
    proc.stop()


def smooth_image(height: int, width: int, channels: int) -> np.ndarray:
    """A smooth uint8 image (JPEG keeps it close; the answer is not all noise)."""
    y, x = np.mgrid[0:height, 0:width]
    planes = [(x * 11 + y * 7 + 40 * c) % 256 for c in range(channels)]
    return np.stack(planes, axis=-1).astype(np.uint8)


def expected_pixels(decoded: np.ndarray, height: int, width: int, channels: int) -> np.ndarray:
    """What the graph should feed the model: alpha dropped, channels converted, resized."""
    import tensorflow as tf

    image = decoded.astype(np.int64)
    rgb = image[..., :3] if image.shape[-1] >= 3 else np.repeat(image[..., :1], 3, axis=-1)
    if channels == 1:
        rgb = (rgb @ LUMA + 32768)[..., None] >> 16
    resized = tf.image.resize(rgb.astype(np.float32), (height, width), antialias=True)
    return resized.numpy()


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode("ascii")}


def pixel_answer(server, name: str, pixels: list[np.ndarray]) -> np.ndarray:
    """Probabilities from the pixel path (``serving_pixels``) of the same server."""
    body = {"signature_name": "serving_pixels", "instances": [p.tolist() for p in pixels]}
    status, answer = post(f"{server.url}/v1/models/{name}:predict", body)
    assert status == 200, answer
    return np.array([row["probabilities"] for row in answer["predictions"]])


def test_the_default_signature_takes_image_bytes_and_the_card_says_so(models, server):
    # GetModelMetadata (http_rest_api_handler.cc, ProcessModelMetadataRequest) returns the
    # SignatureDefs; serving_default's input is what predict_util.cc feeds without a name.
    with urllib.request.urlopen(f"{server.url}/v1/models/gray/metadata", timeout=60) as r:
        defs = json.loads(r.read())["metadata"]["signature_def"]["signature_def"]
    assert {k: v["dtype"] for k, v in defs["serving_default"]["inputs"].items()} == {
        "image_bytes": "DT_STRING"
    }
    assert defs["serving_pixels"]["inputs"]["pixels"]["dtype"] == "DT_FLOAT"
    assert "serving_bytes" in defs and "classify" in defs
    card = models.gray.published.card
    assert card.image_input == "encoded"
    assert card.signature().input().dtype == "string"
    assert "encoded" in card.signature().description
    assert card.raw_signature().input().value_range == (0.0, 255.0)
    # the .tflite converts the pixel tensor (the edge decodes files itself)
    variant = card.tflite_variants()["float32"]
    assert card.tflite["edge_model"] == "float32" and variant.error is None


def test_warm_up_records_speak_the_default_signature(models):
    from kerasforge.serving.export.warmup import read_warmup

    requests = read_warmup(models.gray.published.path)
    default = [r for r in requests if r.signature == "serving_default"]
    assert default and all(list(r.inputs) == ["image_bytes"] for r in default)
    assert all(r.inputs["image_bytes"][0].startswith(b"\x89PNG") for r in default)
    assert any(r.signature == "serving_pixels" for r in requests)


def test_rest_jpeg_and_png_without_a_signature_name_answer_as_their_pixels(server):
    import tensorflow as tf

    # resnet_client.py: '{"instances" : [{"b64": "%s"}]}' to /v1/models/resnet:predict;
    # json_tensor.cc (kBase64Key) decodes {"b64": ...} into the string tensor.
    jpeg = tf.io.encode_jpeg(smooth_image(20, 16, 3), quality=95).numpy()
    rgba = smooth_image(11, 13, 4)
    png = tf.io.encode_png(rgba).numpy()
    body = {"instances": [b64(jpeg), b64(png)]}
    status, answer = post(f"{server.url}/v1/models/gray:predict", body)
    assert status == 200, answer
    got = np.array([row["probabilities"] for row in answer["predictions"]])
    decoded = [tf.io.decode_jpeg(jpeg).numpy(), rgba]
    pixels = [expected_pixels(d, 8, 8, 1) for d in decoded]
    np.testing.assert_allclose(got, pixel_answer(server, "gray", pixels), atol=TOLERANCE)


def test_grey_images_into_an_rgb_model(server):
    import tensorflow as tf

    grey = smooth_image(5, 7, 1)
    png, jpeg = tf.io.encode_png(grey).numpy(), tf.io.encode_jpeg(grey).numpy()
    status, answer = post(f"{server.url}/v1/models/rgb:predict", {"instances": [b64(png)]})
    assert status == 200, answer
    status, second = post(f"{server.url}/v1/models/rgb:predict", {"instances": [b64(jpeg)]})
    assert status == 200, second
    got = np.array([row["probabilities"] for row in answer["predictions"] + second["predictions"]])
    decoded = [grey, tf.io.decode_jpeg(jpeg).numpy()]
    pixels = [expected_pixels(d, 12, 12, 3) for d in decoded]
    np.testing.assert_allclose(got, pixel_answer(server, "rgb", pixels), atol=TOLERANCE)


def test_grpc_predict_of_encoded_bytes_on_the_default_signature(server):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    # resnet_client_grpc.py: inputs[<key>] = tf.make_tensor_proto(jpeg bytes), the model's
    # default signature (predict_util.cc uses serving_default when none is named).
    jpeg = tf.io.encode_jpeg(smooth_image(30, 24, 3)).numpy()
    png = tf.io.encode_png(smooth_image(6, 9, 1)).numpy()
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "gray"
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([jpeg, png]))
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        result = stub.Predict(request, timeout=60)
        got = tf.make_ndarray(result.outputs["probabilities"])
        assert result.model_spec.signature_name == "serving_default"
        pixels = [
            expected_pixels(tf.io.decode_jpeg(jpeg).numpy(), 8, 8, 1),
            expected_pixels(smooth_image(6, 9, 1), 8, 8, 1),
        ]
        np.testing.assert_allclose(got, pixel_answer(server, "gray", pixels), atol=TOLERANCE)

        request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([b"not an image"]))
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(request, timeout=60)
    # http_server.cc ToHTTPStatusCode: INVALID_ARGUMENT is the client's error (400 on REST)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unsupported image format" in caught.value.details()


def test_bytes_that_are_no_image_get_one_clear_400(server):
    # http_server.cc ToHTTPStatusCode: the graph's INVALID_ARGUMENT answers 400
    body = {"instances": [b64(b"plain text, no image")]}
    status, answer = post(f"{server.url}/v1/models/gray:predict", body)
    assert status == 400, answer
    assert (
        "[unsupported image format: send JPEG, PNG, GIF or BMP bytes (the "
        "image file as it is, base64 in a b64 object over REST); received bytes that are "
        "none of these]"
    ) in answer["error"]
    status, answer = post(f"{server.url}/v1/models/gray:predict", {"instances": [[1.0]]})
    assert status == 400 and "Traceback" not in answer["error"], answer


def test_kerasforge_predict_sends_arrays_to_the_pixel_signature(server, tmp_path, capsys):
    # `kerasforge predict batch.npy` against an encoded-default model: the arrays go to
    # serving_pixels (read from the model's metadata), not to the bytes-taking default.
    from kerasforge.cli.main import main

    pixels = [smooth_image(8, 8, 1).astype(np.float32)]
    np.save(tmp_path / "batch.npy", np.stack(pixels))
    assert (
        main(["predict", str(tmp_path / "batch.npy"), "--model", "gray", "--url", server.url]) == 0
    )
    answer = json.loads(capsys.readouterr().out)
    probabilities = np.array([row["probabilities"] for row in answer["predictions"]])
    np.testing.assert_allclose(probabilities, pixel_answer(server, "gray", pixels), atol=1e-6)
