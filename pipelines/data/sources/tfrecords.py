"""TFRecord files of ``tf.Example`` records as a data source, parsed in tf.data.

The config declares the features (``data.file.spec``: name -> dtype and
shape) and the integer class-label feature (``data.file.label``), or a labels
CSV (``data.file.labels``: ``id,label``, joined on the records' int64 ``id``
feature; ``kerasforge monitor --to-dataset`` writes such records and file). One input
feature of shape ``[height, width, channels]`` makes an image source (0-255
pixels); otherwise the features are flattened side by side into a table.
A spec that does not match the records stops with one message naming the
feature, never a traceback mid-epoch.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...errors import DataError, clipped
from ..types import IMAGE_RANGE, DataInfo, Dataset, register_source
from .files import _class_ids, _existing

if TYPE_CHECKING:
    from ...config.experiment import FileConfig

SUFFIXES = (".tfrecord", ".tfrecords", ".tfr")
RECORD_ID = "id"
"""The int64 feature a labels file (``data.file.labels``) joins on."""


@register_source(inputs="tabular", targets="classes", needs_file=True)
def tfrecord(file: FileConfig) -> Dataset:
    """tf.Example records with the features of ``data.file.spec`` and a class label."""
    import tensorflow as tf

    path = _existing(file.path, SUFFIXES)
    if not file.spec:
        raise DataError(
            f"data.file.spec: declare the input features of {path}, e.g. "
            "{pixels: {dtype: float32, shape: [8, 8, 1]}}; the label feature is data.file.label"
        )
    if file.label in file.spec:
        raise DataError(f"data.file.spec: {file.label!r} is the label feature, not an input")
    described = {
        name: tf.io.FixedLenFeature(f.shape, getattr(tf, f.dtype)) for name, f in file.spec.items()
    }
    key = RECORD_ID if file.labels is not None else file.label
    described[key] = tf.io.FixedLenFeature([], tf.int64)

    def parse(records: tf.Tensor) -> dict[str, tf.Tensor]:
        return tf.io.parse_example(records, described)

    ds = tf.data.TFRecordDataset([str(path)]).batch(1024)
    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    try:
        parts = list(ds.as_numpy_iterator())
    except tf.errors.DataLossError as exc:
        raise DataError(
            f"data file {path} is corrupt or truncated ({clipped(exc.message, 200)}); "
            "write it again"
        ) from None
    except tf.errors.InvalidArgumentError as exc:
        raise DataError(
            f"data file {path} does not match data.file.spec / data.file.label: "
            f"{clipped(exc.message.splitlines()[0], 300)}; fix the feature names, dtypes and "
            "shapes to match the records"
        ) from None
    if not parts:
        raise DataError(f"data file {path} holds no records")
    arrays = {name: np.concatenate([p[name] for p in parts]) for name in described}
    if file.labels is not None:
        arrays, labels = _labelled(arrays, file.labels)
    else:
        labels = [str(v) for v in arrays.pop(file.label)]
    classes, y = _class_ids(labels)
    (only, spec), *rest = file.spec.items()
    if not rest and len(spec.shape) == 3:
        info = DataInfo(path.stem, "image", "classes", classes, value_range=IMAGE_RANGE)
        return Dataset(arrays[only].astype("float32"), y, info)
    blocks = [arrays[n].reshape(len(y), -1).astype("float32") for n in file.spec]
    names = [
        n if arrays[n][0].size == 1 else f"{n}[{i}]"
        for n in file.spec
        for i in range(arrays[n][0].size)
    ]
    info = DataInfo(path.stem, "tabular", "classes", classes, tuple(names))
    return Dataset(np.concatenate(blocks, axis=1), y, info)


def read_labels(path: Path) -> dict[int, str]:
    """``{record id: label}`` from a labels CSV (``id`` and ``label`` columns); rows whose
    label is empty are not labelled yet and left out.

    Raises:
        DataError: no such file, no ``id``/``label`` column, or an id that is not a number.
    """
    if not path.is_file():
        raise DataError(f"data.file.labels: no labels file at {str(path)!r}; point it at the "
                        "labels.csv written by kerasforge monitor --to-dataset")  # fmt: skip
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if rows and not {RECORD_ID, "label"} <= set(rows[0]):
        raise DataError(f"data.file.labels: {path} needs columns {RECORD_ID!r} and 'label'; "
                        f"received {sorted(rows[0])}")  # fmt: skip
    found: dict[int, str] = {}
    for number, row in enumerate(rows, start=2):
        label = (row.get("label") or "").strip()
        if not label:
            continue
        try:
            found[int(row[RECORD_ID])] = label
        except ValueError:
            raise DataError(f"data.file.labels: {path} line {number}: id "
                            f"{row[RECORD_ID]!r} is not a whole number") from None  # fmt: skip
    return found


def _labelled(
    arrays: dict[str, np.ndarray], labels_path: Path
) -> tuple[dict[str, np.ndarray], list[str]]:
    """The records the labels file labels, and their labels in record order."""
    labels = read_labels(labels_path)
    ids = arrays.pop(RECORD_ID)
    keep = np.array([int(i) in labels for i in ids], dtype=bool)
    if not keep.any():
        raise DataError(f"data.file.labels: {labels_path} labels none of the {len(ids)} "
                        "records; fill in the 'label' column")  # fmt: skip
    return {k: v[keep] for k, v in arrays.items()}, [labels[int(i)] for i in ids[keep]]
