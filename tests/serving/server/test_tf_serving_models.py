"""TF Serving's own test models (``tests/serving/tf_serving_models.py``) in the embedded server.

REST requests are sent as curl sends ``curl -d '...'`` (``application/x-www-form-urlencoded``);
gRPC requests with the stock ``tensorflow-serving-api`` stubs and ``tf.make_tensor_proto``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest

from kerasforge.serving.server import embedded
from kerasforge.serving.server.model_config import All
from kerasforge.serving.server.store import ModelStore
from tests.serving import tf_serving_models as tfs

pytestmark = pytest.mark.heavy  # exports models and starts a server in its fixture

TF1, TF2, THREE, TWO_VERSIONS = (
    "half_plus_two",
    "saved_model_half_plus_two_tf2",
    "saved_model_half_plus_three",
    "half_plus_n",
)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("tf_serving_models")
    tfs.half_plus_two(root)
    tfs.tf2_half_plus_two(root)
    tfs.half_plus_three(root)
    tfs.two_versions(root, TWO_VERSIONS)
    store = ModelStore(root, policies={TWO_VERSIONS: All()})
    store.refresh()
    options = embedded.ServerOptions(rest_port=0, grpc_port=0, poll_seconds=0)
    server = embedded.start_store(store, options)
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        yield f"http://127.0.0.1:{server.server_address[1]}", channel, store
    embedded.stop(server, store)


def curl(url: str, body: str | None = None) -> tuple[int, dict]:
    """``curl [-d body] url``: a POST with curl's default content type when there is a body."""
    data = None if body is None else body.encode()
    request = urllib.request.Request(url, data=data)
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("model", [TF1, TF2])
def test_the_docker_quickstart_predicts_three_values(served, model):
    # g3doc/docker.md: curl -d '{"instances": [1.0, 2.0, 5.0]}' .../half_plus_two:predict
    # answers {"predictions": [2.5, 3.0, 4.5]}, although x is declared [-1, 1] (TF1) or [1] (TF2)
    url, _, _ = served
    status, body = curl(f"{url}/v1/models/{model}:predict", '{"instances": [1.0, 2.0, 5.0]}')
    assert (status, body) == (200, {"predictions": [2.5, 3.0, 4.5]})


def test_the_api_rest_half_plus_three_examples(served):
    # g3doc/api_rest.md, "Make REST API calls to ModelServer": status, predict and regress
    url, _, _ = served
    models = f"{url}/v1/models/{THREE}"
    status, body = curl(models)
    assert status == 200
    assert [(v["version"], v["state"]) for v in body["model_version_status"]] == [
        ("123", "AVAILABLE")
    ]
    status, body = curl(f"{models}:predict", '{"instances": [1.0,2.0,5.0]}')
    assert (status, body) == (200, {"predictions": [3.5, 4.0, 5.5]})
    regress = (
        '{"signature_name": "tensorflow/serving/regress", "examples": [{"x": 1.0}, {"x": 2.0}]}'
    )
    assert curl(f"{models}:regress", regress) == (200, {"results": [3.5, 4.0]})
    status, body = curl(f"{url}/v1/models/half:predict", '{"instances": [1.0,5.0]}')
    assert status == 404 and body["error"] == "Servable not found for request: Latest(half)"


def test_a_zero_padded_folder_is_its_version_and_loads_from_its_own_name(served):
    # sources/storage_path/file_system_storage_path_source.cc ParseVersionNumber: 00000123 -> 123
    _, _, store = served
    model = store.get(THREE, 123)
    assert model.version == 123 and model.path.name == "00000123"


def predict_request(model: str, value, signature: str = "", version: int | None = None):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(value, dtype=tf.float32))
    return request


@pytest.mark.parametrize("model", [TF1, TF2, THREE])
@pytest.mark.parametrize("value", [[2.0], 2.0, [[1.0], [2.0]], [1.0, 2.0, 5.0]])
def test_grpc_predict_takes_any_shape_the_graph_takes(served, model, value):
    # model_servers/tensorflow_model_server_test.py VerifyPredictRequest sends [2.0] (shape [1]);
    # predict_util.cc RunPredict feeds Session::Run, which holds no feed to the declared shape
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    _, channel, _ = served
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    response = stub.Predict(predict_request(model, value), timeout=30)
    offset = 3.0 if model == THREE else 2.0
    got = tf.make_ndarray(response.outputs["y"])
    np.testing.assert_array_equal(got, 0.5 * np.asarray(value, np.float32) + offset)
    assert response.model_spec.signature_name == "serving_default"


def test_each_version_of_a_two_version_model_answers(served):
    # TF Serving's model_version_policy all: both versions loaded, each addressed by number
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    url, channel, _ = served
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    for version, expected in [(1, 2.5), (2, 3.5)]:
        response = stub.Predict(predict_request(TWO_VERSIONS, [1.0], version=version), timeout=30)
        assert tf.make_ndarray(response.outputs["y"]).tolist() == [expected]
        rest = f"{url}/v1/models/{TWO_VERSIONS}/versions/{version}:predict"
        assert curl(rest, '{"instances": [1.0]}') == (200, {"predictions": [expected]})
    _, body = curl(f"{url}/v1/models/{TWO_VERSIONS}")
    assert [v["version"] for v in body["model_version_status"]] == ["2", "1"]
