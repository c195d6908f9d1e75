"""Files -> the instances of one predict request (``kerasforge predict INPUTS...``). No TensorFlow.

Every file of one request is of one kind:

- **images** (``.png``, ``.jpg``/``.jpeg``, ``.bmp``, ``.gif``): sent encoded to the
  model's ``serving_bytes`` signature, which decodes and resizes them in the graph;
  each file is one instance (``bytes``; the REST client writes ``{"b64": ...}``);
- **``.npy``** batches (or single examples): their rows, concatenated;
- **JSON**: a list of instances or a request body ``{"instances": [...]}`` (its
  ``signature_name``, if any, is kept);
- **CSV** with a header row: one instance per row, ``{column: number}``, for the
  ``serving_features`` signature of a tabular model (named raw features);
- **text** (``.txt``, UTF-8): one instance per non-empty line, the line's text, for
  text models (a Transformer classifier, a seq2seq model) whose ``serving_default``
  takes strings and tokenises them in the graph.

A request's signature is the one its inputs call for unless ``--signature`` says otherwise.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...cli.console import UsageError
from .. import wire

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
BYTES_SIGNATURE = "serving_bytes"  # serving.export.signatures.BYTES_SIGNATURE, without loading TF
FEATURES_SIGNATURE = "serving_features"  # serving.export.signatures.FEATURES_SIGNATURE
MAX_IMAGE_BYTES = 20 * 1024 * 1024
_KINDS = {
    ".npy": "npy",
    ".json": "json",
    ".csv": "csv",
    ".txt": "text",
    **{s: "image" for s in IMAGE_SUFFIXES},
}


@dataclass(frozen=True)
class RequestInputs:
    """The instances of one request and the signature they call for (``None``: the default)."""

    instances: list[Any]
    signature_name: str | None = None


def read_inputs(paths: list[Path]) -> RequestInputs:
    """Read ``paths`` (all of one kind) into one request.

    Raises:
        UsageError: no files, a missing file, mixed kinds, or a file that is not
            what its suffix says (with what was expected).
    """
    if not paths:
        raise UsageError("no inputs: pass image files, a .npy batch, a JSON or a CSV file")
    kinds = {_kind(path) for path in paths}
    if len(kinds) > 1:
        raise UsageError(
            f"inputs mix {' and '.join(sorted(kinds))} files; send one kind per request"
        )
    kind = kinds.pop()
    if kind == "image":
        return RequestInputs([_image(path) for path in paths], BYTES_SIGNATURE)
    reader = {"npy": _npy, "json": _json, "csv": _csv, "text": _text}[kind]
    parts = [reader(path) for path in paths]
    signatures = {part.signature_name for part in parts}
    if len(signatures) > 1:
        named = sorted(map(str, signatures))
        raise UsageError(f"the JSON inputs name different signatures {named}; send one per request")
    return RequestInputs([i for part in parts for i in part.instances], signatures.pop())


def _kind(path: Path) -> str:
    if not path.is_file():
        raise UsageError(
            f"input file {str(path)!r} not found; pass image files, a .npy, .json or .csv file"
        )
    kind = _KINDS.get(path.suffix.lower())
    if kind is None:
        raise UsageError(
            f"input {str(path)!r}: expected a .npy batch, a JSON list of instances or a JSON "
            f'object {{"instances": [...]}}, a CSV file with a header row, a .txt file (one '
            f"text per line) or image files ({', '.join(IMAGE_SUFFIXES)}); received a "
            f"{path.suffix or 'suffix-less'} file"
        )
    return kind


def _image(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise UsageError(
            f"image {str(path)!r} is {size} bytes; the limit is {MAX_IMAGE_BYTES}: resize it first"
        )
    return path.read_bytes()


def _npy(path: Path) -> RequestInputs:
    import numpy as np

    try:
        batch = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UsageError(
            f"{str(path)!r} is not a readable .npy array ({exc}); save it with np.save"
        ) from None
    if batch.dtype.kind not in "biuf" or batch.ndim == 0:
        raise UsageError(
            f"{str(path)!r}: expected a numeric batch [N, ...]; received dtype "
            f"{batch.dtype.name} with shape {list(batch.shape)}"
        )
    return RequestInputs(batch.tolist())


def _json(path: Path) -> RequestInputs:
    try:
        body = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{str(path)!r} is not valid JSON: {exc}") from None
    if isinstance(body, list) and body:
        return RequestInputs(body)
    if (
        isinstance(body, dict)
        and isinstance(body.get(wire.INSTANCES), list)
        and body[wire.INSTANCES]
    ):
        name = body.get(wire.SIGNATURE_NAME)
        return RequestInputs(body[wire.INSTANCES], name if isinstance(name, str) else None)
    raise UsageError(
        f"input {str(path)!r}: expected a .npy batch, a JSON list of instances or a JSON "
        'object {"instances": [...]}'
    )


def _csv(path: Path) -> RequestInputs:
    try:
        rows = list(csv.reader(path.read_text().splitlines()))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{str(path)!r} is not a readable CSV file: {exc}") from None
    if len(rows) < 2 or not rows[0]:
        raise UsageError(
            f"{str(path)!r}: expected a header row of feature names and at least one data row"
        )
    header = [name.strip() for name in rows[0]]
    instances = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UsageError(
                f"{str(path)!r} line {line}: expected {len(header)} values ({', '.join(header)}); "
                f"received {len(row)}"
            )
        pairs = zip(header, row, strict=True)
        instances.append({name: _number(path, line, name, v) for name, v in pairs})
    return RequestInputs(instances, FEATURES_SIGNATURE)


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(
            f"{str(path)!r} line {line}, column {column!r}: expected a number; received {text!r}"
        ) from None


def _text(path: Path) -> RequestInputs:
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{str(path)!r} is not UTF-8 text ({exc.reason}); save it as UTF-8"
        ) from None
    texts = [line for line in lines if line]
    if not texts:
        raise UsageError(f"{str(path)!r} holds no text: expected one text per line")
    return RequestInputs(texts)


def pixels_signature(metadata: dict[str, Any]) -> str | None:
    """Where arrays go: ``serving_pixels`` when the model's ``serving_default`` takes encoded
    images (``export.image_input: encoded``), else ``None`` (the default signature)."""
    from ..card import PIXELS_SIGNATURE  # the card's name for it (imports pydantic: only here)

    defs = metadata.get("metadata", {}).get("signature_def", {}).get("signature_def", {})
    default = defs.get("serving_default", {}).get("inputs", {})
    takes_bytes = bool(default) and all(i.get("dtype") == "DT_STRING" for i in default.values())
    return PIXELS_SIGNATURE if takes_bytes and PIXELS_SIGNATURE in defs else None
