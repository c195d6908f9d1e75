"""TF Serving's JSON <-> tensor rules (``tensorflow_serving/util/json_tensor.cc``).

Parsing accepts what RapidJSON with ``kParseNanAndInfFlag`` accepts (the
``NaN``/``Infinity`` literals included) and nothing more; each value must have
the signature's dtype: no ``null``, no ``true`` for a number, no ``1.5``
for an integer, integers within the dtype's range, strings (or ``{"b64": ...}``)
only for string inputs. Any number is taken for a float input, rounded to it
(``1435774380`` and ``1435774380.0`` alike; beyond float32's range it is an
infinity), as ``AddValueToTensor`` does since TF Serving dropped its
precision check. Lists must be dense: every value at the tensor's rank.
Error messages follow TF Serving's wording.

Responses: ``predictions`` (row format) or ``outputs`` (columnar); float32
values are written with the fewest digits that read back to the same float32
(no ``0.20000000298`` noise), non-finite ones as ``NaN``/``Infinity``, and
string outputs whose name ends in ``_bytes`` (or that are not UTF-8) as
``{"b64": ...}``.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
import re
from typing import Any

import numpy as np
import orjson

from .. import wire
from ..errors import ServingError

MAX_DEPTH = 64  # deeper JSON is refused before any recursion (TF Serving's RapidJSON recurses)
FLOAT_TYPES = ("float32", "float64")  # float16: not converted, as TF Serving
# TensorFlow's DataTypeString names, as TF Serving's messages print them.
TF_TYPE_NAMES = {"float32": "float", "float64": "double", "float16": "half"}
_INT_RANGE = {
    "int8": (-(1 << 7), 1 << 7),
    "uint8": (0, 1 << 8),
    "int16": (-(1 << 15), 1 << 15),
    "int32": (-(1 << 31), 1 << 31),
    "int64": (-(1 << 63), 1 << 63),
    "uint32": (0, 1 << 32),
    "uint64": (0, 1 << 64),
}


def loads(raw: bytes) -> dict[str, Any]:
    """Parse a request body as TF Serving does; the top level must be an object.

    Raises:
        ServingError: empty, malformed, too deeply nested, or not an object (HTTP 400).
    """
    if not raw:
        raise ServingError("JSON Parse error: The document is empty")
    if _too_deep(raw):
        raise ServingError(f"JSON Parse error: nesting deeper than {MAX_DEPTH} levels")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        doc = _loads_with_nan(raw)  # orjson refuses NaN/Infinity; TF Serving takes them
    if not isinstance(doc, dict):
        raise ServingError(f"JSON Value: {_short(doc)} Is not object")
    return doc


def _loads_with_nan(raw: bytes) -> Any:
    def big_float(text: str) -> float:
        value = float(text)
        if math.isinf(value):  # RapidJSON: "Number too big to be stored in double"
            raise ValueError(f"Number too big to be stored in double: {text[:40]}")
        return value

    def big_int(text: str) -> int:  # past 64 bits RapidJSON reads an integer as a double
        value = int(text)
        if len(text) > 300:
            big_float(text)
        return value

    try:
        return json.loads(raw, parse_float=big_float, parse_int=big_int)
    except (ValueError, RecursionError) as exc:
        raise ServingError(f"JSON Parse error: {exc}") from None


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_AS_PARENS = bytes.maketrans(b"[{]}", b"(())")


def _too_deep(raw: bytes) -> bool:
    """True when brackets nest deeper than ``MAX_DEPTH`` (strings ignored), in C.

    Balanced brackets (every valid body) are checked by taking out the innermost
    pairs, one level per pass: a body ``d`` levels deep is empty after ``d``
    passes. Anything else gets the running depth of every prefix.
    """
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return False
    text = _STRING.sub(b"", raw) if b'"' in raw else raw
    parens = left = text.translate(_AS_PARENS, _NOT_BRACKETS)
    for _ in range(MAX_DEPTH):
        inner = left.replace(b"()", b"")
        if not inner:
            return False
        if len(inner) == len(left):
            break  # unbalanced: no pair left to take out
        left = inner
    steps = np.where(np.frombuffer(parens, np.uint8) == ord("("), 1, -1).astype(np.int32)
    return bool(steps.size) and int(np.cumsum(steps).max()) > MAX_DEPTH


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, bytes) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    return "String" if isinstance(value, str) else "Number"


def type_error(value: Any, dtype: str) -> ServingError:
    """TF Serving's ``JSON Value: v Type: T is not of expected type: dtype``."""
    return ServingError(
        f"JSON Value: {_short(value)} Type: {_json_type(value)} is not of expected type: "
        f"{TF_TYPE_NAMES.get(dtype, dtype)}"
    )


def dense_shape(value: Any) -> list[int]:
    """The shape a nested list implies, read along its first elements (as TF Serving)."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def to_array(value: Any, dtype: str) -> np.ndarray:
    """A dense nested JSON value as an array of ``dtype`` (a TF dtype name).

    Raises:
        ServingError: ragged lists, values at the wrong level, or values of the wrong type.
    """
    shape = dense_shape(value)
    leaves = _flatten(value, shape)
    if leaves is None:  # not dense: the walk below says where
        leaves = []
        _collect(value, shape, 0, leaves)
    check = _checker(dtype)
    fast = _numeric(leaves, dtype)
    if fast is not None:
        return fast.reshape(shape)
    converted = [check(v) for v in leaves]
    if dtype == "string":
        array = np.empty(len(converted), dtype=object)
        array[:] = converted
    else:
        with np.errstate(over="ignore"):  # past float32's range: an infinity, as TF Serving
            array = np.array(converted, dtype=dtype)
    return array.reshape(shape)


def _flatten(value: Any, shape: list[int]) -> list[Any] | None:
    """The leaves of a dense nested list, level by level in C; ``None`` if it is not dense."""
    level = [value]
    for size in shape:
        if set(map(type, level)) != {list} or set(map(len, level)) != {size}:
            return None
        level = list(itertools.chain.from_iterable(level))
    return None if list in set(map(type, level)) else level


def _numeric(leaves: list[Any], dtype: str) -> np.ndarray | None:
    """``leaves`` converted in C when all are of one JSON type the dtype takes and in range.

    ``None`` when any value needs the per-value checks (mixed int/float, a bool or
    string among numbers, a value out of range): they then produce TF Serving's message.
    """
    kinds = set(map(type, leaves))
    if dtype in FLOAT_TYPES and kinds <= {int, float}:
        try:
            with np.errstate(over="ignore"):  # past float32's range: an infinity
                return np.array(leaves, dtype=np.float64).astype(dtype)
        except OverflowError:  # an integer past float64: the per-value check says so
            return None
    if len(kinds) != 1:
        return None
    (kind,) = kinds
    if dtype == "bool":
        return np.array(leaves, dtype=bool) if kind is bool else None
    try:
        if dtype in _INT_RANGE and kind is int:
            array = np.array(leaves, dtype=np.int64)
            low, high = _INT_RANGE[dtype]
            return array.astype(dtype) if low <= array.min() and array.max() < high else None
    except OverflowError:  # beyond int64 / float64: the per-value checks say so
        return None
    return None


def _collect(value: Any, shape: list[int], level: int, out: list[Any]) -> None:
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise ServingError(
                f"JSON Value: {_short(value)} found at incorrect level: {level + 1} in the "
                f"JSON DOM. Expected at level: {rank}"
            )
        out.append(value)
        return
    if level >= rank:
        raise ServingError(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise ServingError(
            f"Encountered list at unexpected size: {len(value)} at level: {level} "
            f"expected size: {shape[level]}"
        )
    if level == rank - 1:
        for item in value:
            if isinstance(item, list):
                raise ServingError(
                    f"Encountered list at unexpected level: {level + 1} expected < {rank}"
                )
        out.extend(value)
        return
    for item in value:
        _collect(item, shape, level + 1, out)


def _checker(dtype: str) -> Any:
    if dtype in FLOAT_TYPES:

        def check_float(v: Any) -> float:
            kind = type(v)
            if kind is int:
                try:
                    float(v)
                except OverflowError:
                    raise ServingError(
                        f"Number too big to be stored in double: {str(v)[:40]}..."
                    ) from None
            elif kind is not float:
                raise type_error(v, dtype)
            return v

        return check_float
    if dtype in _INT_RANGE:
        low, high = _INT_RANGE[dtype]

        def check_int(v: Any) -> int:
            if type(v) is not int or not low <= v < high:
                raise type_error(v, dtype)
            return v

        return check_int
    if dtype == "bool":

        def check_bool(v: Any) -> bool:
            if type(v) is not bool:
                raise type_error(v, dtype)
            return v

        return check_bool
    if dtype == "string":
        return decode_string
    raise ServingError(f"Conversion of JSON values to type: {dtype} is not supported")


def decode_string(v: Any) -> bytes:
    """A JSON string (UTF-8 bytes) or a ``{"b64": ...}`` object (its decoded bytes)."""
    if type(v) is str:
        return v.encode()
    if isinstance(v, dict):
        if set(v) != {wire.B64} or type(v[wire.B64]) is not str:
            raise ServingError(f"JSON Value: {_short(v)} not formatted correctly for base64 data")
        try:
            return base64.b64decode(v[wire.B64], validate=True)
        except (binascii.Error, ValueError):
            raise ServingError("Unable to base64 decode") from None
    raise type_error(v, "string")


def is_b64(value: Any) -> bool:
    """A ``{"b64": "<string>"}`` object."""
    return isinstance(value, dict) and len(value) == 1 and type(value.get(wire.B64)) is str


def dumps(payload: Any) -> bytes:
    """Serialise a response as TF Serving writes numbers (see the module docstring)."""
    try:
        return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:  # an object array (strings) or a non-contiguous one: plain lists
        pass
    return dumps_plain(payload)


def dumps_plain(payload: Any) -> bytes:
    """:func:`dumps` through plain Python values: ``NaN``/``Infinity`` written as TF Serving does.

    (orjson would write them as ``null``.)
    """
    return json.dumps(_plain(payload), separators=(",", ":"), allow_nan=True).encode()


def has_non_finite(outputs: dict[str, np.ndarray]) -> bool:
    """True when a float output holds NaN or an infinity (orjson would write ``null``)."""
    return any(a.dtype.kind == "f" and not np.isfinite(a).all() for a in outputs.values())


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            return [_plain(v) for v in value] if value.ndim else _float(value)
        return _plain(value.tolist()) if value.dtype != object else _plain(list(value))
    if isinstance(value, np.floating):
        return _float(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return bytes_value(value, b64=False)
    return value


def _float(value: Any) -> float:
    # str() of a numpy float32 is its shortest round-trip form: no float64 noise digits.
    return float(str(value[()] if isinstance(value, np.ndarray) else value))


def bytes_value(value: bytes, b64: bool) -> Any:
    """A string output value: text, or ``{"b64": ...}`` for ``*_bytes`` outputs and non-UTF-8."""
    if not b64:
        try:
            return value.decode()
        except UnicodeDecodeError:
            pass
    return {wire.B64: base64.b64encode(value).decode()}


def encode_output(name: str, array: np.ndarray) -> np.ndarray | list[Any]:
    """An output ready for :func:`dumps`: string tensors become text or b64 objects."""
    if array.dtype != object and array.dtype.kind not in "SU":
        return array
    b64 = name.endswith("_bytes")
    flat = [bytes_value(v if isinstance(v, bytes) else str(v).encode(), b64) for v in array.ravel()]
    return np.array([*flat, None], dtype=object)[:-1].reshape(array.shape).tolist()
