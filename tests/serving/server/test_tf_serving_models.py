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
    options = embedded.ServerOptions(rest_port=0, grpc=embedded.GrpcOptions(port=0), poll_seconds=0)
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


def examples_request(kind: str, model: str, signature: str, xs: list[float]):
    """A ClassificationRequest or RegressionRequest of one tf.Example per ``x``."""
    from tensorflow_serving.apis import classification_pb2, regression_pb2

    if kind == "classify":
        request = classification_pb2.ClassificationRequest()
    else:
        request = regression_pb2.RegressionRequest()
    request.model_spec.name, request.model_spec.signature_name = model, signature
    for x in xs:
        request.input.example_list.examples.add().features.feature["x"].float_list.value.append(x)
    return request


@pytest.mark.parametrize("model", [TF1, TF2])
@pytest.mark.parametrize(
    ("kind", "signature", "offset"),
    [
        ("regress", "regress_x_to_y", 2.0),
        ("regress", "regress_x_to_y2", 3.0),
        ("classify", "classify_x_to_y", 2.0),
    ],
)
def test_grpc_classify_and_regress_run_tf1_and_tf2_signatures(
    served, model, kind, signature, offset
):
    # servables/tensorflow/classifier.cc, regressor.cc: the method name is checked only with
    # --enable_signature_method_name_check (off), so the TF2 model's predict-method signatures
    # serve Classify and Regress; testdata/saved_model_half_plus_two.py gives y = 0.5 x + offset
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    _, channel, _ = served
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = examples_request(kind, model, signature, [1.0, 4.0])
    if kind == "regress":
        values = [r.value for r in stub.Regress(request, timeout=30).result.regressions]
    else:
        rows = stub.Classify(request, timeout=30).result.classifications
        values = [c.score for row in rows for c in row.classes]
    assert values == [0.5 + offset, 2.0 + offset]


@pytest.mark.parametrize("model", [TF1, TF2])
def test_a_signature_of_float_inputs_refuses_examples_with_invalid_argument(served, model):
    # util.cc PerformOneShotTensorComputation feeds the serialized examples as a string tensor;
    # regress_x2_to_y3 takes floats, so Session::Run refuses the feed (INVALID_ARGUMENT)
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    url, channel, _ = served
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.Regress(examples_request("regress", model, "regress_x2_to_y3", [1.0]), timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "string" in info.value.details()
    body = '{"signature_name": "regress_x2_to_y3", "examples": [{"x": 1.0}]}'
    status, answer = curl(f"{url}/v1/models/{model}:regress", body)
    assert status == 400 and "string" in answer["error"]


def test_the_method_name_check_is_there_when_asked_for(served):
    # classifier.cc PreProcessClassification with --enable_signature_method_name_check
    from kerasforge.serving.errors import ServingError
    from kerasforge.serving.server import examples
    from kerasforge.serving.wire import CLASSIFY_METHOD, REGRESS_METHOD

    _, _, store = served
    request = examples_request("classify", TF2, "classify_x_to_y", [1.0])
    model = store.get(TF2)
    with pytest.raises(ServingError, match="classification signature method_name to be"):
        examples.run(model, "classify_x_to_y", CLASSIFY_METHOD, request.input, check_method=True)
    tf1 = store.get(TF1)  # SavedModelBuilder wrote the regress method: it passes the check
    _, outputs = examples.run(
        tf1, "regress_x_to_y", REGRESS_METHOD, request.input, check_method=True
    )
    assert outputs["outputs"].tolist() == [[2.5]]


def test_the_method_name_flag_reaches_grpc_and_rest_classify(served):
    # main.cc --enable_signature_method_name_check: the flag, not the library call, over both
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    _, _, store = served
    options = embedded.ServerOptions(
        rest_port=0, grpc=embedded.GrpcOptions(port=0), poll_seconds=0, method_name_check=True
    )
    server = embedded.start_store(store, options)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            request = examples_request("classify", TF2, "classify_x_to_y", [1.0])
            with pytest.raises(grpc.RpcError) as info:
                stub.Classify(request, timeout=30)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "classification signature method_name to be" in info.value.details()
        url = f"http://127.0.0.1:{server.server_port}/v1/models/{TF2}:classify"
        status, answer = curl(
            url, '{"signature_name": "classify_x_to_y", "examples": [{"x": 1.0}]}'
        )
        assert status == 400 and "classification signature method_name to be" in answer["error"]
    finally:
        server.shutdown()


def test_metadata_of_a_tf1_model_is_its_signature_defs(served):
    # model_servers/get_model_metadata_impl.cc: the SignatureDefs of the loaded MetaGraphDef
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        prediction_service_pb2_grpc,
    )

    url, channel, _ = served
    status, body = curl(f"{url}/v1/models/{THREE}/metadata")
    defs = body["metadata"]["signature_def"]["signature_def"]
    assert status == 200 and sorted(defs) == ["serving_default", "tensorflow/serving/regress"]
    assert defs["serving_default"]["inputs"]["x"]["name"] == "x:0"
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = TF1
    request.metadata_field.append("signature_def")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    response = stub.GetModelMetadata(request, timeout=30)
    unpacked = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(unpacked)
    assert sorted(unpacked.signature_def) == sorted(
        [
            "serving_default",
            "regress_x_to_y",
            "regress_x_to_y2",
            "regress_x2_to_y3",
            "classify_x_to_y",
        ]
    )
    assert response.model_spec.version.value == 1


def test_saved_model_tags_pick_the_meta_graph(served):
    # model_servers/main.cc --saved_model_tags: a comma-separated tag set, default "serve"
    from kerasforge.serving.server.loaded import load_version

    _, _, store = served
    path = store.get(TF1).path
    assert load_version(TF1, 1, path, tags=" serve, ").tags == ("serve",)
    with pytest.raises(RuntimeError, match="no MetaGraphDef with tags 'gpu,serve'"):
        load_version(TF1, 1, path, tags="serve,gpu")
