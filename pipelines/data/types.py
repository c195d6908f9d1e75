"""What a data source returns, and the registry of sources.

Kept apart from :mod:`kerasforge.pipelines.data.pipeline` (splits, tf.data), so that the
source modules (``filesources``, ``imagefolder``, ``series``, ...) import their
types and ``register_source`` from here, and ``data`` imports them in turn,
with no import loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

InputKind = Literal["image", "tabular", "sequence", "series", "text"]
"""``sequence``: examples are ``[steps, features]``; ``series``: one long ``[time, features]``
series, cut into windows chronologically (``pipelines/data/sources/series.py``); ``text``: one
string per example, tokenised inside the model (``pipelines/data/sources/text.py``,
``pipelines/data/sources/dates.py``)."""
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
    """``x`` holds file paths, decoded in tf.data (``pipelines/data/sources/imagefolder.py``)."""
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
