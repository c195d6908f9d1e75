"""How the gRPC server listens, as TF Serving's flags set it: a UNIX socket
(``--grpc_socket_path``), channel arguments (``--grpc_channel_arguments``) and the
standard health service (``--enable_grpc_healthcheck_service``), over real channels."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from kerasforge.serving.server.embedded import GrpcOptions, ServerOptions, start_store, stop
from kerasforge.serving.server.store import ModelStore
from tests.serving.example_model import save_example_model

pytestmark = pytest.mark.heavy  # saves a model and starts servers


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    root = tmp_path_factory.mktemp("listen")
    save_example_model(root / "ex" / "1")
    return root


def serving(repository, **options):
    store = ModelStore(repository)
    store.refresh()
    server = start_store(
        store, ServerOptions(rest_port=0, grpc=GrpcOptions(port=0, **options), poll_seconds=0)
    )
    return server, store


def model_status(channel: grpc.Channel):
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "ex"
    return model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=10)


def test_the_unix_socket_and_the_health_service_answer(repository, tmp_path):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    socket = tmp_path / "tfs.sock"
    server, store = serving(repository, socket_path=str(socket), healthcheck=True)
    try:
        # server.cc: listens on "unix:" + grpc_socket_path beside the TCP port.
        with grpc.insecure_channel(f"unix:{socket}") as channel:
            status = model_status(channel)
            assert status.model_version_status[0].version == 1
            health = health_pb2_grpc.HealthStub(channel)
            # server.cc: SetServingStatus("ModelService"/"PredictionService", true); the
            # default service ("") is SERVING in gRPC's default health service.
            for service in ("", "ModelService", "PredictionService"):
                answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
                assert answer.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.RpcError) as info:
                health.Check(health_pb2.HealthCheckRequest(service="Nope"), timeout=10)
            assert info.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        stop(server, store)


def test_without_the_flag_there_is_no_health_service(repository):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    server, store = serving(repository)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            with pytest.raises(grpc.RpcError) as info:
                health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        stop(server, store)


def test_channel_arguments_override_the_server_s_own(repository):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    limit = ("grpc.max_receive_message_length", 1024)
    server, store = serving(repository, channel_arguments=(limit,))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            request = predict_pb2.PredictRequest()
            request.model_spec.name, request.model_spec.signature_name = "ex", "predict"
            request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones((4, 2), np.float32)))
            assert stub.Predict(request, timeout=10).outputs["y"]
            request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones((512, 2), np.float32)))
            with pytest.raises(grpc.RpcError) as info:
                stub.Predict(request, timeout=10)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        stop(server, store)


def test_a_socket_in_a_missing_folder_is_one_clear_error(repository, tmp_path):
    from kerasforge.serving.errors import ServingError

    with pytest.raises(ServingError, match=r"cannot listen for gRPC on unix:.*--grpc_socket_path"):
        serving(repository, socket_path=str(tmp_path / "no" / "such" / "dir" / "s.sock"))
