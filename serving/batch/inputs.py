"""Input files -> records for one signature, or dead letters: nothing here stops a job.

A record is ``(source, inputs)``: its source id (the file, ``file:line`` or ``file:index``)
and one value per input of the signature, without the batch dimension. A record that cannot
become one is a :class:`Bad` (its source and why), written to the dead-letter file.
Checks that need the model (decoding an image, parsing a tf.Example in the graph) happen in
:mod:`.handler`; the ones made here are those a reader can make alone: column counts,
numbers, UTF-8, tf.Example features, tensor shapes and dtypes.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..card import SignatureInfo
from ..clients.request_inputs import MAX_IMAGE_BYTES
from ..export.signatures import feature_keys

Record = tuple[str, dict[str, np.ndarray]]


@dataclass(frozen=True)
class Bad:
    """A record that was not scored: its source id and the reason, for the dead-letter file."""

    source: str
    reason: str


def read_file(path: str, kind: str, info: SignatureInfo) -> Iterator[Record | Bad]:
    """The records of one file of ``kind`` (see :mod:`.plan`) for the signature ``info``."""
    reader = {
        "image": _image,
        "csv": _csv,
        "text": _text,
        "example": _examples,
        "tensor": _tensors,
    }[kind]
    try:
        yield from reader(path, info)
    except OSError as exc:
        yield Bad(path, f"cannot read the file: {exc}")


def _open(path: str) -> Any:
    if "://" not in path:  # a local file: Python's own open is the cheaper call
        return open(path, "rb")  # the caller closes it
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.open(path, compression_type="uncompressed")


def _image(path: str, info: SignatureInfo) -> Iterator[Record | Bad]:
    with _open(path) as stream:
        data = stream.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        yield Bad(path, f"image larger than {MAX_IMAGE_BYTES} bytes: resize it first")
    elif not data:
        yield Bad(path, "empty file: expected an encoded JPEG, PNG, GIF or BMP image")
    else:
        yield path, {info.input().name: _scalar(data)}


def _csv(path: str, info: SignatureInfo) -> Iterator[Record | Bad]:
    with _open(path) as stream:
        rows = csv.reader(io.TextIOWrapper(stream, encoding="utf-8", newline=""))
        try:
            header = [name.strip() for name in next(rows, [])]
            columns = _columns(header, info)
            if isinstance(columns, str):
                yield Bad(path, columns)
                return
            for row in rows:
                if row:
                    yield _row(f"{path}:{rows.line_num}", row, header, columns)
        except (UnicodeDecodeError, csv.Error) as exc:
            yield Bad(
                f"{path}:{rows.line_num + 1}",
                f"not readable CSV ({exc}); the rest of the file was not read",
            )


def _columns(header: list[str], info: SignatureInfo) -> list[str] | str:
    """The signature input each header column feeds, or why the header does not fit."""
    names = [t.name for t in info.inputs]
    keys = feature_keys(header, len(header))
    if sorted(keys) == sorted(names) or sorted(header) == sorted(names):
        return keys if sorted(keys) == sorted(names) else header
    return (
        f"header row {header} does not name the model's features: expected a header row of "
        f"the {len(names)} columns {names} (in any order)"
    )


def _row(source: str, row: list[str], header: list[str], columns: list[str]) -> Record | Bad:
    if len(row) != len(columns):
        return Bad(
            source,
            f"expected {len(columns)} values ({', '.join(header)}); received {len(row)}",
        )
    values = {}
    for name, column, text in zip(columns, header, row, strict=True):
        try:
            number = float(text)
        except ValueError:
            return Bad(source, f"column {column!r}: expected a number; received {text!r}")
        if not math.isfinite(number):
            return Bad(source, f"column {column!r}: expected a finite number; received {text!r}")
        values[name] = np.float32(number)
    return source, {name: np.asarray(v) for name, v in values.items()}


def _text(path: str, info: SignatureInfo) -> Iterator[Record | Bad]:
    name = info.input().name
    with _open(path) as stream:
        for number, raw in enumerate(stream, start=1):
            source = f"{path}:{number}"
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                yield Bad(source, f"not UTF-8 text ({exc.reason}); save the file as UTF-8")
                continue
            if text:
                yield source, {name: _scalar(text.encode())}


def tfrecords(path: str) -> Iterator[tuple[str, bytes | Bad]]:
    """``(source, record)`` for each record of a TFRecord file; a corrupt frame (bad length
    or checksum, a truncated file) ends the file with one :class:`Bad`."""
    import tensorflow as tf

    index = 0
    try:
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
            yield f"{path}:{index}", record
            index += 1
    except (tf.errors.DataLossError, tf.errors.OutOfRangeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        yield (
            f"{path}:{index}",
            Bad(
                f"{path}:{index}",
                f"corrupt TFRecord frame ({reason}); the rest of the file was not read",
            ),
        )


def _examples(path: str, info: SignatureInfo) -> Iterator[Record | Bad]:
    from google.protobuf.message import DecodeError
    from tensorflow.core.example import example_pb2

    name = info.input().name
    for source, record in tfrecords(path):
        if isinstance(record, Bad):
            yield record
            continue
        try:
            example = example_pb2.Example.FromString(record)
        except DecodeError as exc:
            yield Bad(source, f"not a serialized tf.Example ({exc})")
            continue
        problem = _example_problem(example, info)
        yield Bad(source, problem) if problem else (source, {name: _scalar(record)})


def _example_problem(example: Any, info: SignatureInfo) -> str | None:
    """Why ``example`` lacks what the signature parses (``None``: it has it all)."""
    found = example.features.feature
    for feature in info.example_features:
        kind = "float_list" if feature.dtype == "float" else "bytes_list"
        size = math.prod(feature.shape)
        if feature.key not in found:
            return f"tf.Example has no feature {feature.key!r}: expected a {kind} of {size}"
        values = found[feature.key]
        have = values.WhichOneof("kind")
        count = len(getattr(values, have).value) if have else 0
        if have != kind or count != size:
            return (
                f"tf.Example feature {feature.key!r}: expected a {kind} of {size} value(s); "
                f"received a {have or 'empty feature'} of {count}"
            )
    return None


def _tensors(path: str, info: SignatureInfo) -> Iterator[Record | Bad]:
    import tensorflow as tf
    from google.protobuf.message import DecodeError
    from tensorflow.core.framework import tensor_pb2

    tensor = info.input()
    for source, record in tfrecords(path):
        if isinstance(record, Bad):
            yield record
            continue
        try:
            array = tf.make_ndarray(tensor_pb2.TensorProto.FromString(record))
        except (DecodeError, TypeError, ValueError) as exc:
            yield Bad(source, f"not a serialized TensorProto ({exc})")
            continue
        problem = _tensor_problem(array, tensor.shape[1:], tensor.dtype)
        yield Bad(source, problem) if problem else (source, {tensor.name: array})


def _tensor_problem(array: np.ndarray, shape: list[int | None], dtype: str) -> str | None:
    fits = len(shape) == array.ndim and all(
        want is None or want == have for want, have in zip(shape, array.shape, strict=True)
    )
    if not fits:
        return (
            f"tensor of shape {list(array.shape)}: expected one example of shape {shape} "
            "(no batch dimension)"
        )
    if dtype != "string" and not np.can_cast(array.dtype, np.dtype(dtype), "same_kind"):
        return f"tensor of dtype {array.dtype.name}: expected {dtype}"
    return None


def _scalar(value: bytes) -> np.ndarray:
    """``value`` as a 0-d object array: stacking them gives the ``[N]`` string batch."""
    array = np.empty((), dtype=object)
    array[()] = value
    return array
