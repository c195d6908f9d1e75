"""Text on the edge, in NumPy: texts in, token ids out, as the graph's tokeniser makes them.

A text model's ``.tflite`` takes token ids (its string ops would need the
Flex delegate, which the pip LiteRT runtimes lack: ``serving/export/text.py``), and
its card holds what the edge needs to tokenise exactly as the graph does:

- a text classifier's ``preprocessing.tokenizer`` (a ``TextVectorization``
  vocabulary): :class:`Tokenizer` applies Keras' rules: ASCII lowercase
  (``tf.strings.lower``), Keras' punctuation removed, split on runs of ASCII
  whitespace, each word's index in the vocabulary (1 for unknown words), cut
  or padded with 0 to the sequence length;
- a sequence-to-sequence card's ``data.seq2seq`` (``tokens``: the string of
  each id: pad, unknown, start, end, then the characters; ``end_id``; the
  lengths): :class:`CharacterTokenizer` does what the graph's
  ``CharTokenizer`` does, and :func:`decode_ids` turns the ``.tflite``'s
  output ids back into strings.

:func:`tokenizer_for` picks the one a card describes; :func:`load_text` reads
a ``.txt`` input, one text per line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .inputs import EdgeError

if TYPE_CHECKING:
    from ..card import ModelCard

STRIP = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
"""Keras' ``TextVectorization`` punctuation (``lower_and_strip_punctuation``)."""
WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
UNKNOWN_ID = 1
"""The id of an unknown word or character in both tokenisers (0 pads)."""


class Tokenizer:
    """A text classifier's tokeniser: ``tokenizer(texts) -> [N, sequence_length]`` int64 ids."""

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
            words = self.words(_text(text))[: self.sequence_length]
            ids[row, : len(words)] = [self.index.get(w, self.unknown_id) for w in words]
        return ids


class CharacterTokenizer:
    """A sequence-to-sequence model's tokeniser (the graph's ``CharTokenizer``):
    ``tokenizer(texts) -> [N, length]`` int32 ids, one per character (1 when unknown),
    cut to ``length``, padded with 0."""

    def __init__(self, tokens: Sequence[str], length: int) -> None:
        self.index = {token: i for i, token in enumerate(tokens) if i > UNKNOWN_ID}
        self.length = int(length)

    @classmethod
    def from_facts(cls, facts: dict[str, Any] | None) -> CharacterTokenizer | None:
        """From ``data.seq2seq`` of a card; ``None`` when there is none."""
        if not facts:
            return None
        return cls(facts["tokens"], facts["source_length"])

    def __call__(self, texts: Sequence[Any]) -> np.ndarray:
        ids = np.zeros((len(texts), self.length), dtype="int32")
        for row, text in enumerate(texts):
            chars = [self.index.get(c, UNKNOWN_ID) for c in _text(text)][: self.length]
            ids[row, : len(chars)] = chars
        return ids


def tokenizer_for(card: ModelCard | None) -> Tokenizer | CharacterTokenizer | None:
    """The tokeniser a card describes (text classifier or sequence to sequence), else ``None``."""
    if card is None:
        return None
    return Tokenizer.from_facts(card.preprocessing.get("tokenizer")) or (
        CharacterTokenizer.from_facts(card.data.get("seq2seq"))
    )


def encode_sources(texts: Sequence[Any], tokens: Sequence[str], length: int) -> np.ndarray:
    """Source strings -> ids ``[N, length]`` (int32), as :class:`CharacterTokenizer`."""
    return CharacterTokenizer(tokens, length)(texts)


def encode_texts(
    texts: Sequence[Any], tokens: Sequence[str], length: int, end_id: int
) -> np.ndarray:
    """Target strings -> ids ``[N, length]`` (int32): characters, the end id, then pads (0).

    Characters not in ``tokens`` become the unknown id (1); a string too long is cut
    so that its end id still fits.
    """
    ids = CharacterTokenizer(tokens, length - 1)(texts)
    ends = (ids != 0).sum(axis=1)
    ids = np.concatenate([ids, np.zeros((len(ids), 1), dtype="int32")], axis=1)
    ids[np.arange(len(ids)), ends] = end_id
    return ids


def decode_ids(ids: np.ndarray, tokens: Sequence[str], end_id: int) -> list[str]:
    """Ids ``[N, T]`` -> one string per row: its characters up to the first end id."""
    texts = []
    for row in np.asarray(ids).reshape(len(ids), -1):
        chars = []
        for i in row.tolist():
            if i == end_id:
                break
            if UNKNOWN_ID < i < len(tokens):  # pads and unknowns print nothing
                chars.append(tokens[i])
        texts.append("".join(chars))
    return texts


def exact_match(token_ids: np.ndarray, target_ids: np.ndarray) -> float:
    """Share of rows whose decoded ids equal the target ids up to (and with) the end id."""
    token_ids, target_ids = np.asarray(token_ids), np.asarray(target_ids)
    steps = min(token_ids.shape[1], target_ids.shape[1])
    kept = target_ids[:, :steps] != 0
    same = (token_ids[:, :steps] == target_ids[:, :steps]) | ~kept
    return float(np.mean(same.all(axis=1)))


def load_text(path: Path) -> np.ndarray:
    """A UTF-8 ``.txt`` file as a batch of ``[N]`` strings: one text per non-blank line,
    stripped of surrounding whitespace."""
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError as exc:
        raise EdgeError(f"input {str(path)!r} is not UTF-8 text: {exc}") from None
    texts = [line for line in lines if line]
    if not texts:
        raise EdgeError(f"input {str(path)!r} holds no texts: write one text per line")
    return np.asarray(texts, dtype=object)


def _text(text: Any) -> str:
    return text.decode("utf-8", errors="replace") if isinstance(text, bytes) else str(text)
