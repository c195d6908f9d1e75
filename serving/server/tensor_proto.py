"""``TensorProto`` <-> numpy for the gRPC API, as TensorFlow Serving reads and writes them.

Writing (a response's outputs): TF Serving's ``predict_util.cc`` writes each output
with ``Tensor::AsProtoField`` (values in the typed field of their dtype:
``float_val``, ``int_val``, ``half_val``...), or with ``AsProtoTensorContent`` (raw
little-endian bytes) under ``--enable_serialization_as_tensor_content``; so does
:func:`fill_tensor_proto`.

Reading (a request's inputs): ``Tensor::FromProto`` semantics, with its checks
and our bounds. The shape must be known, with no negative dimension and a size
that fits int64; ``tensor_content`` must hold exactly shape x itemsize bytes; a
typed field with more values than the shape is cut to the shape, one with fewer
is padded with its last value (zeros when it has none), as TensorFlow does. Two
bounds TensorFlow lacks keep a request's cost bounded by its size: at most
``max_elements`` elements per input (``--max_input_elements``), checked before
anything is allocated, and a padded tensor (fewer values than its shape) at most
:data:`~kerasforge.serving.server.limits.MAX_FILLED_ELEMENTS` elements.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from ..errors import ServingError
from .limits import DEFAULT_MAX_INPUT_ELEMENTS, MAX_FILLED_ELEMENTS

_T = types_pb2
_INT64_MAX = 2**63 - 1

# dtype -> (the typed field AsProtoField writes, the numpy type of that field's values).
_FIELDS: dict[int, tuple[str, Any]] = {
    _T.DT_FLOAT: ("float_val", np.float32),
    _T.DT_DOUBLE: ("double_val", np.float64),
    _T.DT_INT8: ("int_val", np.int32),
    _T.DT_INT16: ("int_val", np.int32),
    _T.DT_INT32: ("int_val", np.int32),
    _T.DT_UINT8: ("int_val", np.int32),
    _T.DT_UINT16: ("int_val", np.int32),
    _T.DT_INT64: ("int64_val", np.int64),
    _T.DT_UINT32: ("uint32_val", np.uint32),
    _T.DT_UINT64: ("uint64_val", np.uint64),
    _T.DT_BOOL: ("bool_val", np.bool_),
    _T.DT_HALF: ("half_val", np.uint16),  # bit patterns, as TensorFlow stores them
    _T.DT_BFLOAT16: ("half_val", np.uint16),
    _T.DT_COMPLEX64: ("scomplex_val", np.float32),  # real, imaginary, real, ...
    _T.DT_COMPLEX128: ("dcomplex_val", np.float64),
    _T.DT_STRING: ("string_val", object),
}
_NUMPY = {enum: tf.dtypes.as_dtype(enum).as_numpy_dtype for enum in _FIELDS}
_NUMPY[_T.DT_STRING] = object
_ENUMS = {np.dtype(t).str: e for e, t in _NUMPY.items() if e != _T.DT_STRING}
# Fixed-width typed fields (and bools, one byte each), written as one packed field of raw
# little-endian bytes: the same wire bytes as extend(), hundreds of times faster for large
# outputs. The values are the field numbers in tensor.proto.
_PACKED = {
    _T.DT_FLOAT: 5,
    _T.DT_DOUBLE: 6,
    _T.DT_COMPLEX64: 9,
    _T.DT_BOOL: 11,
    _T.DT_COMPLEX128: 12,
}
_BITS = (_T.DT_HALF, _T.DT_BFLOAT16)
_COMPLEX = (_T.DT_COMPLEX64, _T.DT_COMPLEX128)


def fill_tensor_proto(proto: Any, array: np.ndarray, tensor_content: bool = False) -> None:
    """Write ``array`` into the empty TensorProto ``proto`` as TF Serving answers.

    Args:
        proto: the message to fill (a response's ``outputs[key]``).
        array: the output; strings as an object array of ``bytes`` (or ``str``).
        tensor_content: raw bytes in ``tensor_content`` (``AsProtoTensorContent``)
            instead of the typed field (``AsProtoField``); strings always go to
            ``string_val``, as TensorFlow writes them.
    """
    dtype = _dtype_enum(array)
    proto.dtype = dtype
    dims = proto.tensor_shape.dim
    for size in array.shape:
        dims.add().size = size
    if dtype == _T.DT_STRING:
        proto.string_val.extend(
            v if isinstance(v, bytes) else str(v).encode() for v in array.reshape(-1)
        )
    elif tensor_content:
        proto.tensor_content = np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes()
    elif dtype in _PACKED and array.size:
        raw = np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes()
        proto.MergeFromString(bytes([_PACKED[dtype] << 3 | 2]) + _varint(len(raw)) + raw)
    elif array.size:
        field, kind = _FIELDS[dtype]
        getattr(proto, field).extend(_as_field_values(array, dtype, kind).tolist())


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _dtype_enum(array: np.ndarray) -> int:
    if array.dtype == object or array.dtype.kind in "SU":
        return _T.DT_STRING
    found = _ENUMS.get(array.dtype.newbyteorder("<").str)
    if found is None:
        try:
            found = tf.dtypes.as_dtype(array.dtype).as_datatype_enum
        except TypeError:
            found = None
    if found not in _FIELDS:
        raise TypeError(f"output of dtype {array.dtype} cannot be written as a TensorProto")
    return found


def _as_field_values(array: np.ndarray, dtype: int, kind: Any) -> np.ndarray:
    flat = array.reshape(-1)
    if dtype in _BITS:
        return flat.view(np.uint16)
    if dtype in _COMPLEX:
        return flat.view(kind)
    return flat


def read_tensor_proto(
    proto: Any, name: str = "input", max_elements: int = DEFAULT_MAX_INPUT_ELEMENTS
) -> np.ndarray:
    """The array a request's TensorProto holds (``Tensor::FromProto``, bounded).

    Args:
        proto: the TensorProto.
        name: the input's alias, for messages.
        max_elements: the most elements it may declare (``--max_input_elements``).

    Raises:
        ServingError: (INVALID_ARGUMENT) an unknown or invalid shape, one over
            ``max_elements``, a dtype with no values form, ``tensor_content`` of the
            wrong length, or a padded tensor over ``MAX_FILLED_ELEMENTS``.
    """
    return _read(proto, name, bounded_shape(proto, name, max_elements))


def bounded_shape(proto: Any, name: str, max_elements: int) -> list[int]:
    """:func:`tensor_shape`, refused beyond ``max_elements`` elements (nothing allocated).

    Raises:
        ServingError: an invalid shape, or one over ``max_elements``.
    """
    shape = tensor_shape(proto, name)
    count = math.prod(shape)
    if count > max_elements:
        raise _error(
            name,
            f"shape {shape} holds {count} elements; at most {max_elements} are accepted per "
            "input (--max_input_elements): send a smaller batch",
        )
    return shape


def _read(proto: Any, name: str, shape: list[int]) -> np.ndarray:
    dtype = _NUMPY.get(proto.dtype)
    if dtype is None:
        raise _error(name, f"dtype {_dtype_name(proto.dtype)} cannot be sent as a request input")
    count = math.prod(shape)
    if count == 0:
        return np.zeros(shape, dtype)
    if proto.tensor_content:
        return _from_content(proto, name, shape, count, np.dtype(dtype))
    return _from_field(proto, name, shape, count, dtype)


def tensor_shape(proto: Any, name: str = "input") -> list[int]:
    """The declared shape of ``proto``, checked as ``TensorShape::IsValid`` does.

    Raises:
        ServingError: an unknown rank, a negative dimension or a size beyond int64.
    """
    if proto.tensor_shape.unknown_rank:
        raise _error(name, "the shape has an unknown rank; send its dimensions")
    shape = [d.size for d in proto.tensor_shape.dim]
    if any(size < 0 for size in shape):
        raise _error(name, f"shape {shape} has a negative dimension; every size must be >= 0")
    if math.prod(shape) > _INT64_MAX:
        raise _error(name, f"shape {shape} holds more elements than int64 can count")
    return shape


def _from_content(proto: Any, name: str, shape: list[int], count: int, dtype: Any) -> np.ndarray:
    if proto.dtype == _T.DT_STRING:
        raise _error(name, "strings in tensor_content are not read here; send them in string_val")
    content = proto.tensor_content
    if len(content) != count * dtype.itemsize:
        raise _error(
            name,
            f"tensor_content holds {len(content)} bytes; shape {shape} of "
            f"{_dtype_name(proto.dtype)} needs {count * dtype.itemsize} "
            f"({count} x {dtype.itemsize})",
        )
    return (
        np.frombuffer(content, dtype=dtype.newbyteorder("<"))
        .astype(dtype, copy=False)
        .reshape(shape)
    )


def _from_field(proto: Any, name: str, shape: list[int], count: int, dtype: Any) -> np.ndarray:
    field, kind = _FIELDS[proto.dtype]
    raw = getattr(proto, field)
    per = 2 if proto.dtype in _COMPLEX else 1
    given = len(raw) // per
    if given < count and count > MAX_FILLED_ELEMENTS:
        raise _error(
            name,
            f"{field} holds {given} values; shape {shape} needs {count}. TensorFlow would "
            f"repeat the last value (zeros when none), which is accepted up to "
            f"{MAX_FILLED_ELEMENTS} elements only: send all {count} values (or tensor_content)",
        )
    if proto.dtype == _T.DT_STRING:
        values = np.empty(given, object)
        values[:] = list(raw)
    else:
        values = np.array(raw if given == count else raw[: count * per], kind)
        if proto.dtype in _BITS or proto.dtype in _COMPLEX:
            values = values.view(dtype)
        else:
            values = values.astype(dtype, copy=False)
    values = values[:count]
    if given < count:
        fill = values[-1] if given else (b"" if proto.dtype == _T.DT_STRING else 0)
        values = np.concatenate([values, np.full(count - given, fill, values.dtype)])
    return values.reshape(shape)


def _dtype_name(enum: int) -> str:
    try:
        return tf.dtypes.as_dtype(enum).name
    except TypeError:
        return f"enum {enum}"


def _error(name: str, detail: str) -> ServingError:
    """TF Serving's ``tensor parsing error: <alias>``, with what was wrong and how to fix it."""
    return ServingError(f"tensor parsing error: {name}: {detail}")


def decode_inputs(
    inputs: dict[str, Any],
    specs: dict[str, Any],
    max_elements: int = DEFAULT_MAX_INPUT_ELEMENTS,
) -> dict[str, np.ndarray]:
    """``PredictRequest.inputs`` as arrays checked against the signature (TF Serving's words).

    Raises:
        ServingError: an alias the signature lacks or misses, a dtype other than the
            signature's, a tensor :func:`read_tensor_proto` refuses, or a wrong shape.
    """
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
                f"Expects arg[{key}] to be {want.name} but {_dtype_name(proto.dtype)} is provided"
            )
        arrays[key] = _read(proto, key, bounded_shape(proto, key, max_elements))
    return arrays
