"""The servicers behind TF Serving's gRPC API, over a model store.

:class:`PredictionService` (``tensorflow.serving.PredictionService``): Predict, Classify,
Regress, MultiInference, GetModelMetadata; :class:`ModelService`
(``tensorflow.serving.ModelService``): GetModelStatus, HandleReloadConfigRequest (a new
``ModelServerConfig``, applied whole or not at all). A ``ModelSpec`` names a version, a
``version_label`` or neither (the latest). Requests are decoded to named arrays and run
through :func:`kerasforge.serving.server.predict.run` (classify/regress through
:func:`kerasforge.serving.server.examples.run`), the paths REST uses; a request's checks
follow TF Serving's ``predict_util.cc`` and ``multi_inference.cc``. Errors become status
codes in :mod:`kerasforge.serving.server.grpc_status`; :mod:`kerasforge.serving.server.grpc_api`
starts the server that hosts these servicers.
"""

from __future__ import annotations

import logging
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
from .grpc_security import ReloadGate
from .grpc_status import fill_spec, guard, resolve
from .metrics import Metrics
from .observers import Exchange, Observers
from .options import GrpcOptions
from .store import LoadedModel, ModelStore, signature_defs
from .tensor_proto import decode_inputs, fill_tensor_proto
from .tf_serving_metrics import input_examples

log = logging.getLogger(__name__)


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict, Classify, Regress, MultiInference and GetModelMetadata over ``store``.

    Args:
        store: the loaded models.
        metrics: where calls are counted.
        batcher: batches Predict calls when given.
        options: ``tensor_content`` and ``max_input_elements`` are read here.
        observers: see every answered call (request logging).
        check_method: Classify, Regress and MultiInference need those method names
            (``--enable_signature_method_name_check``).
    """

    def __init__(
        self,
        store: ModelStore,
        metrics: Metrics | None = None,
        batcher: batching.Batcher | None = None,
        options: GrpcOptions | None = None,
        observers: Observers | None = None,
        check_method: bool = False,
    ) -> None:
        self.store = store
        self.metrics = metrics or Metrics()
        self.batcher = batcher
        self.options = options or GrpcOptions()
        self.observers = observers or Observers()
        self.check_method = check_method

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
        return self._answer_examples(request, response, CLASSIFY_METHOD, "classify")

    @guard
    def Regress(self, request: Any, context: grpc.ServicerContext) -> Any:
        response = regression_pb2.RegressionResponse()
        return self._answer_examples(request, response, REGRESS_METHOD, "regress")

    def _answer_examples(self, request: Any, response: Any, method: str, kind: str) -> Any:
        """Fill a Classify or Regress ``response`` from the request's tf.Examples."""
        model, name, outputs = self._run_examples(request, method)
        fill_spec(response.model_spec, model, name)
        if kind == "classify":
            response.result.CopyFrom(examples.classification_result(outputs))
        else:
            response.result.CopyFrom(examples.regression_result(outputs))
        self._observed(model, name, kind, outputs, request, response)
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
                check_method=self.check_method,
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
