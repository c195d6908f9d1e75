"""gRPC end to end over a real channel with the official tensorflow-serving-api stubs."""

from __future__ import annotations

import shutil

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from kerasforge.serving.server import grpc_api, predict
from kerasforge.serving.server.store import ModelStore
from tests.serving.example_model import save_example_model

pytestmark = pytest.mark.heavy  # exports, servers or training in its fixtures


@pytest.fixture(scope="module")
def channel(published, tmp_path_factory):
    root = tmp_path_factory.mktemp("grpc")
    shutil.copytree(published.published.path, root / "digits_cnn" / "1")
    save_example_model(root / "ex" / "1")
    store = ModelStore(root)
    store.refresh()
    server, port = grpc_api.serve(store, grpc_api.GrpcOptions(port=0))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as chan:
        yield chan, store
    server.stop(grace=2).wait()


ZERO_FILLED = tensor_pb2.TensorProto(
    dtype=types_pb2.DT_FLOAT,
    tensor_shape=tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in (1000000, 8, 8, 1)]
    ),
)


def predict_request(name: str, array: np.ndarray, version: int | None = None):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    request.inputs["pixels"].CopyFrom(tf.make_tensor_proto(array))
    return request


def test_predict_agrees_with_the_in_process_signature(channel, published):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    chan, store = channel
    x = published.splits.x_test[:4].astype(np.float32)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(chan)
    response = stub.Predict(predict_request("digits_cnn", x, version=1), timeout=30)
    assert response.model_spec.name == "digits_cnn" and response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"
    expected = predict.run(store.get("digits_cnn").signature(None), {"pixels": x})
    for key, value in expected.items():
        np.testing.assert_array_equal(tf.make_ndarray(response.outputs[key]), value)


@pytest.mark.parametrize(
    ("mutate", "code", "message"),
    [
        (lambda r: setattr(r.model_spec, "name", "nope"), "NOT_FOUND", "Servable not found"),
        (lambda r: r.model_spec.version.__setattr__("value", 9), "NOT_FOUND", "Specific"),
        # predict_util.cc (RunPredict): an unknown signature key is FAILED_PRECONDITION.
        (
            lambda r: setattr(r.model_spec, "signature_name", "x"),
            "FAILED_PRECONDITION",
            'Serving signature key "x" not found.',
        ),
        # predict_util.cc (PreProcessPrediction): unknown and repeated output_filter aliases.
        (lambda r: r.output_filter.append("nope"), "INVALID_ARGUMENT", "alias not found"),
        (lambda r: r.output_filter.extend(["probabilities"] * 2), "INVALID_ARGUMENT", "duplicate"),
        # tensor.cc (FromProto) + our bound: the shape with no values.
        (lambda r: r.inputs["pixels"].CopyFrom(ZERO_FILLED), "INVALID_ARGUMENT", "parsing error"),
        (lambda r: r.inputs["extra"].CopyFrom(r.inputs["pixels"]), "INVALID_ARGUMENT", "alias"),
        (lambda r: r.inputs.pop("pixels"), "INVALID_ARGUMENT", "Missing"),
    ],
)
def test_predict_errors_use_tf_servings_status_codes(channel, mutate, code, message):
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    chan, _ = channel
    request = predict_request("digits_cnn", np.zeros((1, 8, 8, 1), np.float32))
    mutate(request)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(chan)
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=30)
    assert info.value.code() == getattr(grpc.StatusCode, code)
    assert message in info.value.details()


def test_a_wrong_dtype_or_shape_is_invalid_argument(channel):
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    chan, _ = channel
    stub = prediction_service_pb2_grpc.PredictionServiceStub(chan)
    for array, message in [
        (np.zeros((1, 8, 8, 1), np.float64), "to be float32 but float64 is provided"),
        (np.zeros((1, 3), np.float32), "expected shape"),
    ]:
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(predict_request("digits_cnn", array), timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in info.value.details()


def example_input(request, rows):
    for row in rows:
        example = request.input.example_list.examples.add()
        example.features.feature["x"].float_list.value.extend(row)


def test_classify_regress_and_multi_inference(channel):
    from tensorflow_serving.apis import (
        classification_pb2,
        inference_pb2,
        prediction_service_pb2_grpc,
        regression_pb2,
    )

    chan, _ = channel
    stub = prediction_service_pb2_grpc.PredictionServiceStub(chan)
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "ex"
    example_input(request, [[0.0, 0.0], [0.0, 2.0]])
    result = stub.Classify(request, timeout=30).result
    assert [[c.label for c in row.classes] for row in result.classifications] == [
        ["cat", "dog"]
    ] * 2
    assert result.classifications[0].classes[0].score == pytest.approx(0.5)
    assert result.classifications[1].classes[1].score > 0.8

    regression = regression_pb2.RegressionRequest()
    regression.model_spec.name = "ex"
    regression.model_spec.signature_name = "regress"
    example_input(regression, [[1.0, 2.5]])
    assert [r.value for r in stub.Regress(regression, timeout=30).result.regressions] == [3.5]

    multi = inference_pb2.MultiInferenceRequest()
    for signature, method in [("", grpc_api.CLASSIFY_METHOD), ("regress", grpc_api.REGRESS_METHOD)]:
        task = multi.tasks.add()
        task.model_spec.name, task.model_spec.signature_name, task.method_name = (
            "ex",
            signature,
            method,
        )
    example_input(multi, [[1.0, 1.0]])
    results = stub.MultiInference(multi, timeout=30).results
    assert results[1].regression_result.regressions[0].value == 2.0
    assert len(results[0].classification_result.classifications) == 1

    regression.model_spec.signature_name = ""  # the classify signature
    with pytest.raises(grpc.RpcError) as info:
        stub.Regress(regression, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # regressor.cc PreProcessRegression: the method name is checked only with
    # --enable_signature_method_name_check; a two-output signature is refused for its outputs
    assert "Expected one output Tensor." in info.value.details()


def test_get_model_metadata_and_status(channel):
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        get_model_status_pb2,
        model_service_pb2_grpc,
        prediction_service_pb2_grpc,
    )

    chan, _ = channel
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "ex"
    request.metadata_field.append("signature_def")
    response = prediction_service_pb2_grpc.PredictionServiceStub(chan).GetModelMetadata(request)
    defs = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(defs)
    assert defs.signature_def["regress"].method_name == grpc_api.REGRESS_METHOD
    assert defs.signature_def["serving_default"].inputs["inputs"].dtype == 7  # DT_STRING

    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "digits_cnn"
    models = model_service_pb2_grpc.ModelServiceStub(chan)
    status = models.GetModelStatus(status_request, timeout=30).model_version_status
    assert [(s.version, s.state) for s in status] == [
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE)
    ]
    status_request.model_spec.name = "nope"
    with pytest.raises(grpc.RpcError) as info:
        models.GetModelStatus(status_request, timeout=30)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_start_serves_rest_and_grpc_over_one_store_and_stops_both(published, tmp_path):
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    from kerasforge.serving.clients.rest_client import RestClient
    from kerasforge.serving.server import embedded as serverlib

    shutil.copytree(published.published.path, tmp_path / "digits_cnn" / "3")
    rest, store = serverlib.start(
        tmp_path,
        serverlib.ServerOptions(
            host="127.0.0.1", rest_port=0, poll_seconds=0, grpc=grpc_api.GrpcOptions(port=0)
        ),
    )
    try:
        assert rest.grpc_port and rest.grpc_port != rest.server_port
        status = RestClient(f"http://127.0.0.1:{rest.server_port}").status("digits_cnn")
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "digits_cnn"
        with grpc.insecure_channel(f"127.0.0.1:{rest.grpc_port}") as chan:
            reply = model_service_pb2_grpc.ModelServiceStub(chan).GetModelStatus(request)
        assert [s.version for s in reply.model_version_status] == [3]
        assert status["model_version_status"][0]["version"] == "3"
    finally:
        serverlib.stop(rest, store)
    with pytest.raises(grpc.RpcError), grpc.insecure_channel(f"127.0.0.1:{rest.grpc_port}") as chan:
        model_service_pb2_grpc.ModelServiceStub(chan).GetModelStatus(request, timeout=2)


def test_stock_clients_read_float_val_as_tf_serving_writes_it(channel, published):
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    chan, store = channel
    stub = prediction_service_pb2_grpc.PredictionServiceStub(chan)
    x = published.splits.x_test[:1].astype(np.float32)
    expected = predict.run(store.get("digits_cnn").signature(None), {"pixels": x})
    # example/mnist_client.py: result_future.result().outputs['scores'].float_val
    future = stub.Predict.future(predict_request("digits_cnn", x), 30)
    scores = np.array(future.result().outputs["probabilities"].float_val)
    np.testing.assert_allclose(scores, expected["probabilities"].reshape(-1), rtol=1e-6)
    # example/resnet_client_grpc.py: np.argmax(result.outputs[...].float_val)
    result = stub.Predict(predict_request("digits_cnn", x), 10.0)
    assert np.argmax(result.outputs["probabilities"].float_val) == expected["class_ids"][0]
    assert list(result.outputs["class_ids"].int64_val) == expected["class_ids"].tolist()
    assert list(result.outputs["classes"].string_val) == expected["classes"].tolist()
    assert not result.outputs["probabilities"].tensor_content


def test_tensor_content_and_the_element_limit_follow_the_options(channel, published):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    _, store = channel
    options = grpc_api.GrpcOptions(port=0, tensor_content=True, max_input_elements=100)
    server, port = grpc_api.serve(store, options)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as chan:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(chan)
            x = published.splits.x_test[:1].astype(np.float32)
            out = stub.Predict(predict_request("digits_cnn", x), timeout=30).outputs
            # server.cc: --enable_serialization_as_tensor_content -> AsProtoTensorContent
            assert out["probabilities"].tensor_content and not out["probabilities"].float_val
            assert tf.make_ndarray(out["probabilities"]).shape == (1, 10)
            with pytest.raises(grpc.RpcError) as info:
                stub.Predict(predict_request("digits_cnn", np.zeros((2, 8, 8, 1), "f4")))
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "holds 128 elements; at most 100" in info.value.details()
            assert "--max_input_elements" in info.value.details()
    finally:
        server.stop(grace=2).wait()


def multi_inference(tasks):
    from tensorflow_serving.apis import inference_pb2

    request = inference_pb2.MultiInferenceRequest()
    for name, signature, method in tasks:
        task = request.tasks.add(method_name=method)
        task.model_spec.name, task.model_spec.signature_name = name, signature
    example_input(request, [[1.0, 1.0]])
    return request


@pytest.mark.parametrize(
    ("tasks", "code", "message"),
    [
        # multi_inference.cc (Infer) and multi_inference_test.cc's expected substrings.
        (
            [("ex", "regress", grpc_api.REGRESS_METHOD)] * 2,
            "INVALID_ARGUMENT",
            "Duplicate evaluation of signature: regress",
        ),
        (
            [("ex", "", grpc_api.CLASSIFY_METHOD), ("digits_cnn", "", grpc_api.CLASSIFY_METHOD)],
            "INVALID_ARGUMENT",
            "must access the same model name",
        ),
        (
            [("ex", "predict", "tensorflow/serving/predict")],
            "UNIMPLEMENTED",
            "Unsupported signature method_name: tensorflow/serving/predict",
        ),
        (
            [("", "regress", grpc_api.REGRESS_METHOD)],
            "INVALID_ARGUMENT",
            "Found ModelSpec with an empty model name.",
        ),
        (
            [("ex", "nope", grpc_api.REGRESS_METHOD)],
            "INVALID_ARGUMENT",
            "Requested signature not found in model graph: nope",
        ),
    ],
)
def test_multi_inference_refuses_as_tf_serving(channel, tasks, code, message):
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel[0])
    with pytest.raises(grpc.RpcError) as info:
        stub.MultiInference(multi_inference(tasks), timeout=30)
    assert info.value.code() == getattr(grpc.StatusCode, code)
    assert message in info.value.details()


def test_get_model_status_without_a_model_spec_is_invalid_argument(channel):
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    stub = model_service_pb2_grpc.ModelServiceStub(channel[0])
    # get_model_status_impl.cc (GetModelStatus): InvalidArgument("Missing ModelSpec").
    with pytest.raises(grpc.RpcError) as info:
        stub.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(), timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Missing ModelSpec" in info.value.details()
