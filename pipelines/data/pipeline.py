"""Data sources -> deterministic splits -> tf.data pipelines.

Sources (:mod:`kerasforge.pipelines.data.types`: the types and the registry) are
registered by name with what they hold (image or tabular inputs,
class labels or numeric values) and return whole arrays; splitting is seeded
(stratified for class labels); the tf.data side caches, shuffles (seeded),
batches and prefetches. Nothing here downloads: bundled data ships inside a
PyPI package.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError
from .sources import (  # each registers its sources
    bundled,  # noqa: F401  (digits, diabetes, breast_cancer, wine)
    dates,  # noqa: F401  (dates)
    files,  # noqa: F401  (csv, numpy_arrays)
    imagefolder,  # noqa: F401  (image_folder)
    series,  # noqa: F401  (co2, sunspots, macrodata, ...)
    text,  # noqa: F401  (text_folder, csv_text)
    textgen,  # noqa: F401  (chase)
    tfrecords,  # noqa: F401  (tfrecord)
)
from .types import (
    _SOURCES,
    Dataset,
    Source,
    Splits,
)

if TYPE_CHECKING:
    import tensorflow as tf

MIN_PER_CLASS = 2
"""Examples of a class a stratified split needs in what it splits (scikit-learn's rule)."""
MAX_RARE_SHOWN = 5


def source_names() -> list[str]:
    """Registered data source names, sorted."""
    return sorted(_SOURCES)


def get_source(name: str) -> Source:
    """The registered source ``name``."""
    if name not in _SOURCES:
        raise DataError(f"unknown data source {name!r}; available: {', '.join(source_names())}")
    return _SOURCES[name]


def load_source(name: str, file: Any = None) -> Dataset:
    """Arrays of the registered source ``name``; ``file``: ``data.file`` for file sources."""
    source = get_source(name)
    if not source.needs_file:
        return source.load()
    if file is not None and file.path is not None:
        from .example_data import ensure_example

        ensure_example(file.path)  # configs/data/ is generated, not kept in git
    return source.load(file)


def keep_classes(data: Dataset, names: Sequence[str]) -> Dataset:
    """Only the examples of the classes ``names`` (as the source names them), relabelled
    0, 1, ... in the order given; the class names follow.

    For a model that learns some classes and is transferred to others (pretrain on
    digits 0-4, fine-tune on 5-9), or a smaller problem cut from a larger source.

    Raises:
        DataError: the source's targets are not classes, or a name is not one of its classes.
    """
    if data.info.targets != "classes":
        raise DataError(
            f"data.classes: source {data.info.name!r} has {data.info.targets} targets, not "
            "classes; remove data.classes"
        )
    known = list(data.info.class_names)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise DataError(
            f"data.classes: {unknown} are not classes of {data.info.name!r}; its classes are "
            f"{known}"
        )
    ids = [known.index(n) for n in names]
    keep = np.isin(data.y, ids)
    relabel = np.full(len(known), -1, dtype=data.y.dtype)
    relabel[ids] = np.arange(len(ids))
    info = dataclasses.replace(data.info, class_names=tuple(names))
    return Dataset(data.x[keep], relabel[data.y[keep]], info)


def split(data: Dataset, validation_fraction: float, test_fraction: float, seed: int) -> Splits:
    """Seeded train/validation/test split, stratified when the targets are classes.

    Raises:
        DataError: a class too rare to stratify (named by its label, with its count),
            or too few examples for the fractions asked.
    """
    from sklearn.model_selection import train_test_split

    stratified = data.info.targets == "classes"
    try:
        if stratified:
            _check_rare_classes(data.y, data.y, data.info.class_names)
        x_rest, x_test, y_rest, y_test = train_test_split(
            data.x,
            data.y,
            test_size=test_fraction,
            random_state=seed,
            stratify=data.y if stratified else None,
        )
        if stratified:
            _check_rare_classes(y_rest, data.y, data.info.class_names)
        x_train, x_val, y_train, y_val = train_test_split(
            x_rest,
            y_rest,
            test_size=validation_fraction / (1.0 - test_fraction),
            random_state=seed,
            stratify=y_rest if stratified else None,
        )
    except ValueError as exc:  # too few examples (of a class) for the fractions asked
        raise DataError(
            f"cannot split {len(data.y)} examples into validation_fraction="
            f"{validation_fraction} and test_fraction={test_fraction}"
            f"{' with every class in each split' if stratified else ''}: {exc}; "
            "use larger fractions or more data"
        ) from None
    sizes = {"train": len(y_train), "validation": len(y_val), "test": len(y_test)}
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test, data.info, sizes)


def _check_rare_classes(part: np.ndarray, whole: np.ndarray, names: Sequence[str]) -> None:
    """Raise :class:`DataError` naming the labels that ``part`` holds fewer than
    :data:`MIN_PER_CLASS` times (a stratified split of ``part`` cannot place them), with
    how often each appears in ``whole`` (the source) and how to fix it.

    scikit-learn's own message names a class id (``[2]``), not the label a user wrote.
    """
    ids, counts = np.unique(part, return_counts=True)
    rare = {int(i): int(n) for i, n in zip(ids, counts, strict=True) if n < MIN_PER_CLASS}
    if not rare:
        return
    label = dict(enumerate(names)) | {i: str(i) for i in rare if i >= len(names)}
    found = []
    for i, left in list(rare.items())[:MAX_RARE_SHOWN]:
        total = int((whole == i).sum())
        after = "" if left == total else f" ({left} left after the test split)"
        found.append(f"label {label[i]!r} appears {_times(total)}{after}")
    others = [label[i] for i in np.unique(whole) if int(i) not in rare]
    keep = f"data.classes=[{','.join(others)}]" if len(others) <= 12 else "data.classes=[...]"
    fixes = "remove those rows" + (
        f", or keep only the other classes with --set {keep}" if len(others) >= 2 else ""
    )
    raise DataError(
        f"{'; '.join(found)}{'; ...' if len(rare) > MAX_RARE_SHOWN else ''} in "
        f"{len(whole)} examples: a stratified split needs at least {MIN_PER_CLASS} examples "
        "of every class (3 or more to reach train, validation and test). Add examples of "
        f"{', '.join(repr(label[i]) for i in list(rare)[:MAX_RARE_SHOWN])}, {fixes}"
    )


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def to_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    training: bool,
    seed: int,
    shuffle_buffer: int = 2048,
    cache: bool = True,
) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of ``(x, y)`` batches: cache, shuffle, batch, prefetch.

    Args:
        x: inputs, first axis the examples.
        y: targets, first axis the examples.
        batch_size: examples per batch.
        training: shuffle (seeded, reshuffled every epoch) when true.
        seed: shuffle seed.
        shuffle_buffer: shuffle buffer size.
        cache: cache the examples in memory after the first pass.

    Returns:
        tf.data.Dataset yielding ``(x_batch, y_batch)``.
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def to_epoch_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    seed: int,
    first_epoch: int,
    epochs: int,
    shuffle_buffer: int = 2048,
    cache: bool = True,
) -> tuple[tf.data.Dataset, int]:
    """Training batches for epochs ``first_epoch`` to ``epochs - 1``, shuffled per epoch.

    Epoch ``e`` sees the same order whether the run started at epoch 0 or
    resumed at ``e`` (``reshuffle_each_iteration`` cannot promise that: its
    order depends on how many epochs this process already ran). Pass the
    returned ``steps_per_epoch`` to ``fit`` so Keras keeps one iterator.

    Returns:
        The dataset and its batches per epoch.
    """
    import tensorflow as tf

    # A stateless permutation keyed by (seed, epoch): the same order for epoch e
    # in every process. (A per-epoch `shuffle(seed=...)` breaks when the global
    # seed is 0: TF compares the seed pair with (0, 0) in Python.) The arrays are
    # in memory already, so `cache` and `shuffle_buffer` have nothing to add.
    del shuffle_buffer, cache
    # x may be a dict of arrays (a sequence-to-sequence model's named inputs).
    features, targets = tf.nest.map_structure(tf.constant, x), tf.constant(y)
    count = len(y)

    def take(i: tf.Tensor) -> tuple[Any, tf.Tensor]:
        return tf.nest.map_structure(lambda t: tf.gather(t, i), features), tf.gather(targets, i)

    def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
        key = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])
        order = tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64), key)
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
        return batches.map(take)

    steps = -(-count // batch_size)
    epochs_left = tf.data.Dataset.range(first_epoch, max(epochs, first_epoch + 1))
    return epochs_left.flat_map(one_epoch).prefetch(tf.data.AUTOTUNE), steps
