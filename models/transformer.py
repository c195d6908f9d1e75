"""Transformer encoder classifier: token ids in, class probabilities out.

Token and positional embeddings, ``num_blocks`` encoder blocks (multi-head
self-attention and a feed-forward net, each with a residual connection and
layer normalisation), a mean over the real tokens and a softmax head. Token id
0 is padding and is masked out of attention and pooling
(``models/transformer_layers.py``). The classification task puts the
tokeniser (``TextVectorization`` fitted on the training split) in front, so
the trained and exported model takes raw strings.
"""

from __future__ import annotations

from .lazy import keras, layers
from .registry import register_model


def _check(num_classes: int, vocab_size: int, sequence_length: int, embed_dim: int,
           num_heads: int, num_blocks: int, dropout: float) -> None:  # fmt: skip
    problems = []
    if num_classes < 2:
        problems.append(f"num_classes must be at least 2; got {num_classes!r}")
    if vocab_size < 3:
        problems.append(f"vocab_size must be at least 3 (padding, unknown, words): {vocab_size}")
    if sequence_length < 1 or num_blocks < 1:
        problems.append(
            f"sequence_length and num_blocks must be positive; got {sequence_length}, {num_blocks}"
        )
    if num_heads < 1 or embed_dim % num_heads:
        problems.append(
            f"embed_dim must be a multiple of num_heads; got {embed_dim!r} and {num_heads!r}"
        )
    if not 0.0 <= dropout < 1.0:
        problems.append(f"dropout must be in [0, 1); got {dropout!r}")
    if problems:
        raise ValueError("; ".join(problems))


@register_model(
    kind="classifier",
    example_input=(),
    input_dtype="string",
    tiny={"vocab_size": 50, "sequence_length": 8, "embed_dim": 8, "num_heads": 2, "ff_dim": 16},
)
def transformer_classifier(
    num_classes: int = 2,
    vocab_size: int = 2000,
    sequence_length: int = 32,
    embed_dim: int = 64,
    num_heads: int = 4,
    ff_dim: int = 128,
    num_blocks: int = 2,
    dropout: float = 0.1,
) -> keras.Model:
    """Transformer encoder over token ids (0: padding) with a softmax head.

    The raw input is text (``example_input`` ``()``, dtype ``string``): the
    classification task tokenises it in the graph into ``sequence_length`` ids
    from a vocabulary of ``vocab_size`` (padding and unknown included).
    """
    from .transformer_layers import (
        MaskedMeanPooling,
        TokenAndPositionEmbedding,
        TransformerBlock,
        padding_mask,
    )

    _check(num_classes, vocab_size, sequence_length, embed_dim, num_heads, num_blocks, dropout)
    token_ids = keras.Input(shape=(sequence_length,), dtype="int64", name="token_ids")
    mask = padding_mask(token_ids)
    x = TokenAndPositionEmbedding(vocab_size, sequence_length, embed_dim, name="embedding")(
        token_ids
    )
    for i in range(1, num_blocks + 1):
        x = TransformerBlock(embed_dim, num_heads, ff_dim, dropout, name=f"block{i}")(x, mask)
    x = MaskedMeanPooling(name="pool")(x, mask)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(token_ids, outputs, name="transformer_classifier")
