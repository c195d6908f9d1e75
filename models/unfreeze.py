"""The callback behind ``transfer``'s ``fine_tune`` and ``gradual_unfreeze`` modes.

Imported on first use (it subclasses a Keras class), so listing the registry
loads no Keras.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from .backbones import find_backbone, set_trainable_top


def carry_optimizer(model: keras.Model) -> keras.optimizers.Optimizer:
    """A copy of ``model.optimizer`` built for the current trainable variables, state carried.

    A Keras optimizer is built for a fixed variable list; newly trainable weights
    need a new one. Its iteration count, learning rate and the moments of the
    variables that were already training are copied over (matched by name), so
    schedules and Adam's bias correction continue where they were.
    """
    old = model.optimizer
    new = old.__class__.from_config(old.get_config())
    new.build(model.trainable_variables)
    previous = {v.name: v for v in old.variables}
    for variable in new.variables:
        match = previous.get(variable.name)
        if match is not None and tuple(match.shape) == tuple(variable.shape):
            variable.assign(match)
    return new


class GradualUnfreeze(keras.callbacks.Callback):
    """Unfreezes the backbone's blocks from the top at given epochs, keeping the optimizer going.

    Args:
        trainable_blocks: blocks made trainable at each listed epoch.
        unfreeze_epochs: 0-based epochs at whose start more blocks unfreeze; empty
            for ``fine_tune`` (only the learning rate is applied).
        learning_rate: the rate once backbone blocks train; ``None`` keeps the current one.
    """

    def __init__(
        self, trainable_blocks: int, unfreeze_epochs: Sequence[int], learning_rate: float | None
    ) -> None:
        super().__init__()
        self.trainable_blocks = int(trainable_blocks)
        self.unfreeze_epochs = sorted(int(e) for e in unfreeze_epochs)
        self.learning_rate = learning_rate
        self.history: dict[int, list[str]] = {}
        """Epoch -> names of the backbone layers trainable during it."""

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self.unfreeze_epochs and self.learning_rate is not None:  # fine_tune
            self.model.optimizer.learning_rate = self.learning_rate

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        backbone = find_backbone(self.model)
        if epoch in self.unfreeze_epochs:
            steps = self.unfreeze_epochs.index(epoch) + 1
            set_trainable_top(backbone, steps * self.trainable_blocks)
            self.model.optimizer = carry_optimizer(self.model)
            if self.learning_rate is not None:
                self.model.optimizer.learning_rate = self.learning_rate
            self.model.make_train_function(force=True)  # retrace for the new trainable set
        self.history[epoch] = [w.path for w in backbone.trainable_weights]
