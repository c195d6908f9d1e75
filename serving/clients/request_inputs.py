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

Without ``--model`` or input files, ``predict`` asks the model trained last
(``artifacts/last_trained.json``, written by ``kerasforge train``) with its sample
request (``artifacts/samples/<model>.json``): :func:`predict_target`.
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


# What training leaves for `kerasforge predict` (one writer, one reader: here).
ARTIFACTS = Path("artifacts")
"""Where ``kerasforge train`` writes by default (``output_dir``), relative to the working folder."""
LAST_TRAINED_FILE = "last_trained.json"
SAMPLES_FOLDER = "samples"
FALLBACK_MODEL = "digits_cnn"  # the default config's model, when nothing was trained here


@dataclass(frozen=True)
class PredictTarget:
    """Which model ``predict`` asks, with which files, and the line that says so."""

    model: str
    paths: list[Path]
    note: str


def sample_request_path(artifacts: Path, model: str) -> Path:
    """``<artifacts>/samples/<model>.json``: a REST request body of the model's test inputs."""
    return artifacts / SAMPLES_FOLDER / f"{model}.json"


def write_sample_request(artifacts: Path, model: str, instances: list[Any]) -> Path:
    """Write the model's sample request (curl's ``-d @file``, ``make predict``); its path."""
    path = sample_request_path(artifacts, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({wire.INSTANCES: instances}))
    return path


def write_last_trained(
    artifacts: Path, model: str, version: int | None, sample: Path, experiment: str
) -> Path:
    """Record the model trained last in ``<artifacts>/last_trained.json`` (atomically): its
    name, the version it serves (``None``: the gate kept it out), the repository and its
    sample request. Returns the file's path."""
    record = {
        "model": model,
        "version": version,
        "repository": str(artifacts / "models"),
        "sample_request": str(sample),
        "experiment": experiment,
    }
    path = artifacts / LAST_TRAINED_FILE
    staging = path.with_name(f".{LAST_TRAINED_FILE}.tmp")
    staging.write_text(json.dumps(record, indent=2) + "\n")
    staging.replace(path)
    return path


def read_last_trained(artifacts: Path) -> dict[str, Any] | None:
    """The record of the model trained last, ``None`` when nothing was trained here.

    Raises:
        UsageError: the file is there but names no model (written by hand, or cut short).
    """
    path = artifacts / LAST_TRAINED_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("model"), str):
        raise UsageError(
            f"{str(path)!r}: expected a JSON object naming the model trained last "
            '({"model": ...}); train again to rewrite it, or pass --model NAME'
        )
    return record


def predict_target(
    model: str | None, paths: list[Path], artifacts: Path = ARTIFACTS
) -> PredictTarget:
    """``--model`` (else the model trained last, else ``digits_cnn``) and the input files
    (else that model's sample request).

    Raises:
        UsageError: no input files and no sample request for the model.
    """
    last = read_last_trained(artifacts)
    if model is not None:
        why = "--model"
    elif last is not None:
        model = last["model"]
        version = last.get("version")
        why = f"trained last, version {version}" if version else "trained last"
    else:
        model, why = FALLBACK_MODEL, f"the default; no {artifacts / LAST_TRAINED_FILE} yet"
    if not paths:
        recorded = last.get("sample_request") if last and last["model"] == model else None
        sample = Path(recorded) if isinstance(recorded, str) else None
        if sample is None or not sample.is_file():
            sample = sample_request_path(artifacts, model)
        if not sample.is_file():
            raise UsageError(
                f"no input files and no sample request for {model} at {str(sample)!r}: train "
                f"it first (make train CONFIG=configs/<its config>.yaml) or pass input files"
            )
        paths = [sample]
    shown = ", ".join(map(str, paths[:3])) + (
        f" and {len(paths) - 3} more" if len(paths) > 3 else ""
    )
    return PredictTarget(model, paths, f"predict: asking {model} ({why}) with {shown}")
