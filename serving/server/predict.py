"""The one request path: named arrays -> the SavedModel's concrete function -> named arrays.

REST (``rest_api``) and gRPC decode their wire format into ``{input: ndarray}``
checked against the signature here, and call :func:`run`. This module also
holds TF Serving's REST predict formats: row (``{"instances": [...]}`` ->
``{"predictions": [...]}``) and columnar (``{"inputs": ...}`` ->
``{"outputs": ...}``), with the value rules of :mod:`json_tensor`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import wire
from ..errors import ServingError, tf_error_message
from . import invoke, json_tensor


def input_specs(signature: Any) -> dict[str, Any]:
    """``{input name: tf.TensorSpec}`` of a concrete serving function."""
    return dict(signature.structured_input_signature[1])


def signature_name(body: dict[str, Any]) -> str | None:
    """The request's ``signature_name`` (a string), or ``None`` for the default.

    Raises:
        ServingError: ``signature_name`` is not a string (HTTP 400, TF Serving's message).
    """
    name = body.get(wire.SIGNATURE_NAME)
    if name is not None and not isinstance(name, str):
        raise ServingError(
            f"JSON Value: {json_tensor._short(name)} not formatted correctly. "
            "'signature_name' key must be a string value."
        )
    return name


def parse_request(body: Any, specs: dict[str, Any]) -> tuple[dict[str, np.ndarray], bool]:
    """Turn a request body into named arrays; the flag is true for the row format."""
    if not isinstance(body, dict):
        raise ServingError("JSON Value: request body Is not object")
    if wire.INSTANCES in body and wire.INPUTS in body:
        raise ServingError(
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist"
        )
    if wire.INSTANCES in body:
        arrays, row = _from_instances(body[wire.INSTANCES], specs), True
    elif wire.INPUTS in body:
        arrays, row = _from_inputs(body[wire.INPUTS], specs), False
    else:
        raise ServingError("Missing 'inputs' or 'instances' key")
    return arrays, row


def _is_object(value: Any) -> bool:
    return isinstance(value, dict) and not json_tensor.is_b64(value)


def _from_instances(instances: Any, specs: dict[str, Any]) -> dict[str, np.ndarray]:
    if not isinstance(instances, list):
        raise ServingError("Excepting 'instances' to be an list/array")
    if not instances:
        raise ServingError("No values in 'instances' array")
    if not _is_object(instances[0]):
        if len(specs) > 1:
            raise ServingError(
                "instances is a plain list, but expecting list of objects as multiple input "
                f"tensors required as per tensorinfo_map (inputs: {', '.join(sorted(specs))})"
            )
        ((name, spec),) = specs.items()
        for i, item in enumerate(instances):
            if _is_object(item):
                raise ServingError(f"Expecting value/list but got object at item {i} of input list")
        return {name: _convert(name, instances, spec)}
    names = sorted(specs)
    for i, item in enumerate(instances):
        if not _is_object(item):
            raise ServingError(f"Expecting object but got list at item {i} of input list")
        if sorted(item) != names:
            unknown = sorted(set(item) - set(names))
            if unknown:
                raise ServingError(
                    f"Failed to process element: {i} key: {unknown[0]} of 'instances' list. "
                    f"Error: JSON object: does not have named input: {unknown[0]}"
                )
            raise ServingError(
                f"Failed to process element: {i} of 'instances' list. JSON object keys must "
                f"be equal to: {','.join(names)}"
            )
    return {n: _convert(n, [item[n] for item in instances], specs[n]) for n in names}


def _from_inputs(inputs: Any, specs: dict[str, Any]) -> dict[str, np.ndarray]:
    if not _is_object(inputs):
        if len(specs) > 1:
            raise ServingError(
                "inputs is a plain value/list, but expecting an object as multiple input "
                f"tensors required as per tensorinfo_map (inputs: {', '.join(sorted(specs))})"
            )
        ((name, spec),) = specs.items()
        return {name: _convert(name, inputs, spec)}
    for name in sorted(specs):
        if name not in inputs:
            raise ServingError(f"Missing named input: {name} in 'inputs' object.")
    unknown = sorted(set(inputs) - set(specs))
    if unknown:  # TF Serving ignores them; a typo silently dropped helps no one
        raise ServingError(
            f"'inputs' object has unknown input(s) {unknown}; expected keys {sorted(specs)}"
        )
    return {n: _convert(n, inputs[n], spec) for n, spec in specs.items()}


def _convert(name: str, value: Any, spec: Any) -> np.ndarray:
    try:
        return json_tensor.to_array(value, spec.dtype.name)
    except ServingError as exc:
        raise ServingError(f"input {name!r}: {exc}") from None


def shape_hint(signature: Any, arrays: dict[str, np.ndarray]) -> str:
    """What the signature declares for the inputs whose shape it does not declare (or "")."""
    specs = input_specs(signature)
    parts = [
        f"input {name!r}: expected shape {_shape(specs[name])} ({specs[name].dtype.name}); "
        f"received shape {list(np.shape(array))}"
        for name, array in sorted(arrays.items())
        if name in specs and not specs[name].shape.is_compatible_with(np.shape(array))
    ]
    return "; ".join(parts)


def _shape(spec: Any) -> list[int]:
    return [-1 if d is None else int(d) for d in spec.shape.as_list()]


def batch_size(arrays: dict[str, np.ndarray]) -> int | None:
    """Rows along axis 0 of the first named array (``None`` for scalars or no arrays)."""
    for array in arrays.values():
        return int(array.shape[0]) if _rank(array) else None
    return None


MAX_ROWS_PER_CALL = 512
"""Rows per call of a signature: a larger request runs in slices of this many rows and its
outputs are joined, so one large request cannot allocate activations for all its rows at
once (peak memory stays that of a ``MAX_ROWS_PER_CALL``-row batch)."""


def run(signature: Any, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Call a serving function with named arrays; numpy outputs by name.

    Requests over :data:`MAX_ROWS_PER_CALL` rows run in slices when every input
    and every output of the signature is batch-major (leading dimension unknown).
    """
    rows = batch_size(arrays)
    if rows is None or rows <= MAX_ROWS_PER_CALL or not _batch_major(signature, arrays):
        return _call(signature, arrays)
    parts = [
        _call(signature, {k: v[i : i + MAX_ROWS_PER_CALL] for k, v in arrays.items()})
        for i in range(0, rows, MAX_ROWS_PER_CALL)
    ]
    return {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}


def _call(signature: Any, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One signature call; an input the graph refuses (a corrupt image, a shape its ops
    cannot take) is a 400 with TF's message, and the declared shapes where they differ."""
    import tensorflow as tf

    try:
        outputs = invoke.call(signature, arrays)
    except tf.errors.InvalidArgumentError as exc:
        message, hint = tf_error_message(exc.message), shape_hint(signature, arrays)
        raise ServingError(f"{message} ({hint})" if hint else message) from None
    return {k: v.numpy() if hasattr(v, "numpy") else np.asarray(v) for k, v in outputs.items()}


def _rank(value: Any) -> int:
    """``np.ndim(value)``, without its dispatch for the arrays the request path holds."""
    return value.ndim if isinstance(value, np.ndarray) else np.ndim(value)


def _batch_major(signature: Any, arrays: dict[str, np.ndarray]) -> bool:
    """Every input shares one batch axis and every output has an unknown leading dimension."""
    specs = input_specs(signature).values()
    outputs = signature.structured_outputs.values()
    sizes = {np.shape(a)[0] if np.ndim(a) else None for a in arrays.values()}
    return (
        len(sizes) == 1
        and all(s.shape.rank and s.shape[0] is None for s in specs)
        and all(o.shape.rank and o.shape[0] is None for o in outputs)
    )


def format_response(outputs: dict[str, np.ndarray], row_format: bool) -> dict[str, Any]:
    """TF Serving's response: ``predictions`` (row) or ``outputs`` (columnar).

    Values stay NumPy (``json_tensor.dumps`` writes them); string outputs become
    text or ``{"b64": ...}``.

    Raises:
        ServingError: row format over an output with no batch dimension (a scalar), or
            over outputs of different batch sizes (HTTP 400, TF Serving's
            ``MakeRowFormatJsonFromTensors`` messages).
    """
    encoded = {k: json_tensor.encode_output(k, v) for k, v in outputs.items()}
    if not row_format:
        if len(encoded) == 1:
            return {wire.OUTPUTS: next(iter(encoded.values()))}
        return {wire.OUTPUTS: encoded}
    batch = None
    for name in sorted(outputs):  # TF Serving checks every output, one alone included
        if _rank(outputs[name]) == 0:
            raise ServingError(
                f"Tensor name: {name} has no shape information: a scalar output has no "
                "row per instance; send the request in the columnar format ('inputs')"
            )
        rows = np.shape(outputs[name])[0]
        if batch is not None and rows != batch:
            raise ServingError(
                f"Tensor name: {name} has inconsistent batch size: {rows} expecting: {batch}; "
                "send the request in the columnar format ('inputs')"
            )
        batch = rows
    if len(encoded) == 1:
        return {wire.PREDICTIONS: next(iter(encoded.values()))}
    names = sorted(encoded)
    return {wire.PREDICTIONS: [{k: encoded[k][i] for k in names} for i in range(batch or 0)]}
