"""Image folders as a streamed data source: one subfolder per class.

The source lists the files (JPEG, PNG, BMP, GIF by suffix; anything else is
ignored) and checks once, streaming through tf.data with ``ignore_errors``,
which of them decode: unreadable or corrupt files are skipped and counted
(reported at the end of training and logged to MLflow). The split is over the
file list (seeded, stratified). Training, validation and test batches decode
and resize in a parallel ``map``, cache in memory or in files
(``data.cache_dir``), shuffle per epoch and prefetch; nothing holds the whole
folder in memory. The in-memory arrays of :class:`Splits` hold a bounded
decoded sample of each split (:data:`MAX_SAMPLE`): normalisation statistics,
int8 calibration, the confusion matrix and parity use it, while training and
the test metrics use every file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import DataError, shown
from ..types import IMAGE_RANGE, DataInfo, Dataset, Splits, register_source
from .files import class_folders

if TYPE_CHECKING:
    import tensorflow as tf

    from ...config.experiment import DataConfig, FileConfig
    from ...tracking.run import Tracker

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
MAX_SAMPLE = 1000
"""Decoded examples per split kept in memory (statistics, calibration, reports)."""
SHOWN_SKIPPED = 5
"""How many skipped paths are named in the report."""


@dataclass(frozen=True)
class FileSplits:
    """The file paths and labels of each split, with how to decode them."""

    paths: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    image_size: tuple[int, int]
    channels: int


@register_source(inputs="image", targets="classes", needs_file=True)
def image_folder(file: FileConfig) -> Dataset:
    """A folder with one subfolder of images per class; ``x`` holds the file paths."""
    root, classes = class_folders(file.path, "image_folder", "images")
    listed = {c: _images(root / c) for c in classes}
    empty = [str(root / c) for c, files in listed.items() if not files]
    if empty:
        raise DataError(
            f"image_folder: class folder(s) {shown(empty, 300)} hold no {'/'.join(IMAGE_SUFFIXES)} "
            "files; add images or remove the folder"
        )
    paths = np.array([str(p) for c in classes for p in listed[c]])
    labels = np.array([i for i, c in enumerate(classes) for _ in listed[c]], "int64")
    good = readable(paths)
    skipped = paths[~good].tolist()
    unreadable = [str(root / c) for i, c in enumerate(classes) if not good[labels == i].any()]
    if unreadable:
        raise DataError(
            f"image_folder: no image in class folder(s) {shown(unreadable, 300)} could be "
            "decoded; fix or replace the files"
        )
    info = DataInfo(
        root.name,
        "image",
        "classes",
        tuple(classes),
        value_range=IMAGE_RANGE,
        streamed=True,
        skipped=tuple(skipped[:SHOWN_SKIPPED]),
        skipped_count=len(skipped),
    )
    return Dataset(paths[good], labels[good], info)


def _images(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def decode(path: tf.Tensor, image_size: tuple[int, int], channels: int) -> tf.Tensor:
    """One image file -> ``[height, width, channels]`` float32 pixels in 0-255.

    The format comes from the bytes, not the suffix; a GIF gives its first frame.
    """
    import tensorflow as tf

    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image = tf.image.resize(tf.cast(image, tf.float32), image_size)
    if channels == 1:
        image = tf.image.rgb_to_grayscale(image)
    return tf.ensure_shape(image, [*image_size, channels])


def readable(paths: np.ndarray) -> np.ndarray:
    """Which files decode, checked by streaming them once through tf.data (none kept)."""
    import tensorflow as tf

    def probe(index: tf.Tensor, path: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        return index, tf.size(image)

    ds = tf.data.Dataset.from_tensor_slices(paths).enumerate()
    ds = ds.map(probe, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()
    good = np.zeros(len(paths), bool)
    for index, size in ds.as_numpy_iterator():
        good[index] = size > 0
    return good


def with_samples(splits: Splits, file: FileConfig) -> Splits:
    """``splits`` of file paths -> decoded samples as arrays, the file lists kept beside."""
    parts = {"train": "x_train", "validation": "x_val", "test": "x_test"}
    targets = {"train": "y_train", "validation": "y_val", "test": "y_test"}
    files = FileSplits(
        {k: getattr(splits, v) for k, v in parts.items()},
        {k: getattr(splits, targets[k]) for k in parts},
        (file.image_size[0], file.image_size[1]),
        file.channels,
    )
    arrays: dict[str, Any] = {}
    for part, name in parts.items():
        count = min(MAX_SAMPLE, len(files.paths[part]))
        arrays[name] = load_images(files.paths[part][:count], files.image_size, files.channels)
        arrays[targets[part]] = files.labels[part][:count]
    return dataclasses.replace(splits, files=files, **arrays)


def load_images(paths: np.ndarray, image_size: tuple[int, int], channels: int) -> np.ndarray:
    """Decode ``paths`` into one array (a bounded sample: callers cap the count)."""
    import tensorflow as tf

    def one(path: tf.Tensor) -> tf.Tensor:
        return decode(path, image_size, channels)

    ds = tf.data.Dataset.from_tensor_slices(paths).map(one, num_parallel_calls=tf.data.AUTOTUNE)
    images = list(ds.batch(256).as_numpy_iterator())
    return np.concatenate(images) if images else np.zeros((0, *image_size, channels), "float32")


def file_datasets(
    data: DataConfig, files: FileSplits, *, seed: int, first_epoch: int, epochs: int
) -> dict[str, Any]:
    """Streamed batches: ``train`` for epochs ``first_epoch`` to ``epochs - 1`` (each epoch
    reshuffled by ``(seed, epoch)``, the same order in a resumed run), ``validation``
    and ``test`` in file order, and ``steps_per_epoch``."""
    import tensorflow as tf

    def one(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return decode(path, files.image_size, files.channels), label

    def decoded(part: str) -> tf.data.Dataset:
        ds = tf.data.Dataset.from_tensor_slices((files.paths[part], files.labels[part]))
        ds = ds.map(one, num_parallel_calls=tf.data.AUTOTUNE)
        if not data.cache:
            return ds
        if data.cache_dir is None:
            return ds.cache()
        data.cache_dir.mkdir(parents=True, exist_ok=True)
        return ds.cache(str(data.cache_dir / f"{part}-{len(files.paths[part])}"))

    train = decoded("train") if data.cache else None
    paths = tf.data.Dataset.from_tensor_slices((files.paths["train"], files.labels["train"]))

    def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
        epoch_seed = tf.constant(seed, tf.int64) * 100_003 + tf.cast(epoch, tf.int64) + 1
        if data.cache:  # decoded once: shuffle the decoded images
            return train.shuffle(data.shuffle_buffer, seed=epoch_seed).batch(data.batch_size)
        # Decoded every epoch: shuffle the paths (cheap, so the whole list), then decode
        # in parallel, so decoding starts at once instead of after a buffer of images.
        order = paths.shuffle(len(files.paths["train"]), seed=epoch_seed)
        decoded_epoch = order.map(one, num_parallel_calls=tf.data.AUTOTUNE)
        return decoded_epoch.batch(data.batch_size)

    epochs_left = tf.data.Dataset.range(first_epoch, max(epochs, first_epoch + 1))
    held_out = {
        part: decoded(part).batch(data.batch_size).prefetch(tf.data.AUTOTUNE)
        for part in ("validation", "test")
    }
    return {
        "train": epochs_left.flat_map(one_epoch).prefetch(tf.data.AUTOTUNE),
        "steps_per_epoch": -(-len(files.paths["train"]) // data.batch_size),
        **held_out,
    }


def report_skipped(info: DataInfo, tracker: Tracker) -> None:
    """Print the files a streamed source skipped and log their count and first paths."""
    if not info.skipped_count:
        return
    listed = ", ".join(info.skipped)
    hidden = info.skipped_count - len(info.skipped)
    more = f" (and {hidden} more)" if hidden else ""
    print(f"data: skipped {info.skipped_count} unreadable file(s): {listed}{more}", flush=True)
    tracker.log_metrics({"data_skipped_files": info.skipped_count})
    tracker.set_tags({"data.skipped_files": listed + more})
