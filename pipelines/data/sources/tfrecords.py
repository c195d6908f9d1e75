"""TFRecord files of ``tf.Example`` records as a data source, parsed in tf.data.

The config declares the features (``data.file.spec``: name -> dtype and
shape) and the integer class-label feature (``data.file.label``). One input
feature of shape ``[height, width, channels]`` makes an image source (0-255
pixels); otherwise the features are flattened side by side into a table.
A spec that does not match the records stops with one message naming the
feature, never a traceback mid-epoch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...errors import DataError, clipped
from ..types import IMAGE_RANGE, DataInfo, Dataset, register_source
from .files import _class_ids, _existing

if TYPE_CHECKING:
    from ...config.experiment import FileConfig

SUFFIXES = (".tfrecord", ".tfrecords", ".tfr")


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
    described[file.label] = tf.io.FixedLenFeature([], tf.int64)

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
    classes, y = _class_ids([str(v) for v in arrays.pop(file.label)])
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
