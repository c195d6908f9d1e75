"""The Transformer classifier: padding is masked out, arguments are checked."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge import models

TINY = {"vocab_size": 20, "sequence_length": 6, "embed_dim": 8, "num_heads": 2, "ff_dim": 16}
IDS = np.array([[5, 3, 9, 0, 0, 0], [4, 4, 7, 2, 11, 0], [8, 0, 0, 0, 0, 0]], "int64")


def test_what_the_embedding_holds_for_padding_cannot_change_the_output():
    model = models.build_model("transformer_classifier", num_classes=3, num_blocks=2, **TINY)
    before = model.predict(IDS, verbose=0)
    embedding = model.get_layer("embedding")
    tokens, positions = embedding.tokens.embeddings, embedding.positions.embeddings
    rng = np.random.default_rng(0)
    token_table = tokens.numpy()
    token_table[0] = rng.normal(size=token_table.shape[1]) * 10  # the padding token's vector
    tokens.assign(token_table)
    position_table = positions.numpy()
    position_table[5] = rng.normal(size=position_table.shape[1]) * 10  # only ever padding here
    positions.assign(position_table)
    np.testing.assert_allclose(model.predict(IDS, verbose=0), before, rtol=1e-5, atol=1e-6)
    real = token_table.copy()
    real[5] += 1.0  # a real token's vector does matter
    tokens.assign(real)
    assert not np.allclose(model.predict(IDS, verbose=0)[0], before[0], atol=1e-4)


def test_a_block_ignores_padded_keys():
    from kerasforge.models.transformer_layers import MaskedMeanPooling, TransformerBlock

    block = TransformerBlock(8, 2, 16, 0.0, name="block")
    pool = MaskedMeanPooling(name="pool")
    mask = IDS != 0
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 6, 8)).astype("float32")
    noisy = np.where(mask[..., None], x, rng.normal(size=x.shape) * 100).astype("float32")
    out, out_noisy = block(x, mask), block(noisy, mask)
    np.testing.assert_allclose(
        np.asarray(out)[mask], np.asarray(out_noisy)[mask], rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(pool(out, mask), pool(out_noisy, mask), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"embed_dim": 10, "num_heads": 4}, "embed_dim must be a multiple of num_heads"),
        ({"vocab_size": 2}, "vocab_size must be at least 3"),
        ({"num_classes": 1}, "num_classes must be at least 2; got 1"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\); got 1.0"),
    ],
)
def test_bad_arguments_are_rejected_with_the_received_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.build_model("transformer_classifier", **kwargs)
