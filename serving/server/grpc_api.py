"""TF Serving's gRPC API with the official tensorflow-serving-api stubs.

``tensorflow.serving.PredictionService``: Predict, Classify, Regress,
MultiInference, GetModelMetadata; ``tensorflow.serving.ModelService``:
GetModelStatus, HandleReloadConfigRequest (a new ``ModelServerConfig``,
applied whole or not at all). A ``ModelSpec`` names a version, a
``version_label`` or neither (the latest). Requests are decoded to named arrays
and run through :func:`kerasforge.serving.server.predict.run` (classify/regress through
:func:`kerasforge.serving.server.examples.run`), the paths REST uses. Status codes as
TF Serving: NOT_FOUND for a missing model or version, INVALID_ARGUMENT for a
bad request or an unknown label, FAILED_PRECONDITION for a config whose label
names a version not loaded, RESOURCE_EXHAUSTED beyond ``max_inflight``
concurrent calls.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from ..errors import ServingError, tf_error_message
from ..wire import CLASSIFY_METHOD, REGRESS_METHOD
from . import batching, examples, model_config, predict
from .limits import DEFAULT_MAX_INPUT_ELEMENTS
from .metrics import Metrics
from .store import LoadedModel, ModelStore, signature_defs
from .workers import LifoThreadPool, default_threads

log = logging.getLogger(__name__)

__all__ = ["CLASSIFY_METHOD", "REGRESS_METHOD", "serve", "signature_defs"]
_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    412: grpc.StatusCode.FAILED_PRECONDITION,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def resolve(store: ModelStore, spec: Any) -> LoadedModel:
    """The loaded model a ``ModelSpec`` names (version, label or latest)."""
    if not spec.name:
        raise ServingError("ModelSpec has no name specified.")
    choice = spec.WhichOneof("version_choice")
    version = spec.version.value if choice == "version" else None
    label = spec.version_label if choice == "version_label" else None
    return store.get(spec.name, version, label)


def _abort(context: grpc.ServicerContext, exc: ServingError) -> None:
    context.abort(_CODES.get(exc.status, grpc.StatusCode.INTERNAL), str(exc))


def _fill_spec(out: Any, model: LoadedModel, signature: str) -> None:
    out.name = model.name
    out.version.value = model.version
    out.signature_name = signature


def _guard(method: Any) -> Any:
    """Turn ServingError into the matching gRPC status; keep other failures as INTERNAL."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except ServingError as exc:
            _abort(context, exc)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, tf_error_message(str(exc)))

    return wrapper


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict, Classify, Regress, MultiInference and GetModelMetadata over ``store``."""

    def __init__(
        self,
        store: ModelStore,
        metrics: Metrics | None = None,
        batcher: batching.Batcher | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics or Metrics()
        self.batcher = batcher

    @_guard
    def Predict(self, request: Any, context: grpc.ServicerContext) -> Any:
        name = request.model_spec.signature_name or "serving_default"
        with self.metrics.track("grpc", "predict", "") as call:
            model = resolve(self.store, request.model_spec)
            call.model, call.version = model.name, model.version
            signature = model.signature(name)
            call.signature = name
            specs = predict.input_specs(signature)
            arrays = decode_inputs(dict(request.inputs), specs)
            outputs = batching.run(self.batcher, call, signature, arrays)
        if request.output_filter:
            unknown = sorted(set(request.output_filter) - set(outputs))
            if unknown:
                raise ServingError(f"output tensor alias not found in signature: {unknown[0]}")
            outputs = {k: outputs[k] for k in request.output_filter}
        response = predict_pb2.PredictResponse()
        _fill_spec(response.model_spec, model, name)
        for key, value in outputs.items():
            fill_tensor_proto(response.outputs[key], value)
        return response

    @_guard
    def Classify(self, request: Any, context: grpc.ServicerContext) -> Any:
        response = classification_pb2.ClassificationResponse()
        model, name, outputs = self._run_examples(request, CLASSIFY_METHOD)
        _fill_spec(response.model_spec, model, name)
        response.result.CopyFrom(examples.classification_result(outputs))
        return response

    @_guard
    def Regress(self, request: Any, context: grpc.ServicerContext) -> Any:
        response = regression_pb2.RegressionResponse()
        model, name, outputs = self._run_examples(request, REGRESS_METHOD)
        _fill_spec(response.model_spec, model, name)
        response.result.CopyFrom(examples.regression_result(outputs))
        return response

    @_guard
    def MultiInference(self, request: Any, context: grpc.ServicerContext) -> Any:
        response = inference_pb2.MultiInferenceResponse()
        if not request.tasks:
            raise ServingError("MultiInferenceRequest must have at least one task")
        for task in request.tasks:
            if task.method_name not in (CLASSIFY_METHOD, REGRESS_METHOD):
                raise ServingError(f"Unsupported signature method_name: {task.method_name}")
            sub = _Sub(task.model_spec, request.input)
            model, name, outputs = self._run_examples(sub, task.method_name)
            result = response.results.add()
            _fill_spec(result.model_spec, model, name)
            if task.method_name == CLASSIFY_METHOD:
                result.classification_result.CopyFrom(examples.classification_result(outputs))
            else:
                result.regression_result.CopyFrom(examples.regression_result(outputs))
        return response

    def _run_examples(self, request: Any, method: str) -> tuple[LoadedModel, str, dict]:
        api = "classify" if method == CLASSIFY_METHOD else "regress"
        with self.metrics.track("grpc", api, "") as call:
            call.multi_inference = isinstance(request, _Sub)  # TF Serving's families skip it
            signature = request.model_spec.signature_name
            model = resolve(self.store, request.model_spec)
            call.model, call.version = model.name, model.version
            name, outputs = examples.run(
                model, signature, method, request.input, self.batcher, call
            )
        return model, name, outputs

    @_guard
    def GetModelMetadata(self, request: Any, context: grpc.ServicerContext) -> Any:
        if list(request.metadata_field) != ["signature_def"]:
            raise ServingError(
                "Metadata field(s) not supported: expected exactly ['signature_def']; received "
                f"{list(request.metadata_field)}"
            )
        model = resolve(self.store, request.model_spec)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _fill_spec(response.model_spec, model, "")
        defs = get_model_metadata_pb2.SignatureDefMap()
        for key, value in signature_defs(model.path).items():
            defs.signature_def[key].CopyFrom(value)
        response.metadata["signature_def"].Pack(defs)
        return response


class _Sub:
    """A classify/regress request assembled from one MultiInference task."""

    def __init__(self, model_spec: Any, input: Any) -> None:
        self.model_spec, self.input = model_spec, input


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus and HandleReloadConfigRequest over ``store``."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store

    def GetModelStatus(self, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            spec = request.model_spec
            models = (
                [resolve(self.store, spec)]
                if spec.HasField("version") or spec.HasField("version_label")
                else self.store.statuses(spec.name)
            )
        except ServingError as exc:
            _abort(context, exc)
        response = get_model_status_pb2.GetModelStatusResponse()
        for model in models:
            status = response.model_version_status.add()
            status.version = model.version
            status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
            status.status.SetInParent()  # error_code OK, as TF Serving sends it
        return response

    @_guard
    def HandleReloadConfigRequest(self, request: Any, context: grpc.ServicerContext) -> Any:
        if request.config.WhichOneof("config") != "model_config_list":
            raise ServingError(
                "ServerModelConfig type not supported by HandleReloadConfigRequest. Only "
                "ModelConfigList is currently supported"
            )
        try:
            self.store.configure(model_config.entries_from_proto(request.config))
        except ServingError as exc:
            log.error("ReloadConfig failed: %s", exc)
            raise
        return model_management_pb2.ReloadConfigResponse()


def fill_tensor_proto(proto: Any, array: np.ndarray) -> None:
    """Write ``array`` into a TensorProto as ``tf.make_tensor_proto`` would (raw
    ``tensor_content`` for numbers, ``string_val`` for strings), without its per-call
    checks: a tenth of the time for a response's small outputs."""
    dtype = types_pb2.DT_STRING if array.dtype == object else _PROTO_DTYPES.get(array.dtype.str)
    if dtype is None:  # bool, complex, big-endian...: TensorFlow's own encoder
        proto.CopyFrom(tf.make_tensor_proto(array))
        return
    proto.dtype = dtype
    for size in array.shape:
        proto.tensor_shape.dim.add().size = size
    if dtype == types_pb2.DT_STRING:
        proto.string_val.extend(
            v if isinstance(v, bytes) else str(v).encode() for v in array.reshape(-1)
        )
    else:
        proto.tensor_content = np.ascontiguousarray(array).tobytes()


_PROTO_DTYPES = {
    np.dtype(name).str: tf.dtypes.as_dtype(name).as_datatype_enum
    for name in ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8")
}


_NUMPY_DTYPES = {enum: np.dtype(name) for name, enum in _PROTO_DTYPES.items()}


def read_tensor_proto(proto: Any) -> np.ndarray:
    """``tf.make_ndarray(proto)``: a TensorProto with raw ``tensor_content`` (what gRPC
    clients send, ``tf.make_tensor_proto`` writes them) is read straight from its bytes;
    any other form (``float_val`` lists, strings, scalars repeated to fill a shape) goes
    to TensorFlow's own decoder.

    Raises:
        ValueError: the content does not fill the declared shape.
    """
    dtype = _NUMPY_DTYPES.get(proto.dtype)
    if dtype is None or not proto.tensor_content or proto.tensor_shape.unknown_rank:
        return tf.make_ndarray(proto)
    shape = [d.size for d in proto.tensor_shape.dim]
    values = np.frombuffer(proto.tensor_content, dtype=dtype)
    if values.size != math.prod(shape):
        raise ValueError(
            f"tensor_content holds {values.size} {dtype.name} values; shape {shape} needs "
            f"{math.prod(shape)}"
        )
    return values.reshape(shape)


def decode_inputs(inputs: dict[str, Any], specs: dict[str, Any]) -> dict[str, np.ndarray]:
    """``PredictRequest.inputs`` as arrays checked against the signature (TF Serving's words)."""
    for key in inputs:
        if key not in specs:
            raise ServingError(
                f"input tensor alias not found in signature: {key}. Inputs expected to be in "
                f"the set {{{','.join(sorted(specs))}}}."
            )
    missing = sorted(set(specs) - set(inputs))
    if missing:
        raise ServingError(
            f"Request inputs do not match required inputs for model. Missing: {missing}"
        )
    arrays = {}
    for key, proto in inputs.items():
        want = specs[key].dtype
        if proto.dtype != want.as_datatype_enum:
            raise ServingError(
                f"Expects arg[{key}] to be {want.name} but "
                f"{tf.dtypes.as_dtype(proto.dtype).name} is provided"
            )
        array = read_tensor_proto(proto)
        predict.check_shape(key, array, specs[key])
        arrays[key] = array
    return arrays


MAX_INFLIGHT = 64
"""gRPC calls admitted at once by default; beyond them, RESOURCE_EXHAUSTED."""


def request_threads(workers: int, max_inflight: int, batcher: batching.Batcher | None) -> int:
    """Threads of the gRPC server: ``workers`` (0: 4 per CPU), or ``max_inflight`` when
    batching, where every admitted call waits in its thread for its batch."""
    return max_inflight if batcher else workers or default_threads()


@dataclass(frozen=True, kw_only=True)
class GrpcOptions:
    """How the gRPC server listens and answers (TF Serving's gRPC flags).

    Attributes:
        host: address to bind.
        port: TCP port (0: any free one).
        workers: threads answering calls (``--grpc_max_threads``; 0: 4 per CPU).
        max_inflight: calls admitted at once; beyond, RESOURCE_EXHAUSTED.
        socket_path: also listen on this UNIX socket (``--grpc_socket_path``).
        channel_arguments: gRPC server arguments (``--grpc_channel_arguments``); they
            override this server's own (a 64 MiB receive limit).
        healthcheck: serve ``grpc.health.v1.Health`` (``--enable_grpc_healthcheck_service``).
        ssl_config: TF Serving ``SSLConfig`` text proto for the listeners (``--ssl_config_file``).
        tensor_content: answer with ``tensor_content`` instead of typed fields
            (``--enable_serialization_as_tensor_content``).
        config_reload: accept ``HandleReloadConfigRequest`` (``--enable_model_config_reload``).
        max_input_elements: elements one request input may hold (``--max_input_elements``).
    """

    host: str = "127.0.0.1"
    port: int = 8500
    workers: int = 0
    max_inflight: int = MAX_INFLIGHT
    socket_path: str | None = None
    channel_arguments: tuple[tuple[str, int | str], ...] = ()
    healthcheck: bool = False
    ssl_config: Path | None = None
    tensor_content: bool = False
    config_reload: bool = False
    max_input_elements: int = DEFAULT_MAX_INPUT_ELEMENTS


HEALTH_SERVICES = ("ModelService", "PredictionService")
"""The service names TF Serving marks SERVING in its health service (``server.cc``)."""


def serve(
    store: ModelStore,
    options: GrpcOptions | None = None,
    metrics: Metrics | None = None,
    batcher: batching.Batcher | None = None,
) -> tuple[grpc.Server, int]:
    """Start the gRPC server as ``options`` say; returns it and its TCP port.

    With a ``batcher``, Predict calls are batched and every admitted call gets a thread.

    Raises:
        ServingError: the port or socket cannot be bound (HTTP 503).
    """
    options = options or GrpcOptions()
    arguments = {"grpc.max_receive_message_length": 64 * 1024 * 1024}
    arguments.update(options.channel_arguments)
    threads = request_threads(options.workers, options.max_inflight, batcher)
    server = grpc.server(
        LifoThreadPool(threads, thread_name_prefix="grpc"),
        options=list(arguments.items()),
        maximum_concurrent_rpcs=options.max_inflight,  # beyond: RESOURCE_EXHAUSTED, as TF Serving
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(store, metrics, batcher), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(store), server)
    if options.healthcheck:
        _add_health(server)
    bound = _listen(server, f"{options.host}:{options.port}", "--port")
    if options.socket_path:
        _listen(server, f"unix:{options.socket_path}", "--grpc_socket_path")
    server.start()
    return server, bound


def _listen(server: grpc.Server, address: str, flag: str) -> int:
    """Bind ``address``; the bound port (or 1 for a UNIX socket).

    Raises:
        ServingError: it cannot be bound (HTTP 503).
    """
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise ServingError(
            f"cannot listen for gRPC on {address}; another server may hold it, or its folder "
            f"is missing: choose another with {flag}",
            status=503,
        )
    return bound


def _add_health(server: grpc.Server) -> None:
    """``grpc.health.v1.Health``: the server and TF Serving's two services SERVING."""
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    servicer = health.HealthServicer()
    for service in ("", *HEALTH_SERVICES):
        servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
