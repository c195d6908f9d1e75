"""Token ids <-> strings from the model card's facts alone (numpy; no TensorFlow).

A sequence-to-sequence card (``data.seq2seq``) lists ``tokens`` (the string of
each id: pad, unknown, start, end, then the characters), ``end_id`` and the
lengths. The exported graph decodes by itself; these helpers serve clients of
the ``.tflite`` (whose outputs are ids) and the parity report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def decode_ids(ids: np.ndarray, tokens: Sequence[str], end_id: int) -> list[str]:
    """Ids ``[N, T]`` -> one string per row: its characters up to the first end id."""
    texts = []
    for row in np.asarray(ids).reshape(len(ids), -1):
        chars = []
        for i in row.tolist():
            if i == end_id:
                break
            if i > 1 and i < len(tokens):  # pads and unknowns print nothing
                chars.append(tokens[i])
        texts.append("".join(chars))
    return texts


def encode_texts(
    texts: Sequence[Any], tokens: Sequence[str], length: int, end_id: int
) -> np.ndarray:
    """Strings -> ids ``[N, length]`` (int32): characters, the end id, then pads (0).

    Characters not in ``tokens`` become the unknown id (1); a string too long is cut
    so that its end id still fits.
    """
    index = {token: i for i, token in enumerate(tokens) if i > 1}
    ids = np.zeros((len(texts), length), dtype="int32")
    for row, text in enumerate(texts):
        chars = [index.get(c, 1) for c in str(text)][: length - 1]
        ids[row, : len(chars) + 1] = [*chars, end_id]
    return ids


def encode_sources(texts: Sequence[Any], tokens: Sequence[str], length: int) -> np.ndarray:
    """Source strings -> ids ``[N, length]`` (int32) as the graph's ``CharTokenizer`` makes
    them: one id per character (1 when unknown), cut to ``length``, padded with 0."""
    index = {token: i for i, token in enumerate(tokens) if i > 1}
    ids = np.zeros((len(texts), length), dtype="int32")
    for row, text in enumerate(texts):
        chars = [index.get(c, 1) for c in str(text)][:length]
        ids[row, : len(chars)] = chars
    return ids


def exact_match(token_ids: np.ndarray, target_ids: np.ndarray) -> float:
    """Share of rows whose decoded ids equal the target ids up to (and with) the end id."""
    token_ids, target_ids = np.asarray(token_ids), np.asarray(target_ids)
    steps = min(token_ids.shape[1], target_ids.shape[1])
    kept = target_ids[:, :steps] != 0
    same = (token_ids[:, :steps] == target_ids[:, :steps]) | ~kept
    return float(np.mean(same.all(axis=1)))
