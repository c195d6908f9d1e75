"""Data sources -> deterministic splits -> tf.data pipelines.

Sources are registered by name and return whole arrays; splitting is
stratified and seeded; the tf.data side caches, shuffles (seeded), batches and
prefetches. Nothing here downloads: bundled data ships inside a PyPI package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from kerasforge.pipelines.errors import DataError

if TYPE_CHECKING:
    import tensorflow as tf


@dataclass(frozen=True)
class Dataset:
    """Arrays of one data source plus what a model and an exporter need to know."""

    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    value_range: tuple[float, float]
    """Range of the raw input values (the serving signature takes these)."""


@dataclass(frozen=True)
class Splits:
    """Train / validation / test arrays of one dataset."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    value_range: tuple[float, float]
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


_SOURCES: dict[str, Callable[[], Dataset]] = {}


def register_source(fn: Callable[[], Dataset]) -> Callable[[], Dataset]:
    """Register a data source under its function name."""
    _SOURCES[fn.__name__] = fn
    return fn


def source_names() -> list[str]:
    """Registered data source names, sorted."""
    return sorted(_SOURCES)


@register_source
def digits() -> Dataset:
    """scikit-learn's bundled 8x8 digits: 1,797 images, 10 classes, pixel values 0-16."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype("float32")[..., np.newaxis]  # (n, 8, 8, 1)
    y = bunch.target.astype("int64")
    return Dataset(x, y, tuple(str(c) for c in bunch.target_names), (0.0, 16.0))


def load_source(name: str) -> Dataset:
    """Arrays of the registered source ``name``."""
    if name not in _SOURCES:
        raise DataError(f"unknown data source {name!r}; available: {', '.join(source_names())}")
    return _SOURCES[name]()


def split(data: Dataset, validation_fraction: float, test_fraction: float, seed: int) -> Splits:
    """Stratified, seeded train/validation/test split (same seed, same split)."""
    from sklearn.model_selection import train_test_split

    try:
        x_rest, x_test, y_rest, y_test = train_test_split(
            data.x, data.y, test_size=test_fraction, stratify=data.y, random_state=seed
        )
        val_of_rest = validation_fraction / (1.0 - test_fraction)
        x_train, x_val, y_train, y_val = train_test_split(
            x_rest, y_rest, test_size=val_of_rest, stratify=y_rest, random_state=seed
        )
    except ValueError as exc:  # too few examples of a class for the fractions asked
        raise DataError(
            f"cannot split {len(data.y)} examples into validation_fraction="
            f"{validation_fraction} and test_fraction={test_fraction} with every class in "
            f"each split: {exc}; use larger fractions or more data"
        ) from None
    sizes = {"train": len(y_train), "validation": len(y_val), "test": len(y_test)}
    return Splits(
        x_train, y_train, x_val, y_val, x_test, y_test, data.class_names, data.value_range, sizes
    )


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
        y: integer labels.
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
