"""tf.Example inputs and results of TF Serving's Classify and Regress APIs.

A request's ``Input`` holds an ``example_list`` or an ``example_list_with_context``
(each example gets the context's features, the example's own winning on a
clash); the model's classify/regress signature takes them serialized, under
one string input. Results follow ``classification.proto``/``regression.proto``.
gRPC and REST share :func:`run`; REST builds the ``Input`` with
:func:`input_from_json` (TF Serving's JSON rules, ``json_tensor.cc``) and writes
the results with :func:`results_json`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from google.protobuf import text_format
from tensorflow.core.example import feature_pb2
from tensorflow_serving.apis import classification_pb2, input_pb2, regression_pb2

from .. import tf_example
from ..errors import ServingError, tf_error_message
from ..wire import CLASSIFY_METHOD, REGRESS_METHOD
from . import batching, json_tensor, predict
from .batching import Batcher
from .loaded import LoadedModel, signature_defs
from .metrics import Call
from .session_model import SessionSignature

INPUTS = "inputs"  # the one input of a classify or regress signature (TF Serving's kClassifyInputs)
METHODS = {"classify": CLASSIFY_METHOD, "regress": REGRESS_METHOD}  # REST verb -> method_name


def run(
    model: LoadedModel,
    signature_name: str | None,
    method: str,
    request_input: Any,
    batcher: Batcher | None = None,
    call: Call | None = None,
    check_method: bool = False,
) -> tuple[str, dict[str, np.ndarray]]:
    """Run a signature on the request's examples, as a classify or regress ``method``.

    The signature is held to what TF Serving's classifier and regressor need of it
    (:func:`check_signature`); its ``method_name`` only with ``check_method``
    (TF Serving's ``--enable_signature_method_name_check``, off by default: a
    ``tf.saved_model.save`` signature is always ``tensorflow/serving/predict``).
    With ``batcher`` (and the ``call`` being tracked, whose signature names the
    queue), the serialized examples are batched with concurrent requests.

    Returns:
        The signature's name and its outputs by name.

    Raises:
        ServingError: no such signature, one that does not fit ``method``, or no examples.
    """
    name = signature_name or "serving_default"
    signature = model.signature(name)
    if call is not None:
        call.signature = name
    check_signature(signature_defs(model.path, model.tags)[name], method, check_method)
    spec = predict.input_specs(signature)[INPUTS]
    if spec.dtype.name != "string" and not isinstance(signature, SessionSignature):
        # a function refuses it before its graph runs: TF's words, as a session gives them
        raise ServingError(f"Expects arg[0] to be {spec.dtype.name} but string is provided")
    serialized = tf_example.serialize(request_input)
    import tensorflow as tf

    try:
        arrays = {INPUTS: serialized}
        if call is None:
            return name, predict.run(signature, arrays)
        return name, batching.run(batcher, call, signature, arrays)
    except tf.errors.InvalidArgumentError as exc:  # examples the signature cannot parse
        raise ServingError(tf_error_message(exc.message)) from None


def check_signature(signature_def: Any, method: str, check_method: bool = False) -> None:
    """Refuse a SignatureDef that ``method`` cannot run, as TF Serving's
    ``PreProcessClassification`` / ``PreProcessRegression`` (``classifier.cc``,
    ``regressor.cc``): one input ``inputs``; ``classes`` and/or ``scores`` (classify,
    one or two outputs) or ``outputs`` (regress, one output).

    Raises:
        ServingError: TF Serving's message (HTTP 400, gRPC INVALID_ARGUMENT).
    """
    kind = "classification" if method == CLASSIFY_METHOD else "regression"
    if check_method and signature_def.method_name != method:
        raise ServingError(
            f"Expected {kind} signature method_name to be {method}. "
            f"Was: {signature_def.method_name}"
        )
    inputs, outputs = signature_def.inputs, signature_def.outputs
    if len(inputs) != 1:
        raise ServingError("Expected one input Tensor.")
    if method == CLASSIFY_METHOD and len(outputs) not in (1, 2):
        raise ServingError(f"Expected one or two output Tensors, found {len(outputs)}")
    if method == REGRESS_METHOD and len(outputs) != 1:
        raise ServingError("Expected one output Tensor.")
    text = text_format.MessageToString(signature_def, as_one_line=True)
    if INPUTS not in inputs:
        raise ServingError(f"No {kind} inputs found in SignatureDef: {text}")
    if method == REGRESS_METHOD and "outputs" not in outputs:
        raise ServingError(f"No regression outputs found in SignatureDef: {text}")
    if method == CLASSIFY_METHOD and not {"classes", "scores"} & set(outputs):
        raise ServingError(
            'Expected classification signature outputs to contain at least one of "classes" '
            f'or "scores". Signature was: {text}'
        )


def input_from_json(body: dict[str, Any]) -> Any:
    """The ``Input`` of a REST classify/regress body (``examples`` and optional ``context``).

    Raises:
        ServingError: TF Serving's messages for a missing, empty or malformed list.
    """
    request_input = input_pb2.Input()
    context = "context" in body
    if context:
        _example(body["context"], request_input.example_list_with_context.context)
    examples = body.get("examples")
    if examples is None:
        raise ServingError(
            f"JSON Value: {json_tensor._short(body)} When method is classify, key 'examples' "
            "is expected and was not found"
        )
    if not isinstance(examples, list):
        raise ServingError(
            f"JSON Value: {json_tensor._short(body)} Expecting 'examples' value to be an list/array"
        )
    if not examples:
        raise ServingError(
            f"JSON Value: {json_tensor._short(body)} 'examples' value is an empty array"
        )
    holder = request_input.example_list_with_context if context else request_input.example_list
    for value in examples:
        _example(value, holder.examples.add())
    return request_input


def _example(value: Any, example: Any) -> None:
    if not isinstance(value, dict) or json_tensor.is_b64(value):
        raise ServingError(
            f"Example must be JSON object but got JSON {json_tensor._json_type(value)}"
        )
    for name, content in value.items():
        feature = feature_pb2.Feature()
        for item in content if isinstance(content, list) else [content]:
            _add_value(item, name, feature)
        example.features.feature[name].CopyFrom(feature)


def _add_value(value: Any, name: str, feature: Any) -> None:
    """One JSON value into ``feature``: its list kind is fixed by its first value."""
    if isinstance(value, bool):
        kind, item = "int64_list", int(value)
    elif json_tensor.is_b64(value):
        kind, item = "bytes_list", json_tensor.decode_string(value)
    elif isinstance(value, str):
        kind, item = "bytes_list", value.encode()
    elif isinstance(value, float) or (isinstance(value, int) and not -(1 << 63) <= value < 1 << 64):
        kind, item = "float_list", _double(value)  # RapidJSON reads a bigger integer as a double
    elif isinstance(value, int):
        if value >= 1 << 63:
            raise ServingError(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
        kind, item = "int64_list", value
    else:
        raise ServingError(
            f"Feature: {name} has element with unexpected JSON type: "
            f"{json_tensor._json_type(value)}"
        )
    found = feature.WhichOneof("kind")
    if found is not None and found != kind:
        raise ServingError(
            f"Unexpected element type in feature: {name} expecting type: "
            f"{found.removesuffix('_list')}"
        )
    getattr(feature, kind).value.append(item)


def _double(value: float | int) -> float:
    try:
        return float(value)
    except OverflowError:
        raise ServingError("JSON Parse error: Number too big to be stored in double") from None


def results_json(method: str, outputs: dict[str, np.ndarray]) -> bytes:
    """TF Serving's REST answer: ``{"results": [[[label, score], ...], ...]}`` or ``[v, ...]``."""
    if method == CLASSIFY_METHOD:
        rows = classification_result(outputs).classifications
        values = [np.float32(c.score) for row in rows for c in row.classes]
        payload: Any = [[[c.label, np.float32(c.score)] for c in row.classes] for row in rows]
    else:
        values = [np.float32(r.value) for r in regression_result(outputs).regressions]
        payload = values
    if all(math.isfinite(v) for v in values):
        return json_tensor.dumps({"results": payload})
    return json_tensor.dumps_plain({"results": payload})


def classification_result(outputs: dict[str, np.ndarray]) -> Any:
    """A ``ClassificationResult`` from a classify signature's ``classes``/``scores``."""
    classes, scores = outputs.get("classes"), outputs.get("scores")
    if classes is None and scores is None:
        raise ServingError("classify signature has neither 'classes' nor 'scores' output")
    rows = len(scores if scores is not None else classes)
    result = classification_pb2.ClassificationResult()
    for i in range(rows):
        row = result.classifications.add()
        width = (scores if scores is not None else classes).reshape(rows, -1).shape[1]
        for j in range(width):
            item = row.classes.add()
            if classes is not None:
                value = classes.reshape(rows, -1)[i, j]
                item.label = value.decode() if isinstance(value, bytes) else str(value)
            if scores is not None:
                item.score = float(scores.reshape(rows, -1)[i, j])
    return result


def regression_result(outputs: dict[str, np.ndarray]) -> Any:
    """A ``RegressionResult`` from a regress signature's ``outputs`` (``[N]`` or ``[N, 1]``)."""
    if "outputs" not in outputs:
        raise ServingError(f"regress signature has no 'outputs' output: {sorted(outputs)}")
    values = outputs["outputs"]
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ServingError(
            f"Expected output Tensor shape to be [N] or [N, 1]: {list(values.shape)}"
        )
    result = regression_pb2.RegressionResult()
    for value in values:
        result.regressions.add().value = float(value)
    return result
