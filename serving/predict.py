"""TF Serving's predict request and response formats (REST JSON).

Row format: ``{"instances": [...]}`` -> ``{"predictions": [...]}``; columnar
format: ``{"inputs": ...}`` -> ``{"outputs": ...}``. An instance is the value of
the single input, or an object keyed by input name; with several outputs each
prediction is an object keyed by output name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kerasforge.serving.errors import ServingError


def input_specs(signature: Any) -> dict[str, Any]:
    """``{input name: tf.TensorSpec}`` of a concrete serving function."""
    return dict(signature.structured_input_signature[1])


def parse_request(body: Any, specs: dict[str, Any]) -> tuple[dict[str, np.ndarray], bool]:
    """Turn a request body into named arrays; the flag is true for the row format."""
    if not isinstance(body, dict):
        raise ServingError(
            "JSON Value: request body must be a JSON object with 'instances' or 'inputs'"
        )
    if ("instances" in body) == ("inputs" in body):
        raise ServingError(
            "Missing 'inputs' or 'instances' key"
            if "instances" not in body
            else "Request body cannot contain both 'instances' and 'inputs'"
        )
    if "instances" in body:
        return _from_instances(body["instances"], specs), True
    return _from_inputs(body["inputs"], specs), False


def _from_instances(instances: Any, specs: dict[str, Any]) -> dict[str, np.ndarray]:
    if not isinstance(instances, list) or not instances:
        raise ServingError("'instances' must be a non-empty JSON list, one entry per example")
    if all(isinstance(i, dict) for i in instances):
        missing = [n for n in specs if any(n not in i for i in instances)]
        if missing:
            raise ServingError(f"instances lack input(s) {missing}; expected keys {list(specs)}")
        return {n: _array(n, [i[n] for i in instances], spec) for n, spec in specs.items()}
    if len(specs) != 1:
        raise ServingError(
            f"the signature has inputs {list(specs)}: each instance must be an object "
            "keyed by input name"
        )
    ((name, spec),) = specs.items()
    return {name: _array(name, instances, spec)}


def _from_inputs(inputs: Any, specs: dict[str, Any]) -> dict[str, np.ndarray]:
    if isinstance(inputs, dict):
        unknown = sorted(set(inputs) - set(specs))
        missing = sorted(set(specs) - set(inputs))
        if unknown or missing:
            raise ServingError(
                f"'inputs' keys must be {sorted(specs)}; unknown {unknown}, missing {missing}"
            )
        return {n: _array(n, inputs[n], spec) for n, spec in specs.items()}
    if len(specs) != 1:
        raise ServingError(f"the signature has inputs {list(specs)}: 'inputs' must be an object")
    ((name, spec),) = specs.items()
    return {name: _array(name, inputs, spec)}


def _array(name: str, value: Any, spec: Any) -> np.ndarray:
    dtype = spec.dtype.as_numpy_dtype
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ServingError(
            f"input {name!r}: expected a nested list of {spec.dtype.name} values of shape "
            f"{_shape(spec)}; could not convert the request ({exc})"
        ) from None
    if not spec.shape.is_compatible_with(array.shape):
        raise ServingError(
            f"input {name!r}: expected shape {_shape(spec)} ({spec.dtype.name}); "
            f"received shape {list(array.shape)}"
        )
    return array


def _shape(spec: Any) -> list[int]:
    return [-1 if d is None else int(d) for d in spec.shape.as_list()]


def run(signature: Any, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Call a serving function with named arrays; numpy outputs by name."""
    import tensorflow as tf

    outputs = signature(**{k: tf.constant(v) for k, v in arrays.items()})
    return {k: v.numpy() for k, v in outputs.items()}


def format_response(outputs: dict[str, np.ndarray], row_format: bool) -> dict[str, Any]:
    """TF Serving's response: ``predictions`` (row) or ``outputs`` (columnar)."""
    if not row_format:
        if len(outputs) == 1:
            return {"outputs": next(iter(outputs.values())).tolist()}
        return {"outputs": {k: v.tolist() for k, v in outputs.items()}}
    if len(outputs) == 1:
        return {"predictions": next(iter(outputs.values())).tolist()}
    names = sorted(outputs)
    lists = {k: outputs[k].tolist() for k in names}
    rows = len(next(iter(lists.values())))
    return {"predictions": [{k: lists[k][i] for k in names} for i in range(rows)]}
