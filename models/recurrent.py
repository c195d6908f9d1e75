"""Recurrent backbones for sequences: ``simple_rnn``, ``lstm``, ``gru``.

Each takes ``[steps, features]`` sequences (a forecasting window, or one
sequence to classify) and returns the last layer's final state, a vector the
task puts its head on (linear forecasts, softmax probabilities). One family
builder stacks ``units`` recurrent blocks, each optionally bidirectional, with
input dropout and recurrent dropout; every block but the last returns its
whole sequence to the next. The variants differ only in the cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from .lazy import keras, layers
from .registry import register_model

Cell = Literal["simple_rnn", "lstm", "gru"]
_LAYERS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
KIND = "recurrent"
EXAMPLE_INPUT = (24, 1)
"""A window of 24 steps of one series."""
TINY = {"input_shape": (6, 2), "units": (4, 3)}


def recurrent_block(
    x: keras.KerasTensor,
    cell: Cell,
    units: int,
    *,
    return_sequences: bool,
    bidirectional: bool,
    dropout: float,
    recurrent_dropout: float,
    name: str,
) -> keras.KerasTensor:
    """One recurrent layer (``<name>_<cell>``), wrapped in ``<name>_bidirectional`` if asked."""
    layer = getattr(layers, _LAYERS[cell])(
        units,
        return_sequences=return_sequences,
        dropout=dropout,
        recurrent_dropout=recurrent_dropout,
        unroll=True,  # fixed steps: plain ops, so TFLite converts with its builtins
        name=f"{name}_{cell}",
    )
    if bidirectional:
        layer = layers.Bidirectional(layer, name=f"{name}_bidirectional")
    return layer(x)


def _check(
    input_shape: Sequence[int], units: Sequence[int], dropout: float, recurrent_dropout: float
) -> None:
    problems = []
    if len(input_shape) != 2 or any(int(d) < 1 for d in input_shape):
        problems.append(
            f"input_shape must be (steps, features), both >= 1; got {tuple(input_shape)!r}"
        )
    if not units or any(int(u) < 1 for u in units):
        problems.append(f"units must be a non-empty list of positive widths; got {list(units)!r}")
    for key, value in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
        if not 0.0 <= value < 1.0:
            problems.append(f"{key} must be in [0, 1); got {value!r}")
    if problems:
        raise ValueError("; ".join(problems))


def _recurrent(
    cell: Cell,
    input_shape: Sequence[int],
    units: Sequence[int],
    bidirectional: bool,
    dropout: float,
    recurrent_dropout: float,
) -> keras.Model:
    """The family builder: ``len(units)`` stacked blocks of ``cell``; the last state out."""
    _check(input_shape, units, dropout, recurrent_dropout)
    # --- layers / functional model
    inputs = keras.Input(shape=tuple(int(d) for d in input_shape), name="sequence")
    x = inputs
    for i, width in enumerate(units, start=1):
        x = recurrent_block(
            x,
            cell,
            int(width),
            return_sequences=i < len(units),
            bidirectional=bidirectional,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            name=f"block{i}",
        )
    return keras.Model(inputs, x, name=cell)


@register_model(kind=KIND, example_input=EXAMPLE_INPUT, tiny=TINY)
def simple_rnn(
    input_shape: tuple[int, int] = EXAMPLE_INPUT,
    units: tuple[int, ...] = (32,),
    bidirectional: bool = False,
    dropout: float = 0.0,
    recurrent_dropout: float = 0.0,
) -> keras.Model:
    """Stacked Elman RNN backbone (tanh cells); the final state out.

    Args:
        input_shape: ``(steps, features)``.
        units: one width per stacked layer, first to last.
        bidirectional: read each layer's input forwards and backwards (twice the width).
        dropout: dropout rate on each layer's inputs (0 = none).
        recurrent_dropout: dropout rate on the recurrent state (0 = none).
    """
    return _recurrent("simple_rnn", input_shape, units, bidirectional, dropout, recurrent_dropout)


@register_model(kind=KIND, example_input=EXAMPLE_INPUT, tiny=TINY)
def lstm(
    input_shape: tuple[int, int] = EXAMPLE_INPUT,
    units: tuple[int, ...] = (32,),
    bidirectional: bool = False,
    dropout: float = 0.0,
    recurrent_dropout: float = 0.0,
) -> keras.Model:
    """Stacked LSTM backbone (Hochreiter & Schmidhuber, 1997); the final state out.

    Args:
        input_shape: ``(steps, features)``.
        units: one width per stacked layer, first to last.
        bidirectional: read each layer's input forwards and backwards (twice the width).
        dropout: dropout rate on each layer's inputs (0 = none).
        recurrent_dropout: dropout rate on the recurrent state (0 = none).
    """
    return _recurrent("lstm", input_shape, units, bidirectional, dropout, recurrent_dropout)


@register_model(kind=KIND, example_input=EXAMPLE_INPUT, tiny=TINY)
def gru(
    input_shape: tuple[int, int] = EXAMPLE_INPUT,
    units: tuple[int, ...] = (32,),
    bidirectional: bool = False,
    dropout: float = 0.0,
    recurrent_dropout: float = 0.0,
) -> keras.Model:
    """Stacked GRU backbone (Cho et al., 2014); the final state out.

    Args:
        input_shape: ``(steps, features)``.
        units: one width per stacked layer, first to last.
        bidirectional: read each layer's input forwards and backwards (twice the width).
        dropout: dropout rate on each layer's inputs (0 = none).
        recurrent_dropout: dropout rate on the recurrent state (0 = none).
    """
    return _recurrent("gru", input_shape, units, bidirectional, dropout, recurrent_dropout)
