"""The ``data`` section of an experiment config: source, file, series, split and input pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from ..augment.images import AugmentConfig
from ..data.pipeline import get_source, source_names
from . import limits
from .rules import Fraction, Strict, complete, one_of


class FeatureSpec(Strict):
    """One fixed-length tf.Example feature of a ``tfrecord`` source."""

    dtype: Literal["float32", "int64"] = "float32"
    shape: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list)
    """Empty: a scalar; ``[h, w, c]`` for the one feature of an image source."""


class FileConfig(Strict):
    """A user's data file, for the ``csv`` and ``numpy`` sources
    (``pipelines/data/sources/files.py``).

    CSV: ``label`` names the class column; ``columns`` types the feature
    columns (``float``, ``int``, ``category`` one-hot encoded; empty: every
    other column as ``float``); ``missing`` is what empty cells do (``error``,
    ``drop`` the row, ``mean`` of the column). NumPy: a ``.npz`` with arrays
    ``features`` and ``label``, or a ``.npy`` of features with the labels in
    the last column.
    """

    path: Path | None = None
    label: Annotated[str, Field(min_length=1)] = "label"
    features: Annotated[str, Field(min_length=1)] = "x"
    columns: dict[str, Literal["float", "int", "category"]] = Field(default_factory=dict)
    missing: Literal["error", "drop", "mean"] = "error"
    image_size: tuple[
        Annotated[int, Field(ge=1, le=limits.MAX_IMAGE_SIDE)],
        Annotated[int, Field(ge=1, le=limits.MAX_IMAGE_SIDE)],
    ] = (64, 64)
    """``image_folder``: every image is resized to ``[height, width]``."""
    channels: Literal[1, 3] = 3
    """``image_folder``: 1 (grayscale) or 3 (RGB)."""
    spec: dict[str, FeatureSpec] = Field(default_factory=dict)
    """``tfrecord``: the tf.Example input features (the label feature is ``label``)."""
    text: Annotated[str, Field(min_length=1)] = "text"
    """``csv_text``: the column holding each example's text."""
    labels: Path | None = None
    """``tfrecord``: a CSV of ``id,label`` giving each record's class by its int64 ``id``
    feature (``kerasforge monitor --to-dataset`` writes one to fill in); records whose
    label is empty are left out. None: the records hold their label (``label``)."""


class SeriesConfig(Strict):
    """Windows of a time-series source (``pipelines/data/sources/series.py``), for forecasting.

    ``columns``: the input columns (empty: all); ``target``: the column to
    forecast (empty: the first input column; always an input too); ``window``
    steps in, ``horizon`` steps ahead out, a window starting every ``stride`` steps.
    """

    columns: list[str] = Field(default_factory=list)
    target: str | None = None
    window: Annotated[int, Field(ge=1, le=10_000)] = 24
    horizon: Annotated[int, Field(ge=1, le=1_000)] = 1
    stride: Annotated[int, Field(ge=1, le=10_000)] = 1


class ExtraSource(Strict):
    """One more source whose examples join the main one's before the split (``data.extra``):
    labelled live data (``kerasforge monitor --to-dataset``) beside the original data."""

    source: str
    file: FileConfig = Field(default_factory=FileConfig)

    @field_validator("source")
    @classmethod
    def _known_source(cls, source: str) -> str:
        return one_of("data.extra.source", "data source", source, source_names())


class DataConfig(Strict):
    """Where examples come from and how they are batched."""

    source: str = "digits"
    file: FileConfig = Field(default_factory=FileConfig)
    series: SeriesConfig = Field(default_factory=SeriesConfig)
    validation_fraction: Fraction = 0.15
    test_fraction: Fraction = 0.15
    batch_size: Annotated[int, Field(ge=1, le=limits.MAX_BATCH_SIZE)] = 64
    shuffle_buffer: Annotated[int, Field(ge=1, le=limits.MAX_SHUFFLE_BUFFER)] = 2048
    cache: bool = True
    cache_dir: Path | None = None
    """Streamed sources (``image_folder``): cache decoded images in files here, not memory."""
    augmentation: AugmentConfig = Field(default_factory=AugmentConfig)
    """Training-time image augmentation (``pipelines/augment/images.py``)."""
    classes: Annotated[list[str], Field(min_length=2)] | None = None
    """Keep only these classes (names as the source gives them, e.g. digits ``"5"``),
    relabelled in this order (``pipelines.data.pipeline.keep_classes``); none: every class."""
    extra: Annotated[list[ExtraSource], Field(max_length=8)] = Field(default_factory=list)
    """More sources appended to ``source`` before the split, classes matched by name
    (``pipelines.data.pipeline.add_extra``): e.g. labelled live data beside the original."""

    @field_validator("classes", mode="before")
    @classmethod
    def _class_names(cls, classes: object) -> object:
        """Numbers as written in YAML (``[5, 6]``) name the classes ``"5"``, ``"6"``."""
        if not isinstance(classes, list):
            return classes
        names = [str(c) if isinstance(c, int) and not isinstance(c, bool) else c for c in classes]
        if len(set(map(str, names))) != len(names):
            raise complete(f"data.classes: name each class once; received {classes}")
        return names

    @field_validator("source")
    @classmethod
    def _known_source(cls, source: str) -> str:
        return one_of("data.source", "data source", source, source_names())

    @model_validator(mode="after")
    def _file_when_needed(self) -> DataConfig:
        if get_source(self.source).needs_file and self.file.path is None:
            raise complete(
                f"data.file.path: source {self.source!r} reads a file; set data.file.path "
                "to your data file (or image folder)"
            )
        return self

    @model_validator(mode="after")
    def _leave_training_data(self) -> DataConfig:
        if self.validation_fraction + self.test_fraction >= 0.9:
            raise complete(
                "data.validation_fraction + data.test_fraction must stay below 0.9 so that "
                f"training keeps data; received {self.validation_fraction} + {self.test_fraction}"
            )
        return self
