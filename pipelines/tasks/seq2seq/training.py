"""Sequence to sequence: a source string in, a target string out, character by character.

The vocabulary (every character of the training split's sources and targets,
plus start and end tokens) and the lengths (the longest training source; the
longest training target plus the end token) are fitted on the training split.
The model takes raw source strings (``CharTokenizer`` inside it) and, in
training, the target ids shifted right (teacher forcing). It is judged by
exact match: the whole greedily decoded string equal to the target, decoded
the way the exported graph decodes (``models.seq2seq.greedy_decoder``).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from ....serving.card import Headline, ModelCard
from ..base import Baseline, Task, TaskOptions
from .contract import CONTRACT

if TYPE_CHECKING:
    import keras

    from ....models.registry import ModelEntry
    from ....serving.export.tflite import ExportData
    from ...data.types import DataInfo, Splits

MARGIN = 0.05
"""Exact match a candidate must add to the most frequent training target's (5 points):
the whole-string metric is harsh (the plain encoder-decoder on dates scores 0.07 with a
token accuracy of 0.89), so the floor asks for a clear, not a large, gain."""


class Seq2SeqOptions(TaskOptions):
    """``max_source_length``: sources are cut to at most this many characters."""

    max_source_length: int = Field(default=64, ge=1, le=1024)


class Seq2Seq(Task):
    """Encoder-decoder over characters; judged by exact-match accuracy on the test split."""

    name = CONTRACT.name
    Options = Seq2SeqOptions
    inputs = CONTRACT.inputs
    targets = "text"
    headline = Headline(metric="exact_match", mode="max")
    metrics: ClassVar[dict[str, str]] = {"accuracy": "max"}
    options: Seq2SeqOptions

    def __init__(self, options: TaskOptions) -> None:
        super().__init__(options)
        self.vocabulary: list[str] = []
        self.source_length = 0
        self.target_length = 0

    def fit_vocabulary(self, x_train: np.ndarray, y_train: np.ndarray) -> None:
        """Vocabulary and lengths from the training split (the only place they come from)."""
        from ....models.chars import char_vocabulary

        self.vocabulary = char_vocabulary([*map(str, x_train), *map(str, y_train)])
        longest = max((len(str(s)) for s in x_train), default=1)
        self.source_length = min(longest, self.options.max_source_length)
        self.target_length = max((len(str(t)) for t in y_train), default=0) + 1

    def builder_arguments(self, entry: ModelEntry, splits: Splits) -> dict[str, Any]:
        """``input_shape``: ``(source_length,)``; ``num_classes``: the vocabulary's ids."""
        self.fit_vocabulary(splits.x_train, splits.y_train)
        available = {"input_shape": (self.source_length,), "num_classes": self.id_count}
        return {k: available[k] for k in entry.data_arguments()}

    @property
    def id_count(self) -> int:
        """Ids the model predicts over: pad, unknown and the vocabulary."""
        return len(self.vocabulary) + 2

    @property
    def tokens(self) -> list[str]:
        """The string of each id (pad, unknown, then the vocabulary)."""
        from ....models.chars import lookup_table

        return lookup_table(self.vocabulary)

    @property
    def start_id(self) -> int:
        from ....models.chars import START

        return self.tokens.index(START)

    @property
    def end_id(self) -> int:
        from ....models.chars import END

        return self.tokens.index(END)

    def target_ids(self, y: np.ndarray) -> np.ndarray:
        """Targets as ids ``[N, target_length]``: characters, the end token, then pads."""
        from ....serving.edge.text import encode_texts

        return encode_texts(y, self.tokens, self.target_length, self.end_id)

    def training_pairs(self, x: np.ndarray, y: np.ndarray) -> tuple[dict[str, np.ndarray], Any]:
        """``({"source": strings, "decoder_input": start + target ids}, target ids + end)``."""
        target = self.target_ids(y)
        start = np.full((len(y), 1), self.start_id, dtype="int32")
        decoder_input = np.concatenate([start, target[:, :-1]], axis=1)
        return {"source": np.asarray(x, dtype=object), "decoder_input": decoder_input}, target

    def predict_examples(self, model: keras.Model, x: np.ndarray, y: np.ndarray) -> Any:
        """The Keras model's inputs: source strings and teacher-forced decoder inputs."""
        return self.training_pairs(x, y)[0]

    def export_data(self, model: keras.Model, splits: Splits) -> ExportData:
        """Source strings, with the test targets as the ids the model decodes (the parity
        report's exact match compares ids)."""
        from ....serving.export.tflite import ExportData

        data = ExportData.from_splits(splits)
        return ExportData(data.representative, data.x_test, self.target_ids(splits.y_test))

    def assemble(
        self,
        backbone: keras.Model,
        entry: ModelEntry,
        info: DataInfo,
        x_train: np.ndarray,
        y_train: np.ndarray,
    ) -> keras.Model:
        import keras

        from ....models.chars import TOKENIZER_LAYER, CharTokenizer

        if not self.vocabulary:
            self.fit_vocabulary(x_train, y_train)
        source = keras.Input(shape=(), dtype="string", name="source")
        decoder_input = keras.Input(shape=(None,), dtype="int32", name="decoder_input")
        ids = CharTokenizer(self.vocabulary, self.source_length, name=TOKENIZER_LAYER)(source)
        probabilities = backbone({"source": ids, "decoder_input": decoder_input})
        inputs = {"source": source, "decoder_input": decoder_input}
        return keras.Model(inputs, probabilities, name=entry.name)

    def compile_arguments(self) -> dict[str, Any]:
        import keras

        loss = keras.losses.SparseCategoricalCrossentropy(ignore_class=0)
        return {"loss": loss, "metrics": [keras.metrics.SparseCategoricalAccuracy("accuracy")]}

    def card(self, architecture: str, info: DataInfo) -> ModelCard:
        card = super().card(architecture, info)
        facts = {
            "source_length": self.source_length,
            "output_length": self.target_length,
            "start_id": self.start_id,
            "end_id": self.end_id,
            "tokens": self.tokens,
        }
        return card.model_copy(update={"data": {**card.data, "seq2seq": facts}})

    def preprocessing_facts(self, info: DataInfo) -> dict[str, Any]:
        return {
            "tokenization": "characters (UTF-8) looked up in the training split's vocabulary "
            f"inside the model; sources cut or padded to {self.source_length} characters",
            "decoding": "greedy, inside the graph, until the end token or "
            f"{self.target_length} steps",
        }

    def report(self, model: keras.Model, splits: Splits, folder: Path) -> dict[str, float]:
        """Greedy decoding of the test split: exact match, a JSON report, an attention map."""
        from ...tracking import plots

        decoded, attention = decode(model, self.target_length, self.start_id, splits.x_test)
        truth = np.asarray([str(t) for t in splits.y_test])
        hits = exact_hits(decoded, splits.y_test)
        scores = {"test_exact_match": float(np.mean(hits))}
        folder.mkdir(parents=True, exist_ok=True)
        misses = [
            {"source": str(s), "expected": str(t), "decoded": str(d)}
            for s, t, d in zip(splits.x_test[~hits][:20], truth[~hits][:20], decoded[~hits][:20],
                               strict=True)
        ]  # fmt: skip
        (folder / "seq2seq_report.json").write_text(
            json.dumps({**scores, "misses": misses}, indent=2)
        )
        if attention is not None:
            source = str(splits.x_test[0])[: self.source_length]
            plots.attention_map(attention[0], source, decoded[0], folder / "attention.png")
        return scores

    def baseline(self, model: keras.Model, splits: Splits) -> Baseline:
        """The training split's most frequent target (the first seen among equals) decoded
        for every test source: its exact match, scored as ``report`` scores the model;
        margin ``MARGIN``."""
        counts = Counter(str(t) for t in splits.y_train)
        common = counts.most_common(1)[0][0] if counts else ""
        decoded = np.full(len(splits.y_test), common, dtype=object)
        return Baseline(
            "most frequent training target", exact_match(decoded, splits.y_test), MARGIN
        )


def exact_hits(decoded: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Whether each decoded string equals its target, whole: ``[N]`` booleans."""
    return np.asarray([str(d) for d in decoded]) == np.asarray([str(t) for t in targets])


def exact_match(decoded: np.ndarray, targets: np.ndarray) -> float:
    """The share of decoded strings equal to their targets (``test_exact_match``)."""
    return float(np.mean(exact_hits(decoded, targets)))


def decode(
    model: keras.Model, steps: int, start_id: int, sources: np.ndarray, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray | None]:
    """Greedy decoding as the exported graph does it: decoded strings ``[N]`` and attention
    weights ``[N, steps, source_length]`` (``None`` for a model without attention)."""
    import tensorflow as tf

    from ....models.seq2seq import has_attention, text_decoder

    run = text_decoder(model, steps, start_id)
    texts, weights = [], []
    for i in range(0, len(sources), batch_size):
        out = run(tf.constant(np.asarray(sources[i : i + batch_size], dtype=object)))
        texts.append(out["output"].numpy())
        weights.append(out["attention"].numpy())
    decoded = np.asarray([t.decode() for t in np.concatenate(texts)])
    return decoded, np.concatenate(weights) if has_attention(model) else None


TASK = Seq2Seq
