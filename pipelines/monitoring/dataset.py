"""``kerasforge monitor --to-dataset``: logged requests -> a data source the trainer reads.

Writes into the folder:

- ``requests.tfrecord``: one tf.Example per logged input row, as the ``tfrecord`` source
  reads it (``pipelines/data/sources/tfrecords.py``): an int64 ``id`` and the input
  under the card's example feature names (``classify``/``regress`` signature: ``pixels``
  for an image, one key per column for a table; float32);
- ``labels.csv``: ``id``, ``predicted`` (the served model's answer, a suggestion) and an
  empty ``label`` column to fill in; rows left empty are not trained on;
- ``data.yaml``: the ``data.extra`` entry that adds them to a config's original source.

A text model's requests (strings, which the ``tfrecord`` source does not read) go into one
CSV instead, as the ``csv_text`` source reads it: ``requests.csv`` with ``id``, ``text``,
``predicted`` and an empty ``label``; rows left without a label are dropped
(``missing: drop``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...serving.card import ModelCard
from ..data.sources.tfrecords import RECORD_ID
from ..errors import DataError
from .traffic import Traffic, input_kind, raw_shape

RECORDS = "requests.tfrecord"
TEXTS = "requests.csv"
LABELS = "labels.csv"
SNIPPET = "data.yaml"


@dataclass(frozen=True)
class LiveDataset:
    """What ``--to-dataset`` wrote."""

    records: Path
    labels: Path
    snippet: str
    rows: int


def write_dataset(traffic: Traffic, card: ModelCard, folder: Path) -> LiveDataset:
    """Write ``traffic``'s inputs and suggested labels into ``folder`` (module docstring).

    Raises:
        DataError: a sequence model (the ``tfrecord`` source reads flat numbers only).
    """
    import tensorflow as tf

    kind = input_kind(card)
    if kind == "text":
        return write_texts(traffic, card, folder)
    if kind not in ("image", "tabular"):
        raise DataError(f"--to-dataset writes image, tabular and text inputs; this model takes "
                        f"{kind} inputs, which no training source reads back")  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    keys = _feature_keys(card, kind)
    x = np.asarray(traffic.inputs, "float32").reshape(traffic.rows, -1)
    records = folder / RECORDS
    with tf.io.TFRecordWriter(str(records)) as writer:
        for row_id, row in enumerate(x):
            writer.write(_example(row_id, row, keys).SerializeToString())
    labels = folder / LABELS
    suggested = _suggestions(traffic.outputs, card, traffic.rows)
    with labels.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow([RECORD_ID, "predicted", "label"])
        out.writerows([i, s, ""] for i, s in enumerate(suggested))
    snippet = config_snippet(records, labels, keys, kind, raw_shape(card))
    (folder / SNIPPET).write_text(snippet)
    return LiveDataset(records, labels, snippet, traffic.rows)


def write_texts(traffic: Traffic, card: ModelCard, folder: Path) -> LiveDataset:
    """A text model's logged strings as ``requests.csv`` for the ``csv_text`` source."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / TEXTS
    suggested = _suggestions(traffic.outputs, card, traffic.rows)
    texts = [t.decode("utf-8", "replace") if isinstance(t, bytes) else str(t)
             for t in np.asarray(traffic.inputs, dtype=object).reshape(-1)]  # fmt: skip
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow([RECORD_ID, "text", "predicted", "label"])
        out.writerows([i, t, s, ""] for i, (t, s) in enumerate(zip(texts, suggested, strict=True)))
    snippet = "\n".join([
        "data:",
        "  # source: ... (keep your original source and its settings)",
        "  extra:",
        "    - source: csv_text",
        "      file:",
        f"        path: {path}",
        "        text: text",
        "        label: label",
        "        missing: drop   # rows not labelled yet are not trained on",
    ]) + "\n"  # fmt: skip
    (folder / SNIPPET).write_text(snippet)
    return LiveDataset(path, path, snippet, traffic.rows)


def _feature_keys(card: ModelCard, kind: str) -> list[tuple[str, int]]:
    """``(key, values)`` per tf.Example feature, as the card's example features name them."""
    info = card.signatures.get("classify") or card.signatures.get("regress")
    features = [
        (f.key, int(np.prod(f.shape)) if f.shape else 1)
        for f in (info.example_features if info else [])
    ]
    if features:
        return features
    size = int(np.prod([int(s or 0) for s in raw_shape(card)[1:]]))
    names = list(card.data.get("feature_names") or [])
    if kind == "tabular" and len(names) == size:
        return [(n, 1) for n in names]
    return [("pixels" if kind == "image" else "x", size)]


def _example(row_id: int, row: np.ndarray, keys: list[tuple[str, int]]) -> Any:
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    example.features.feature[RECORD_ID].int64_list.value.append(row_id)
    start = 0
    for key, size in keys:
        example.features.feature[key].float_list.value.extend(row[start : start + size].tolist())
        start += size
    return example


def _suggestions(outputs: dict[str, np.ndarray], card: ModelCard, rows: int) -> list[str]:
    """The model's answer per row as a label suggestion (a class name), else empty."""
    ids = outputs.get("class_ids")
    if ids is None or len(ids) != rows:
        return [""] * rows
    names = card.class_names
    flat = np.asarray(ids).reshape(rows, -1)[:, 0]
    return [names[i] if names and 0 <= i < len(names) else str(i) for i in flat.tolist()]


def config_snippet(
    records: Path, labels: Path, keys: list[tuple[str, int]], kind: str, shape: list[int | None]
) -> str:
    """The ``data.extra`` YAML that trains on these records beside a config's source."""
    if kind == "image":
        dims = ", ".join(str(int(s or 0)) for s in shape[1:])
        spec = [f"          {keys[0][0]}: {{dtype: float32, shape: [{dims}]}}"]
    else:
        spec = [f"          {k}: {{dtype: float32, shape: [{n}]}}" if n > 1 else
                f"          {k}: {{dtype: float32}}" for k, n in keys]  # fmt: skip
    return "\n".join([
        "data:",
        "  # source: ... (keep your original source and its settings)",
        "  extra:",
        "    - source: tfrecord",
        "      file:",
        f"        path: {records}",
        f"        labels: {labels}",
        "        spec:",
        *spec,
    ]) + "\n"  # fmt: skip
