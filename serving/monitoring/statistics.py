"""The training statistics that travel with a model: ``statistics.json``.

A :class:`TrainingStatistics` document holds one summary (``summaries.py``) per monitored
input feature (``features.py``: columns, image channels, time-series values and steps,
text) computed on the training split, and one per model output computed on the
validation split. It sits beside the model card in every published version; the card's
``statistics`` field names it. The server's live window (``window.py``) bins live traffic
with the same edges, categories and words, and ``drift.py`` compares the two.

Computing it streams: :func:`summarize_batches` fixes the bins from the first batch
(:func:`templates`), summarises each batch like them (:func:`summarize_like`) and merges
(``summaries.merge``), so a ``tf.data`` pipeline's batches are never held together.

Example:
    >>> stats = TrainingStatistics.compute("regression", "tabular", x_train, outputs)
    >>> write_statistics("artifacts/models/m/1", stats)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..documents import read_document
from .features import TEXT, input_features, is_categorical, output_features
from .summaries import (
    DEFAULT_BINS,
    CategoricalSummary,
    NumericSummary,
    Summary,
    TextSummary,
    merge,
    quantile_edges,
    summarize_categories,
    summarize_numeric,
)

STATISTICS_FILE = "statistics.json"
SCHEMA_VERSION = 1
"""Bumped when a document written by this version cannot be read by an older one."""
TOP_WORDS = 50
"""Words of a text feature's token histogram (training's most frequent)."""
BATCH_ROWS = 4096


class StatisticsError(Exception):
    """A statistics file is missing, unreadable or from a newer kerasforge."""


class TrainingStatistics(BaseModel):
    """What the training data and the model's outputs looked like (``statistics.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = SCHEMA_VERSION
    task: str
    input_kind: str
    """``pipelines/data/types.py:InputKind``: how ``features.input_features`` reads inputs."""
    feature_names: list[str] = Field(default_factory=list)
    """Column (or series feature) names, in input order; empty for images and text."""
    rows: int
    """Training examples summarised."""
    output_rows: int = 0
    """Validation examples whose outputs were summarised."""
    inputs: dict[str, Summary] = Field(default_factory=dict)
    outputs: dict[str, Summary] = Field(default_factory=dict)

    @classmethod
    def compute(
        cls,
        task: str,
        input_kind: str,
        x: Any,
        outputs: dict[str, Any] | None = None,
        *,
        feature_names: Sequence[str] = (),
        vocabulary: Sequence[str] | None = None,
    ) -> TrainingStatistics:
        """The statistics of in-memory inputs ``x`` and outputs (batched internally)."""
        batches = (
            input_features(x[i : i + BATCH_ROWS], input_kind, feature_names)
            for i in range(0, len(x), BATCH_ROWS)
        )
        found = cls(
            task=task,
            input_kind=input_kind,
            feature_names=list(feature_names),
            rows=len(x),
            inputs=summarize_batches(batches, vocabulary=vocabulary),
        )
        return found.with_outputs(outputs) if outputs else found

    def with_outputs(self, outputs: dict[str, Any]) -> TrainingStatistics:
        """A copy with the summaries of the model's ``outputs`` (validation split)."""
        rows = len(next(iter(outputs.values()))) if outputs else 0
        summaries = summarize_batches([output_features(outputs)])
        return self.model_copy(update={"outputs": summaries, "output_rows": rows})


def templates(
    features: dict[str, np.ndarray],
    bins: int = DEFAULT_BINS,
    vocabulary: Sequence[str] | None = None,
) -> dict[str, Summary]:
    """Empty summaries whose bins come from ``features`` (the first training batch):
    quantile edges for numbers, the values seen for categories, the top words for text."""
    found: dict[str, Summary] = {}
    for name, values in features.items():
        if name == TEXT and values.dtype == object:
            found[name] = _text_template(values, bins, vocabulary)
        elif is_categorical(values):
            found[name] = summarize_categories(values[:0], sorted(set(values.tolist())))
        else:
            found[name] = summarize_numeric(values[:0], quantile_edges(values, bins))
    return found


def summarize_like(
    features: dict[str, np.ndarray],
    reference: dict[str, Summary],
    vocabulary: set[str] | None = None,
) -> dict[str, Summary]:
    """Summaries of ``features`` binned as ``reference`` (same edges, categories, words).
    Features the reference lacks are skipped; the reference's features missing here stay
    out of the result."""
    found: dict[str, Summary] = {}
    for name, like in reference.items():
        if name not in features:
            continue
        values = features[name]
        if isinstance(like, NumericSummary):
            found[name] = summarize_numeric(values, like.edges)
        elif isinstance(like, CategoricalSummary):
            found[name] = summarize_categories(values, like.categories)
        else:
            found[name] = _summarize_text(values, like, vocabulary)
    return found


def summarize_batches(
    batches: Iterable[dict[str, np.ndarray]],
    *,
    bins: int = DEFAULT_BINS,
    vocabulary: Sequence[str] | None = None,
) -> dict[str, Summary]:
    """Merged summaries of a stream of feature batches, binned by the first batch."""
    known = vocabulary_set(vocabulary)
    total: dict[str, Summary] = {}
    reference: dict[str, Summary] | None = None
    for batch in batches:
        if reference is None:
            reference = templates(batch, bins, vocabulary)
            total = reference
        found = summarize_like(batch, reference, known)
        total = {name: merge(total[name], found[name]) for name in total}
    return total


def write_statistics(folder: str | Path, statistics: TrainingStatistics) -> Path:
    """Write ``statistics`` as ``<folder>/statistics.json``."""
    path = Path(folder) / STATISTICS_FILE
    path.write_text(statistics.model_dump_json(indent=1))
    return path


def find_statistics(folder: str | Path) -> Path | None:
    """``<folder>/statistics.json`` if it exists (a run or version folder), else ``None``."""
    path = Path(folder) / STATISTICS_FILE
    return path if path.is_file() else None


def read_statistics(path: str | Path) -> TrainingStatistics:
    """The validated document at ``path`` (a file, or a folder holding ``statistics.json``).

    Raises:
        StatisticsError: missing, not JSON, newer than this kerasforge, or malformed.
    """
    path = Path(path)
    path = path / STATISTICS_FILE if path.is_dir() else path
    if not path.is_file():
        raise StatisticsError(
            f"no training statistics {str(path)!r}; republish the model with a kerasforge "
            "that writes them (export.statistics: true)"
        )
    return read_document(
        path,
        TrainingStatistics,
        what="training statistics",
        version_key="schema_version",
        current=SCHEMA_VERSION,
        error=StatisticsError,
        fix="republish the model with this kerasforge",
    )


def _text_template(words: np.ndarray, bins: int, vocabulary: Sequence[str] | None) -> TextSummary:
    counted = Counter(w for row in words for w in row)
    top = [w for w, _ in counted.most_common(TOP_WORDS)]
    lengths = np.array([len(row) for row in words], "float64")
    return TextSummary(
        length=summarize_numeric(lengths[:0], quantile_edges(lengths, bins)),
        tokens=summarize_categories(np.array([], str), top),
        token_count=0,
        oov_count=0,
    )


def _summarize_text(words: np.ndarray, like: Any, vocabulary: set[str] | None) -> TextSummary:
    flat = [w for row in words for w in row]
    lengths = np.array([len(row) for row in words], "float64")
    oov = sum(w not in vocabulary for w in flat) if vocabulary else 0
    return TextSummary(
        length=summarize_numeric(lengths, like.length.edges),
        tokens=summarize_categories(np.array(flat, dtype=str), like.tokens.categories),
        token_count=len(flat),
        oov_count=oov,
    )


def vocabulary_set(vocabulary: Sequence[str] | None) -> set[str] | None:
    """The words the model knows (Keras' padding ``""`` and ``[UNK]`` are not words)."""
    if not vocabulary:
        return None
    return {w for w in vocabulary if w and w != "[UNK]"}
