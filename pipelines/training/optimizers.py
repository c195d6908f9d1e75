"""Optimizers from ``train``: SGD (momentum, Nesterov), Adam, AdamW, RMSprop; clipping."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import keras

from .schedules import build_schedule

if TYPE_CHECKING:
    from ..config.experiment import TrainConfig


def optimizer_arguments(cfg: TrainConfig) -> dict[str, Any]:
    """The keyword arguments of the optimizer class, besides the learning rate."""
    arguments: dict[str, Any] = {}
    if cfg.optimizer == "sgd":
        arguments.update(momentum=cfg.momentum, nesterov=cfg.nesterov)
    elif cfg.optimizer == "rmsprop":
        arguments.update(momentum=cfg.momentum)
    else:  # adam, adamw
        arguments.update(beta_1=cfg.beta_1, beta_2=cfg.beta_2)
    if cfg.weight_decay is not None:
        arguments["weight_decay"] = cfg.weight_decay
    if cfg.clipnorm is not None:
        arguments["clipnorm"] = cfg.clipnorm
    if cfg.clipvalue is not None:
        arguments["clipvalue"] = cfg.clipvalue
    return arguments


OPTIMIZER_CLASSES = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}


def build_optimizer(cfg: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The configured optimizer with its learning rate or schedule.

    Args:
        cfg: the ``train`` section.
        steps_per_epoch: optimizer steps per epoch (schedules count steps).
    """
    learning_rate = build_schedule(cfg.schedule, cfg.learning_rate, cfg.epochs, steps_per_epoch)
    return OPTIMIZER_CLASSES[cfg.optimizer](learning_rate=learning_rate, **optimizer_arguments(cfg))
