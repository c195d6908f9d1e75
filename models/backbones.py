"""The ``transfer`` backbone inside a model: finding it, and which of its blocks train.

Shared by :mod:`kerasforge.models.transfer` (which builds it) and
:mod:`kerasforge.models.unfreeze` (the callback that unfreezes it during ``fit``).
"""

from __future__ import annotations

import re
from typing import Any

from .lazy import keras

BACKBONE_NAME = "backbone"
_BLOCK = re.compile(r"^(.*?block_?\d+[a-z]?)(?=_|$)")


def backbone_blocks(backbone: keras.Model) -> list[list[Any]]:
    """The backbone's blocks with weights, top (output side) first."""
    groups: list[tuple[str, list[Any]]] = []
    for layer in backbone.layers:
        match = _BLOCK.match(layer.name)
        key = match.group(1) if match else layer.name.split("_")[0]
        if groups and groups[-1][0] == key:
            groups[-1][1].append(layer)
        else:
            groups.append((key, [layer]))
    return [g for _, g in reversed(groups) if any(layer.weights for layer in g)]


def set_trainable_top(backbone: keras.Model, count: int) -> list[str]:
    """Make the top ``count`` blocks trainable and the rest frozen; the trainable layers' names.

    BatchNormalization layers stay frozen: a non-trainable Keras BatchNormalization
    runs in inference mode (its moving statistics never change), which a
    ``training=False`` call alone does not guarantee under an outer ``fit``.
    """
    top = [layer for block in backbone_blocks(backbone)[:count] for layer in block]
    backbone.trainable = count > 0
    for layer in backbone.layers:
        batch_norm = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = layer in top and not batch_norm
    return [layer.name for layer in top if layer.trainable_weights]


def find_backbone(model: keras.Model) -> keras.Model:
    """The ``transfer`` backbone nested (at any depth) in ``model``."""
    for layer in model.layers:
        if layer.name == BACKBONE_NAME:
            return layer
        if isinstance(layer, keras.Model):
            try:
                return find_backbone(layer)
            except LookupError:
                continue
    raise LookupError(f"no layer named {BACKBONE_NAME!r} in model {model.name!r}")
