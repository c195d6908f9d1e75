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

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
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

from ..errors import ServingError
from ..wire import CLASSIFY_METHOD, REGRESS_METHOD
from . import batching, examples, predict
from .grpc_security import ReloadGate, server_credentials, start_up_roots
from .grpc_status import fill_spec, guard, resolve
from .limits import DEFAULT_MAX_INPUT_ELEMENTS
from .metrics import Metrics
from .observers import Exchange, Observers
from .store import LoadedModel, ModelStore, signature_defs
from .tensor_proto import decode_inputs, fill_tensor_proto, read_tensor_proto
from .tf_serving_metrics import input_examples
from .workers import LifoThreadPool, default_threads

log = logging.getLogger(__name__)

__all__ = [
    "CLASSIFY_METHOD",
    "REGRESS_METHOD",
    "fill_tensor_proto",
    "read_tensor_proto",
    "serve",
    "signature_defs",
]


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict, Classify, Regress, MultiInference and GetModelMetadata over ``store``.

    Args:
        store: the loaded models.
        metrics: where calls are counted.
        batcher: batches Predict calls when given.
        options: ``tensor_content`` and ``max_input_elements`` are read here.
        observers: see every answered call (request logging).
    """

    def __init__(
        self,
        store: ModelStore,
        metrics: Metrics | None = None,
        batcher: batching.Batcher | None = None,
        options: GrpcOptions | None = None,
        observers: Observers | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics or Metrics()
        self.batcher = batcher
        self.options = options or GrpcOptions()
        self.observers = observers or Observers()

    @guard
    def Predict(self, request: Any, context: grpc.ServicerContext) -> Any:
        name = request.model_spec.signature_name or "serving_default"
        with self.metrics.track("grpc", "predict", "") as call:
            model = resolve(self.store, request.model_spec)
            call.model, call.version = model.name, model.version
            signature = _predict_signature(model, name)
            call.signature = name
            wanted = _output_filter(list(request.output_filter), signature)
            specs = predict.input_specs(signature)
            arrays = decode_inputs(dict(request.inputs), specs, self.options.max_input_elements)
            outputs = batching.run(self.batcher, call, signature, arrays)
        response = predict_pb2.PredictResponse()
        fill_spec(response.model_spec, model, name)
        for key in wanted or outputs:
            fill_tensor_proto(response.outputs[key], outputs[key], self.options.tensor_content)
        if self.observers:
            parts = {"inputs": arrays, "outputs": outputs, "request": request, "response": response}
            self.observers.notify(Exchange.of(model, name, "predict", "grpc", **parts))
        return response

    @guard
    def Classify(self, request: Any, context: grpc.ServicerContext) -> Any:
        response = classification_pb2.ClassificationResponse()
        model, name, outputs = self._run_examples(request, CLASSIFY_METHOD)
        fill_spec(response.model_spec, model, name)
        response.result.CopyFrom(examples.classification_result(outputs))
        self._observed(model, name, "classify", outputs, request, response)
        return response

    @guard
    def Regress(self, request: Any, context: grpc.ServicerContext) -> Any:
        response = regression_pb2.RegressionResponse()
        model, name, outputs = self._run_examples(request, REGRESS_METHOD)
        fill_spec(response.model_spec, model, name)
        response.result.CopyFrom(examples.regression_result(outputs))
        self._observed(model, name, "regress", outputs, request, response)
        return response

    @guard
    def MultiInference(self, request: Any, context: grpc.ServicerContext) -> Any:
        response = inference_pb2.MultiInferenceResponse()
        if not request.tasks:
            raise ServingError("MultiInferenceRequest must have at least one task")
        _check_tasks(request.tasks, self.store)
        for task in request.tasks:
            sub = _Sub(task.model_spec, request.input)
            model, name, outputs = self._run_examples(sub, task.method_name)
            result = response.results.add()
            fill_spec(result.model_spec, model, name)
            if task.method_name == CLASSIFY_METHOD:
                result.classification_result.CopyFrom(examples.classification_result(outputs))
            else:
                result.regression_result.CopyFrom(examples.regression_result(outputs))
        self.metrics.tf_serving.record_examples(model.name, input_examples(request.input))
        self._observed(model, "", "multi_inference", None, request, response)
        return response

    def _observed(
        self, model: LoadedModel, name: str, method: str, outputs: Any, request: Any, response: Any
    ) -> None:
        """Hand an answered call to the observers."""
        if self.observers:
            parts = {"outputs": outputs, "request": request, "response": response}
            self.observers.notify(Exchange.of(model, name, method, "grpc", **parts))

    def _run_examples(self, request: Any, method: str) -> tuple[LoadedModel, str, dict]:
        api = "classify" if method == CLASSIFY_METHOD else "regress"
        with self.metrics.track("grpc", api, "") as call:
            call.multi_inference = isinstance(request, _Sub)  # TF Serving's families skip it
            signature = request.model_spec.signature_name
            model = resolve(self.store, request.model_spec)
            call.model, call.version = model.name, model.version
            name, outputs = examples.run(
                model,
                signature,
                method,
                request.input,
                self.batcher,
                call,
                check_method=self.options.method_name_check,
            )
        return model, name, outputs

    @guard
    def GetModelMetadata(self, request: Any, context: grpc.ServicerContext) -> Any:
        if list(request.metadata_field) != ["signature_def"]:
            raise ServingError(
                "Metadata field(s) not supported: expected exactly ['signature_def']; received "
                f"{list(request.metadata_field)}"
            )
        model = resolve(self.store, request.model_spec)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        fill_spec(response.model_spec, model, "")
        defs = get_model_metadata_pb2.SignatureDefMap()
        for key, value in signature_defs(model.path, model.tags).items():
            defs.signature_def[key].CopyFrom(value)
        response.metadata["signature_def"].Pack(defs)
        return response


def _predict_signature(model: LoadedModel, name: str) -> Any:
    """Signature ``name`` of ``model``; FAILED_PRECONDITION when it has none, as
    ``predict_util.cc`` (``RunPredict``) answers."""
    if name not in model.signatures:
        raise ServingError(
            f'Serving signature key "{name}" not found. This model has: '
            f"{', '.join(sorted(model.signatures))}; set model_spec.signature_name to one",
            status=412,
        )
    return model.signature(name)


def _output_filter(aliases: list[str], signature: Any) -> list[str]:
    """``output_filter`` checked as ``predict_util.cc`` (``PreProcessPrediction``) does."""
    known = sorted(signature.structured_outputs)
    seen: set[str] = set()
    for alias in aliases:
        if alias not in known:
            raise ServingError(
                f"output tensor alias not found in signature: {alias} Outputs expected to be "
                f"in the set {{{','.join(known)}}}."
            )
        if alias in seen:
            raise ServingError(f"duplicate output tensor alias: {alias}")
        seen.add(alias)
    return aliases


def _check_tasks(tasks: Any, store: ModelStore) -> None:
    """A MultiInference's tasks checked as ``multi_inference.cc`` (``Infer``) checks them:
    one model, each signature once and in the model, classify or regress only."""
    names = {task.model_spec.name for task in tasks}
    if "" in names:
        raise ServingError("Found ModelSpec with an empty model name.")
    if len(names) > 1:
        raise ServingError(
            "All ModelSpecs in a MultiInferenceRequest must access the same model name. "
            f"Received: {', '.join(sorted(names))}"
        )
    model = resolve(store, tasks[0].model_spec)
    seen: set[str] = set()
    for task in tasks:
        signature = task.model_spec.signature_name or "serving_default"
        if signature in seen:
            raise ServingError(f"Duplicate evaluation of signature: {signature}")
        seen.add(signature)
        if signature not in model.signatures:
            raise ServingError(
                f"Requested signature not found in model graph: {signature}. This model has: "
                f"{', '.join(sorted(model.signatures))}"
            )
        if task.method_name not in (CLASSIFY_METHOD, REGRESS_METHOD):
            raise ServingError(
                f"Unsupported signature method_name: {task.method_name}; a MultiInference "
                f"task is {CLASSIFY_METHOD} or {REGRESS_METHOD} (send Predict separately)",
                status=501,
            )


class _Sub:
    """A classify/regress request assembled from one MultiInference task."""

    def __init__(self, model_spec: Any, input: Any) -> None:
        self.model_spec, self.input = model_spec, input


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus and HandleReloadConfigRequest over ``store``."""

    def __init__(self, store: ModelStore, reload: ReloadGate | None = None) -> None:
        self.store = store
        self.reload = reload or ReloadGate(False, ())

    @guard
    def GetModelStatus(self, request: Any, context: grpc.ServicerContext) -> Any:
        spec = request.model_spec
        if not request.HasField("model_spec") or not spec.name:
            # get_model_status_impl.cc (GetModelStatus): no ModelSpec is INVALID_ARGUMENT
            raise ServingError("Missing ModelSpec: set model_spec.name to the model to report on")
        models = (
            [resolve(self.store, spec)]
            if spec.HasField("version") or spec.HasField("version_label")
            else self.store.statuses(spec.name)
        )
        response = get_model_status_pb2.GetModelStatusResponse()
        for model in models:
            status = response.model_version_status.add()
            status.version = model.version
            status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
            status.status.SetInParent()  # error_code OK, as TF Serving sends it
        return response

    @guard
    def HandleReloadConfigRequest(self, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            self.store.configure(self.reload.entries(request.config))
        except ServingError as exc:
            log.error("ReloadConfig failed: %s", exc)
            raise
        return model_management_pb2.ReloadConfigResponse()


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
        config_reload: accept ``HandleReloadConfigRequest`` (``--enable_model_config_reload``);
            off, it answers UNIMPLEMENTED.
        max_input_elements: elements one request input may hold (``--max_input_elements``).
        method_name_check: Classify, Regress and MultiInference need those method names
            (``--enable_signature_method_name_check``).
        reload_roots: the folders a reload's base paths must lie under; empty: the
            repository root and the base paths the store serves when :func:`serve` starts.
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
    method_name_check: bool = False
    reload_roots: tuple[Path, ...] = ()


HEALTH_SERVICES = ("ModelService", "PredictionService")
"""The service names TF Serving marks SERVING in its health service (``server.cc``)."""


def serve(
    store: ModelStore,
    options: GrpcOptions | None = None,
    metrics: Metrics | None = None,
    batcher: batching.Batcher | None = None,
    observers: Observers | None = None,
) -> tuple[grpc.Server, int]:
    """Start the gRPC server as ``options`` say; returns it and its TCP port.

    With a ``batcher``, Predict calls are batched and every admitted call gets a thread;
    ``observers`` see every answered Predict, Classify, Regress and MultiInference.

    Raises:
        ServingError: the port or socket cannot be bound (HTTP 503), or the
            ``--ssl_config_file`` is unreadable or incomplete.
    """
    options = options or GrpcOptions()
    credentials = server_credentials(options.ssl_config) if options.ssl_config else None
    roots = options.reload_roots or start_up_roots(store)
    arguments = {"grpc.max_receive_message_length": 64 * 1024 * 1024}
    arguments.update(options.channel_arguments)
    threads = request_threads(options.workers, options.max_inflight, batcher)
    server = grpc.server(
        LifoThreadPool(threads, thread_name_prefix="grpc"),
        options=list(arguments.items()),
        maximum_concurrent_rpcs=options.max_inflight,  # beyond: RESOURCE_EXHAUSTED, as TF Serving
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(store, metrics, batcher, options, observers), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelService(store, ReloadGate(options.config_reload, roots)), server
    )
    if options.healthcheck:
        _add_health(server)
    bound = _listen(server, f"{options.host}:{options.port}", "--port", credentials)
    if options.socket_path:
        _listen(server, f"unix:{options.socket_path}", "--grpc_socket_path", credentials)
    server.start()
    return server, bound


def _listen(
    server: grpc.Server, address: str, flag: str, credentials: grpc.ServerCredentials | None
) -> int:
    """Bind ``address`` (with TLS when ``credentials`` are given, as TF Serving binds both
    its listeners); the bound port (or 1 for a UNIX socket).

    Raises:
        ServingError: it cannot be bound (HTTP 503).
    """
    try:
        if credentials is None:
            bound = server.add_insecure_port(address)
        else:
            bound = server.add_secure_port(address, credentials)
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
