"""TF Serving's gRPC API as a :class:`~kerasforge.serving.clients.rest_client.Client`, with the
official stubs.

``predict`` answers exactly what the REST client answers for the same
instances: the request's tensors are built with the dtypes the signature
declares (read once per model version from ``GetModelMetadata``, which also
names the input of a single-input signature that row-format instances leave
unnamed), and the response is written as TF Serving's REST row format. Importing
this module loads TensorFlow (the tensorflow-serving-api protos are built on
its ``TensorProto``) and nothing from training.

Example:
    >>> with GrpcClient("127.0.0.1:8500") as client:
    ...     client.predict("digits_cnn", pixels.tolist(), label="stable")
"""

from __future__ import annotations

from typing import Any

import grpc
import numpy as np
import orjson
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from .. import wire
from ..errors import ServingError
from ..server import json_tensor, predict
from .rest_client import check_version_choice

DEFAULT_SIGNATURE = "serving_default"
_HTTP = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.FAILED_PRECONDITION: 412,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
_JSON = {"preserving_proto_field_name": True, "always_print_fields_with_no_presence": True}


class GrpcClient:
    """Talks TF Serving's gRPC API at ``address`` (``HOST:PORT``, e.g. ``127.0.0.1:8500``)."""

    def __init__(self, address: str = "127.0.0.1:8500", timeout: float = 30.0) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ServingError(
                f"bad gRPC address {address!r}: expected HOST:PORT, e.g. 127.0.0.1:8500"
            )
        self.address = address
        self.timeout = timeout
        self._channel = grpc.insecure_channel(address)
        self._predictions = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self._signatures: dict[tuple[str, int | None, str | None], dict[str, Any]] = {}

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def __enter__(self) -> GrpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            code = exc.code()
            hint = "; is the server running (`make serve`)?" if code in _UNREACHABLE else ""
            raise ServingError(
                f"{self.address} answered {code.name}: {exc.details()}{hint}",
                _HTTP.get(code, 500),
            ) from None

    def status(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> dict[str, Any]:
        """TF Serving's ``GetModelStatusResponse`` as JSON (as REST answers it)."""
        request = get_model_status_pb2.GetModelStatusRequest()
        _spec(request.model_spec, name, version, label)
        reply = self._call(self._models.GetModelStatus, request)
        return json_format.MessageToDict(reply, **_JSON)

    def metadata(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> dict[str, Any]:
        """TF Serving's ``GetModelMetadataResponse`` as JSON (as REST answers it)."""
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        _spec(request.model_spec, name, version, label)
        reply = self._call(self._predictions.GetModelMetadata, request)
        defs = get_model_metadata_pb2.SignatureDefMap()
        reply.metadata["signature_def"].Unpack(defs)
        return {
            "model_spec": {
                "name": reply.model_spec.name,
                "signature_name": "",
                "version": str(reply.model_spec.version.value),
            },
            "metadata": {"signature_def": json_format.MessageToDict(defs, **_JSON)},
        }

    def predict(
        self,
        name: str,
        instances: list[Any],
        version: int | None = None,
        signature_name: str | None = None,
        label: str | None = None,
    ) -> list[Any]:
        """Row-format predict: one prediction per instance, as the REST client returns it."""
        signature = signature_name or DEFAULT_SIGNATURE
        inputs = self._inputs(name, version, label, signature)
        request = predict_pb2.PredictRequest()
        _spec(request.model_spec, name, version, label)
        request.model_spec.signature_name = signature
        for key, array in columns(instances, inputs, signature).items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(array))
        reply = self._call(self._predictions.Predict, request)
        outputs = {key: tf.make_ndarray(proto) for key, proto in reply.outputs.items()}
        body = json_tensor.dumps(predict.format_response(outputs, row_format=True))
        return orjson.loads(body)[wire.PREDICTIONS]

    def _inputs(
        self, name: str, version: int | None, label: str | None, signature: str
    ) -> dict[str, str]:
        """``{input: dtype}`` of ``signature`` (``DT_FLOAT`` ...), read once per model version."""
        key = (name, version, label)
        if key not in self._signatures:
            defs = self.metadata(name, version, label)["metadata"]["signature_def"]
            self._signatures[key] = defs["signature_def"]
        defs = self._signatures[key]
        if signature not in defs:
            raise ServingError(
                f"model {name!r} has no signature {signature!r}; it has {sorted(defs)}", 400
            )
        return {k: v["dtype"] for k, v in defs[signature]["inputs"].items()}


_UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
_NUMPY = {
    "DT_FLOAT": "float32",
    "DT_DOUBLE": "float64",
    "DT_HALF": "float16",
    "DT_INT8": "int8",
    "DT_INT16": "int16",
    "DT_INT32": "int32",
    "DT_INT64": "int64",
    "DT_UINT8": "uint8",
    "DT_BOOL": "bool",
    "DT_STRING": "object",
}


def _spec(spec: Any, name: str, version: int | None, label: str | None) -> None:
    check_version_choice(version, label)
    spec.name = name
    if version is not None:
        spec.version.value = version
    elif label is not None:
        spec.version_label = label


def columns(instances: list[Any], inputs: dict[str, str], signature: str) -> dict[str, np.ndarray]:
    """Row-format instances -> one array per input, in the dtype the signature declares.

    Raises:
        ServingError: the instances name other inputs than the signature has, or
            unnamed instances for a signature with several inputs.
    """
    if not instances:
        raise ServingError("No values in 'instances' array")
    named = all(isinstance(item, dict) for item in instances)
    if not named:
        if len(inputs) != 1:
            raise ServingError(
                f"signature {signature!r} takes inputs {sorted(inputs)}; send each instance "
                "as an object naming them"
            )
        ((key, dtype),) = inputs.items()
        return {key: _array([_plain(i) for i in instances], dtype, key)}
    keys = {k for item in instances for k in item}
    if keys != set(inputs) or any(set(item) != keys for item in instances):
        raise ServingError(
            f"signature {signature!r} takes inputs {sorted(inputs)}; the instances name "
            f"{sorted(keys)}"
        )
    return {k: _array([_plain(i[k]) for i in instances], inputs[k], k) for k in sorted(inputs)}


def _plain(value: Any) -> Any:
    """``{"b64": ...}`` objects (as JSON inputs write bytes) -> ``bytes``."""
    if json_tensor.is_b64(value):
        return json_tensor.decode_string(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _array(values: list[Any], dtype: str, key: str) -> np.ndarray:
    if dtype not in _NUMPY:
        raise ServingError(f"input {key!r} has dtype {dtype}, which this client does not send")
    try:
        if dtype == "DT_STRING":
            flat = np.asarray(values, dtype=object)
            return np.vectorize(_utf8, otypes=[object])(flat) if flat.size else flat
        return np.asarray(values, dtype=_NUMPY[dtype])
    except (ValueError, TypeError) as exc:
        raise ServingError(
            f"input {key!r}: expected {_NUMPY[dtype]} values in a dense array; {exc}"
        ) from None


def _utf8(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()
