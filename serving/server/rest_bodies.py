"""What the REST API reads and answers, apart from HTTP: predict, classify and regress from
body bytes to answer bytes (run in the model pool), and the status, metadata and drift
bodies. :mod:`.rest_api` routes requests to them.
"""

from __future__ import annotations

from typing import Any

from ..errors import ServingError
from ..export.signatures import DEFAULT_SIGNATURE
from . import batching, json_tensor, predict
from .drift import DriftTracker
from .metrics import Call
from .observers import Exchange, Observers
from .store import LoadedModel, ModelStore, signature_defs


def predict_json(
    model: Any,
    raw: bytes,
    call: Call | None = None,
    batcher: batching.Batcher | None = None,
    observers: Observers | None = None,
) -> bytes:
    """The whole REST predict in one call (runs in the pool): body bytes -> answer bytes.

    ``call``, when given, learns the signature and batch size (for the metrics);
    ``batcher``, when given, batches the signature call with concurrent ones;
    ``observers``, when given, see the answered request.
    """
    call = call or Call("rest", "predict", model.name)
    signature, arrays, row_format = decode_predict(model, raw, call)
    outputs = batching.run(batcher, call, signature, arrays)
    return encode_predict(outputs, row_format, observers, model, call, arrays)


def decode_predict(model: Any, raw: bytes, call: Call) -> tuple[Any, dict[str, Any], bool]:
    """A predict body's signature, input arrays and format (row or columnar); ``call``
    learns the signature.

    Raises:
        ServingError: the body, its signature name or its inputs are refused (HTTP 4xx).
    """
    body = json_tensor.loads(raw)
    name = predict.signature_name(body)
    signature = model.signature(name)
    call.signature = name or DEFAULT_SIGNATURE
    arrays, row_format = predict.parse_request(body, predict.input_specs(signature))
    return signature, arrays, row_format


def encode_predict(
    outputs: dict[str, Any], row_format: bool, observers: Observers | None = None, *seen: Any
) -> bytes:
    """A predict answer's bytes, in the request's format; ``observers`` then see the request
    (``seen``: its model, call and input arrays)."""
    if json_tensor.has_non_finite(outputs):
        payload = json_tensor.dumps_plain(predict.format_response(outputs, row_format))
    else:
        payload = json_tensor.dumps(predict.format_response(outputs, row_format))
    if observers:
        model, call, arrays = seen
        parts = {"inputs": arrays, "outputs": outputs}
        observers.notify(Exchange.of(model, call.signature, "predict", "rest", **parts))
    return payload


def examples_json(
    verb: str,
    model: LoadedModel,
    raw: bytes,
    call: Call | None = None,
    batcher: batching.Batcher | None = None,
    check_method: bool = False,
    observers: Observers | None = None,
) -> bytes:
    """REST ``classify`` or ``regress`` in one call (runs in the pool): body -> answer bytes.

    ``batcher``, when given, batches the signature call with concurrent ones;
    ``observers``, when given, see the answered request.
    """
    from . import examples

    call = call or Call("rest", verb, model.name)
    method = examples.METHODS[verb]
    body = json_tensor.loads(raw)
    name = predict.signature_name(body)
    request_input = examples.input_from_json(body)
    name, outputs = examples.run(model, name, method, request_input, batcher, call, check_method)
    payload = examples.results_json(method, outputs)
    if observers:
        parts = {"outputs": outputs, "request": request_input}
        observers.notify(Exchange.of(model, name, verb, "rest", **parts))
    return payload


def status_body(
    store: ModelStore, name: str, version: int | None = None, label: str | None = None
) -> dict[str, Any]:
    """TF Serving's ``GetModelStatusResponse`` as JSON (newest version first)."""
    if version is None and label is None:
        models = store.statuses(name)
    else:
        models = [store.get(name, version, label)]
    return {
        "model_version_status": [
            {
                "version": str(model.version),
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
            for model in models
        ]
    }


def metadata_body(model: Any) -> dict[str, Any]:
    """TF Serving's ``GET .../metadata``: the model spec and its ``SignatureDef``s as JSON."""
    from google.protobuf import json_format

    defs = {
        key: json_format.MessageToDict(
            value, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
        for key, value in signature_defs(model.path, model.tags).items()
    }
    return {
        "model_spec": {"name": model.name, "signature_name": "", "version": str(model.version)},
        "metadata": {"signature_def": {"signature_def": defs}},
    }


def drift_body(drift: DriftTracker | None, model: LoadedModel) -> dict[str, Any]:
    """Our ``GET .../drift``: the version's latest drift report (:mod:`.drift`).

    Raises:
        ServingError: tracking is off, or the version has no training statistics (404).
    """
    if drift is None:
        raise ServingError(
            "drift tracking is off in this server (--drift_window_size 0); restart it "
            "without that flag to track drift",
            status=404,
        )
    return drift.report_body(model)
