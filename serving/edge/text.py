"""Text in, token ids out, in NumPy: what a text model's ``TextVectorization`` does in the graph.

A text model's ``.tflite`` takes token ids (its string ops would need the
Flex delegate, which the pip LiteRT runtimes lack: ``serving/text.py``); the
card's ``preprocessing.tokenizer`` holds the vocabulary and the rules, and
:class:`Tokenizer` applies them exactly as Keras does: ASCII lowercase
(``tf.strings.lower``), Keras' punctuation removed, split on runs of ASCII
whitespace, each word's index in the vocabulary (1 for unknown words), cut or
padded with 0 to the sequence length.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

STRIP = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
"""Keras' ``TextVectorization`` punctuation (``lower_and_strip_punctuation``)."""
WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class Tokenizer:
    """The card's tokeniser: ``tokenizer(texts) -> [N, sequence_length]`` int64 ids."""

    def __init__(self, vocabulary: Sequence[str], sequence_length: int, unknown_id: int = 1):
        self.index = {word: i for i, word in enumerate(vocabulary) if word}
        self.sequence_length = int(sequence_length)
        self.unknown_id = int(unknown_id)

    @classmethod
    def from_facts(cls, facts: dict[str, Any] | None) -> Tokenizer | None:
        """From ``preprocessing.tokenizer`` of a card; ``None`` when there is none."""
        if not facts:
            return None
        return cls(facts["vocabulary"], facts["sequence_length"], facts.get("unknown_id", 1))

    def words(self, text: str) -> list[str]:
        standard = STRIP.sub("", text.translate(ASCII_LOWER))
        return [w for w in WHITESPACE.split(standard) if w]

    def __call__(self, texts: Sequence[Any]) -> np.ndarray:
        ids = np.zeros((len(texts), self.sequence_length), "int64")
        for row, text in enumerate(texts):
            if isinstance(text, bytes):
                text = text.decode("utf-8", errors="replace")
            words = self.words(str(text))[: self.sequence_length]
            ids[row, : len(words)] = [self.index.get(w, self.unknown_id) for w in words]
        return ids


def load_text(path: Any) -> np.ndarray:
    """A ``.txt`` file as a batch: one example per non-blank line."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return np.array([line for line in lines if line], dtype=object)
