"""Raw batches -> the per-row values each monitored feature is summarised from.

One function per input kind (``pipelines/data/types.py:InputKind``) and one for a model's
outputs, shared by training (``statistics.json``) and the server's live window, so that
both sides measure exactly the same thing. Each returns ``{feature name: array}`` whose
first axis is the batch's rows:

- ``tabular`` ``[N, F]``: one numeric feature per column (its name from the data, else
  ``x0``, ``x1``, ...);
- ``image`` ``[N, H, W, C]``: ``channel_<c>``, the intensities of a fixed grid of at most
  :data:`PIXEL_GRID` x :data:`PIXEL_GRID` pixels per image (bounded cost per image, the
  same pixels on both sides); ``channel_<c>.mean``, each image's mean intensity on that
  grid (one value per image: an independent sample per image, so a brightness or contrast
  change shows as clearly as the images are many, where the pooled pixels of
  ``channel_<c>`` are judged on as few rows as there are images, see ``drift.py``); and
  ``image_size`` (``"HxW"``, categorical);
- ``series`` and ``sequence`` windows ``[N, T, F]``: each feature's values, and
  ``<feature>.step``, its first differences along time;
- ``text`` ``[N]`` strings: ``text``, each text's words after the model tokeniser's
  standardisation (``serving/edge/text.py``).

Outputs (:func:`output_features`): integer and boolean outputs (``class_ids``,
``is_anomaly``) are categorical; ``probabilities`` is summarised by each row's top score;
any other numeric output (``values``, ``forecast``, ``anomaly_score``) by all its values;
string outputs (``classes``) are skipped, as they repeat ``class_ids``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..edge.text import Tokenizer

PIXEL_GRID = 16
"""Pixels per image side that the intensity histograms read (a strided grid)."""
IMAGE_SIZE = "image_size"
TEXT = "text"
STEP_SUFFIX = ".step"
MEAN_SUFFIX = ".mean"
TOP_SCORE_OUTPUTS = ("probabilities",)
"""Outputs with one score per class, summarised by each row's largest score."""

_WORDS = Tokenizer((), 0)


def input_features(x: Any, kind: str, feature_names: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """The monitored features of one batch of raw inputs of ``kind`` (module docstring).

    Raises:
        ValueError: ``kind`` is not a known input kind, or ``x`` has the wrong rank for it.
    """
    if kind == "text":
        return {TEXT: text_words(x)}
    x = np.asarray(x)
    if kind == "tabular":
        x = _rank(x, 2, kind)
        return {name: x[:, i].astype("float64") for i, name in enumerate(_names(x, feature_names))}
    if kind == "image":
        return image_features(_rank(x, 4, kind))
    if kind in ("series", "sequence"):
        x = _rank(x, 3, kind)
        found: dict[str, np.ndarray] = {}
        for i, name in enumerate(_names(x, feature_names)):
            values = x[:, :, i].astype("float64")
            found[name] = values
            found[name + STEP_SUFFIX] = np.diff(values, axis=1)
        return found
    raise ValueError(
        f"unknown input kind {kind!r}; expected tabular, image, series, sequence or text"
    )


def image_features(x: np.ndarray) -> dict[str, np.ndarray]:
    """``channel_<c>`` intensities on a strided pixel grid, ``channel_<c>.mean`` per image,
    and ``image_size``."""
    n, height, width, channels = x.shape
    grid = x[:, :: _stride(height), :: _stride(width), :]
    found: dict[str, np.ndarray] = {}
    for c in range(channels):
        pixels = grid[..., c].reshape(n, -1).astype("float64")
        found[f"channel_{c}"] = pixels
        found[f"channel_{c}{MEAN_SUFFIX}"] = pixels.mean(axis=1)
    found[IMAGE_SIZE] = np.full(n, f"{height}x{width}")
    return found


def text_words(texts: Any) -> np.ndarray:
    """Each text's words, as the model's tokeniser standardises and splits them."""
    flat = np.asarray(texts, dtype=object).reshape(-1)
    words = np.empty(len(flat), dtype=object)
    for i, text in enumerate(flat):
        value = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        words[i] = tuple(_WORDS.words(value))
    return words


def output_features(outputs: dict[str, Any]) -> dict[str, np.ndarray]:
    """The monitored outputs of one batch (module docstring)."""
    found: dict[str, np.ndarray] = {}
    for name, value in outputs.items():
        value = np.asarray(value)
        if value.dtype.kind in "OSU" or value.ndim == 0:
            continue
        rows = value.reshape(len(value), -1)
        if value.dtype.kind == "b":
            found[name] = rows[:, 0].astype(str)
        elif value.dtype.kind in "iu":
            found[name] = rows[:, 0].astype("int64").astype(str)
        elif name in TOP_SCORE_OUTPUTS:
            found[name] = rows.max(axis=1).astype("float64")
        else:
            found[name] = rows.astype("float64")
    return found


def is_categorical(values: np.ndarray) -> bool:
    """Whether a feature's values are categories (strings) rather than numbers."""
    return values.dtype.kind in "US"


def _stride(size: int) -> int:
    return max(1, -(-size // PIXEL_GRID))


def _names(x: np.ndarray, feature_names: Sequence[str]) -> list[str]:
    count = x.shape[-1]
    return list(feature_names) if len(feature_names) == count else [f"x{i}" for i in range(count)]


def _rank(x: np.ndarray, rank: int, kind: str) -> np.ndarray:
    if x.ndim == rank - 1 and kind in ("series", "sequence"):
        return x[..., None]  # one feature, given without its last axis
    if x.ndim != rank:
        raise ValueError(
            f"{kind} inputs must have {rank} dimensions (examples first); received shape "
            f"{list(x.shape)}"
        )
    return x
