"""Encoder-decoder models over token ids: ``seq2seq_bahdanau``, ``seq2seq_luong``,
``seq2seq_plain``.

The encoder is a bidirectional GRU over the embedded source ids (``0`` pads);
its two final states, concatenated, start the decoder GRU. The decoder reads the
target ids shifted right (teacher forcing: ``decoder_input`` starts with the
start token) and, at every step, attends over the encoder outputs with its own
output as the query (the attention-after-the-RNN arrangement of Luong et al.
2015 and of TensorFlow's NMT tutorial): additive scores (Bahdanau et al. 2014)
or multiplicative ones (Luong's "general": ``q . W k``). Context and decoder
output go through a ``tanh`` layer, then a softmax over the vocabulary.
``seq2seq_plain`` has no attention: the decoder sees the source only through
its initial state, the baseline attention is measured against.

The backbone maps ``{"source": [N, S], "decoder_input": [N, T]}`` to
``probabilities`` ``[N, T, vocabulary]``; ``greedy_decoder`` reuses its layers
step by step (unrolled, so TFLite converts it with its builtins) and returns
``token_ids``, ``probabilities`` and ``attention`` ``[N, T, S]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from .lazy import keras, layers
from .registry import register_model

AttentionKind = Literal["bahdanau", "luong", "none"]
KIND = "encoder_decoder"
EXAMPLE_INPUT = (32,)
"""A source of 32 character ids."""
TINY = {"input_shape": (7,), "embedding_dim": 4, "units": 6}
PAD_ID = 0
ATTENTION_LAYER = "cross_attention"
"""The attention layer (not `attention`: Keras would take that for an automatic name)."""
SOURCE, DECODER_INPUT = "source", "decoder_input"


def _check(input_shape: Sequence[int], num_classes: int, embedding_dim: int, units: int) -> None:
    problems = []
    if len(input_shape) != 1 or int(input_shape[0]) < 1:
        problems.append(f"input_shape must be (source_length,); got {tuple(input_shape)!r}")
    if num_classes < 3:
        problems.append(f"num_classes (the vocabulary size) must be at least 3; got {num_classes}")
    if embedding_dim < 1:
        problems.append(f"embedding_dim must be >= 1; got {embedding_dim}")
    if units < 2 or units % 2:
        problems.append(f"units must be an even number >= 2 (two encoder directions); got {units}")
    if problems:
        raise ValueError("; ".join(problems))


def _attention_layers(kind: AttentionKind, units: int) -> dict[str, keras.layers.Layer]:
    if kind == "none":
        return {}
    found: dict[str, keras.layers.Layer] = {
        "context": layers.Dense(units, activation="tanh", name="attention_output"),
    }
    if kind == "bahdanau":
        found["attention"] = layers.AdditiveAttention(name=ATTENTION_LAYER)
    else:
        found["attention"] = layers.Attention(score_mode="dot", name=ATTENTION_LAYER)
        found["keys"] = layers.Dense(units, use_bias=False, name="attention_keys")
    return found


def _attend(
    named: dict[str, keras.layers.Layer],
    query: keras.KerasTensor,
    encoded: keras.KerasTensor,
    source_mask: keras.KerasTensor,
) -> tuple[keras.KerasTensor, keras.KerasTensor | None]:
    """Decoder outputs -> (tanh of [output, context], attention weights), or unchanged."""
    if "attention" not in named:
        return query, None
    keys = named["keys"](encoded) if "keys" in named else encoded
    context, weights = named["attention"](
        [query, encoded, keys], mask=[None, source_mask], return_attention_scores=True
    )
    return named["context"](keras.ops.concatenate([query, context], axis=-1)), weights


def _seq2seq(
    name: str,
    attention: AttentionKind,
    input_shape: Sequence[int],
    num_classes: int,
    embedding_dim: int,
    units: int,
) -> keras.Model:
    """The family builder: encoder, decoder, optional attention, softmax over the vocabulary."""
    _check(input_shape, num_classes, embedding_dim, units)
    # --- layers
    source = keras.Input(shape=(int(input_shape[0]),), dtype="int32", name=SOURCE)
    decoder_input = keras.Input(shape=(None,), dtype="int32", name=DECODER_INPUT)
    source_embedding = layers.Embedding(num_classes, embedding_dim, name="source_embedding")
    encoder = layers.Bidirectional(
        layers.GRU(units // 2, return_sequences=True, return_state=True, unroll=True,
                   name="encoder_gru"),
        name="encoder",
    )  # fmt: skip
    target_embedding = layers.Embedding(num_classes, embedding_dim, name="target_embedding")
    decoder = layers.GRU(units, return_sequences=True, return_state=True, name="decoder")
    named = _attention_layers(attention, units)
    output = layers.Dense(num_classes, activation="softmax", name="probabilities")
    # --- functional model
    encoded, forward, backward = encoder(source_embedding(source))
    state = layers.Concatenate(name="encoder_state")([forward, backward])
    decoded, _ = decoder(target_embedding(decoder_input), initial_state=state)
    mask = keras.ops.not_equal(source, PAD_ID)
    decoded, _ = _attend(named, decoded, encoded, mask)
    return keras.Model({SOURCE: source, DECODER_INPUT: decoder_input}, output(decoded), name=name)


def greedy_decoder(backbone: keras.Model, steps: int, start_id: int) -> keras.Model:
    """``source`` ids ``[N, S]`` -> ``token_ids`` ``[N, steps]``, ``probabilities``
    ``[N, steps, vocabulary]`` and ``attention`` ``[N, steps, S]`` (zeros without attention).

    Each step feeds the previous step's most likely id back (the first step the
    start id), through ``backbone``'s own layers; the loop is unrolled ``steps`` times.
    """
    from .seq2seq_layers import GreedyChoice

    get = backbone.get_layer
    named = {k: get(n) for k, n in (("attention", ATTENTION_LAYER), ("keys", "attention_keys"),
             ("context", "attention_output")) if _has_layer(backbone, n)}  # fmt: skip
    length = int(get(SOURCE).batch_shape[1])
    source = keras.Input(shape=(length,), dtype="int32", name=SOURCE)
    encoded, forward, backward = get("encoder")(get("source_embedding")(source))
    state = get("encoder_state")([forward, backward])
    mask = keras.ops.not_equal(source, PAD_ID)
    token = keras.ops.full_like(source[:, :1], start_id)
    cell, choose = get("decoder").cell, GreedyChoice(name="greedy_choice")
    ids, probabilities, weights = [], [], []
    for _ in range(steps):
        # The GRU's own cell, one step at a time: the same arithmetic as the layer, and
        # plain ops (no tensor lists), so TFLite converts it with its builtins.
        embedded = keras.ops.squeeze(get("target_embedding")(token), axis=1)
        output, states = cell(embedded, [state])
        state = states[0] if isinstance(states, list | tuple) else states
        decoded, attention = _attend(named, keras.ops.expand_dims(output, 1), encoded, mask)
        step = get("probabilities")(decoded)  # [N, 1, vocabulary]
        token = choose(step)
        ids.append(token)
        probabilities.append(step)
        weights.append(attention if attention is not None else keras.ops.zeros_like(
            keras.ops.cast(source[:, None, :], "float32")))  # fmt: skip
    outputs = {
        "token_ids": keras.ops.concatenate(ids, axis=1),
        "probabilities": keras.ops.concatenate(probabilities, axis=1),
        "attention": keras.ops.concatenate(weights, axis=1),
    }
    return keras.Model(source, outputs, name=f"{backbone.name}_greedy")


def text_decoder(model: keras.Model, steps: int, start_id: int) -> Callable[[Any], dict[str, Any]]:
    """Strings ``[N]`` -> ``output`` (decoded strings) and ``greedy_decoder``'s outputs.

    ``model`` is a trained task model: its ``tokenizer`` layer (``CharTokenizer``)
    followed by a backbone of this family.
    """
    import tensorflow as tf

    from .chars import TOKENIZER_LAYER, ids_to_text

    tokenizer = model.get_layer(TOKENIZER_LAYER)
    backbone = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    decoder = greedy_decoder(backbone, steps, start_id)
    # One traced function over ids of any batch size: the strings signature and the ids
    # signature share its graph (the unrolled loop is traced once per export), and eager
    # callers run the loop as a graph.
    ids = tf.TensorSpec((None, decoder.inputs[0].shape[1]), tf.int32, name=SOURCE)
    from_ids = tf.function(lambda x: decoder(x, training=False), input_signature=[ids])

    def decode(text: Any) -> dict[str, Any]:
        out = from_ids(tokenizer(text))
        return {"output": ids_to_text(out["token_ids"], tokenizer.vocabulary), **out}

    decode.decoder = from_ids  # type: ignore[attr-defined]  # ids in, for numeric signatures
    return decode


def has_attention(model: keras.Model) -> bool:
    """True when ``model`` (a backbone or a task model around one) attends."""
    return any(
        layer.name == ATTENTION_LAYER or (isinstance(layer, keras.Model) and has_attention(layer))
        for layer in model.layers
    )


def _has_layer(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


@register_model(kind=KIND, example_input=EXAMPLE_INPUT, input_dtype="int32", tiny=TINY)
def seq2seq_bahdanau(
    input_shape: Sequence[int] = EXAMPLE_INPUT,
    num_classes: int = 40,
    embedding_dim: int = 32,
    units: int = 128,
) -> keras.Model:
    """Encoder-decoder GRU with additive (Bahdanau) attention over the encoder outputs."""
    return _seq2seq("seq2seq_bahdanau", "bahdanau", input_shape, num_classes, embedding_dim, units)


@register_model(kind=KIND, example_input=EXAMPLE_INPUT, input_dtype="int32", tiny=TINY)
def seq2seq_luong(
    input_shape: Sequence[int] = EXAMPLE_INPUT,
    num_classes: int = 40,
    embedding_dim: int = 32,
    units: int = 128,
) -> keras.Model:
    """Encoder-decoder GRU with multiplicative (Luong "general") attention."""
    return _seq2seq("seq2seq_luong", "luong", input_shape, num_classes, embedding_dim, units)


@register_model(kind=KIND, example_input=EXAMPLE_INPUT, input_dtype="int32", tiny=TINY)
def seq2seq_plain(
    input_shape: Sequence[int] = EXAMPLE_INPUT,
    num_classes: int = 40,
    embedding_dim: int = 32,
    units: int = 128,
) -> keras.Model:
    """The same encoder-decoder GRU without attention (the baseline for the other two)."""
    return _seq2seq("seq2seq_plain", "none", input_shape, num_classes, embedding_dim, units)
