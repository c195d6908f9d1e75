"""Data sources -> deterministic splits -> tf.data pipelines.

Sources are registered by name with what they hold (image or tabular inputs,
class labels or numeric values) and return whole arrays; splitting is seeded
(stratified for class labels); the tf.data side caches, shuffles (seeded),
batches and prefetches. Nothing here downloads: bundled data ships inside a
PyPI package.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from kerasforge.pipelines.errors import DataError

if TYPE_CHECKING:
    import tensorflow as tf

InputKind = Literal["image", "tabular", "sequence", "series", "text"]
"""``sequence``: examples are ``[steps, features]``; ``series``: one long ``[time, features]``
series, cut into windows chronologically (``pipelines/series.py``); ``text``: one string per
example, tokenised inside the model (``pipelines/textsources.py``, ``pipelines/dates.py``)."""
TargetKind = Literal["classes", "values", "text"]
"""``text``: one target string per example (sequence to sequence)."""

IMAGE_RANGE = (0.0, 255.0)
"""Image inputs hold 8-bit pixel values; scaling happens inside the model."""


@dataclass(frozen=True)
class DataInfo:
    """What a source holds, beside the arrays: read by tasks, export and the model card."""

    name: str
    inputs: InputKind
    targets: TargetKind
    class_names: tuple[str, ...] = ()
    feature_names: tuple[str, ...] = ()
    target_names: tuple[str, ...] = ()
    value_range: tuple[float, float] | None = None
    """Range of the raw input values, where fixed (images: 0-255)."""
    streamed: bool = False
    """``x`` holds file paths, decoded in tf.data (``pipelines/imagefolder.py``)."""
    skipped: tuple[str, ...] = ()
    """The first files a streamed source skipped as unreadable."""
    skipped_count: int = 0


@dataclass(frozen=True)
class Dataset:
    """Arrays of one data source: ``x`` (examples first) and ``y`` (labels or values)."""

    x: np.ndarray
    y: np.ndarray
    info: DataInfo


@dataclass(frozen=True)
class Splits:
    """Train / validation / test arrays of one dataset."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    info: DataInfo
    sizes: dict[str, int] = field(default_factory=dict)
    files: Any = None
    """Streamed sources: every split's files (``imagefolder.FileSplits``); the arrays
    above then hold a bounded decoded sample of each split."""

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.info.class_names)


@dataclass(frozen=True)
class Source:
    """A registered source: its loader and what it holds (known without loading it)."""

    load: Callable[..., Dataset]
    inputs: InputKind
    targets: TargetKind
    needs_file: bool = False
    """Its loader takes the config's ``data.file`` section (user files)."""


_SOURCES: dict[str, Source] = {}


def register_source(
    *, inputs: InputKind, targets: TargetKind, needs_file: bool = False
) -> Callable[[Callable[..., Dataset]], Callable[..., Dataset]]:
    """Register a data source under its function name, with what it holds.

    ``needs_file``: the loader takes the config's ``data.file`` section.
    """

    def register(fn: Callable[..., Dataset]) -> Callable[..., Dataset]:
        if fn.__name__ in _SOURCES:
            raise ValueError(f"data source {fn.__name__!r} is already registered")
        _SOURCES[fn.__name__] = Source(fn, inputs, targets, needs_file)
        return fn

    return register


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
        from kerasforge.pipelines.example_data import ensure_example

        ensure_example(file.path)  # configs/data/ is generated, not kept in git
    return source.load(file)


@register_source(inputs="image", targets="classes")
def digits() -> Dataset:
    """scikit-learn's bundled 8x8 digits: 1,797 grayscale images, 10 classes.

    The data set stores 0-16 intensities; they are mapped onto 8-bit pixel
    values (0-255), the range every image input of kerasforge takes.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype("float32") * (255.0 / 16.0))[..., np.newaxis]  # (n, 8, 8, 1)
    info = DataInfo(
        "digits",
        "image",
        "classes",
        tuple(str(c) for c in bunch.target_names),
        value_range=IMAGE_RANGE,
    )
    return Dataset(x, bunch.target.astype("int64"), info)


def _sklearn_table(name: str, loader: str, targets: TargetKind, **kwargs: object) -> Dataset:
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, loader)(**kwargs)
    x = np.asarray(bunch.data, dtype="float32")
    features = tuple(str(f) for f in bunch.feature_names)
    if targets == "classes":
        classes = tuple(str(c) for c in bunch.target_names)
        info = DataInfo(name, "tabular", targets, classes, features)
        return Dataset(x, np.asarray(bunch.target, dtype="int64"), info)
    info = DataInfo(name, "tabular", targets, feature_names=features, target_names=("target",))
    return Dataset(x, np.asarray(bunch.target, dtype="float32"), info)


@register_source(inputs="tabular", targets="values")
def diabetes() -> Dataset:
    """scikit-learn's bundled diabetes progression: 442 patients, 10 raw named features."""
    return _sklearn_table("diabetes", "load_diabetes", "values", scaled=False)


@register_source(inputs="tabular", targets="classes")
def breast_cancer() -> Dataset:
    """scikit-learn's bundled Wisconsin breast cancer set: 569 tumours, 30 features, 2 classes."""
    return _sklearn_table("breast_cancer", "load_breast_cancer", "classes")


@register_source(inputs="tabular", targets="classes")
def wine() -> Dataset:
    """scikit-learn's bundled wine recognition set: 178 wines, 13 features, 3 cultivars."""
    return _sklearn_table("wine", "load_wine", "classes")


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
    """Seeded train/validation/test split, stratified when the targets are classes."""
    from sklearn.model_selection import train_test_split

    stratified = data.info.targets == "classes"
    try:
        x_rest, x_test, y_rest, y_test = train_test_split(
            data.x,
            data.y,
            test_size=test_fraction,
            random_state=seed,
            stratify=data.y if stratified else None,
        )
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


from kerasforge.pipelines import dates as _dates  # noqa: E402, F401  (dates)
from kerasforge.pipelines import filesources as _filesources  # noqa: E402, F401  (registers csv, numpy)
from kerasforge.pipelines import imagefolder as _imagefolder  # noqa: E402, F401  (image_folder)
from kerasforge.pipelines import series as _series  # noqa: E402, F401  (registers co2, sunspots, ...)
from kerasforge.pipelines import textgen as _textgen  # noqa: E402, F401  (chase)
from kerasforge.pipelines import textsources as _textsources  # noqa: E402, F401  (text_folder, csv_text)
from kerasforge.pipelines import tfrecords as _tfrecords  # noqa: E402, F401  (tfrecord)
