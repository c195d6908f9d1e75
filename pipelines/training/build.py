"""The model side of one training: the task's model from the registry, compiled.

:func:`build_task_model` builds the registered backbone within ``model.max_params``
and lets the task wrap it (preprocessing fitted on the training split, head);
:func:`compile_model` adds the optimizer, the task's loss and metrics, and L2.
"""

from __future__ import annotations

import keras

from ... import models
from ..augment.images import model_augmentation
from ..config.experiment import ExperimentConfig
from ..config.limits import build_within_limit
from ..data.types import Splits
from ..errors import ConfigError, clipped
from ..tasks.base import Task
from .optimizers import build_optimizer
from .regularize import add_l2, smoothed


def build_task_model(cfg: ExperimentConfig, task: Task, splits: Splits) -> keras.Model:
    """The registered backbone, wrapped by the task (preprocessing fitted on train, head).

    Raises:
        ConfigError: the builder refuses ``model.options``, or the backbone would
            have more than ``model.max_params`` parameters (refused before any
            weight is allocated).
    """
    entry = models.get_entry(cfg.model.name)
    _place_augmentation(cfg, task, splits)
    arguments = {**task.builder_arguments(entry, splits), **cfg.model.options}
    try:
        backbone = build_within_limit(
            lambda: models.build_model(cfg.model.name, **arguments),
            cfg.model.name,
            cfg.model.max_params,
        )
    except ValueError as exc:
        raise ConfigError(f"model.options: {clipped(str(exc), 300)}") from None
    return task.assemble(backbone, entry, splits.info, splits.x_train, splits.y_train)


def _place_augmentation(cfg: ExperimentConfig, task: Task, splits: Splits) -> None:
    """``data.augmentation.placement: model``: the augmentation layer goes to the task."""
    augmentation = cfg.data.augmentation
    if not augmentation.in_model:
        return
    if not task.takes_input_augmentation:
        raise ConfigError(
            f"data.augmentation.placement: model puts augmentation into the {task.name} "
            "model, which only the classification task builds; use placement: dataset"
        )
    channels = splits.input_shape[-1] if splits.info.inputs == "image" else None
    task.input_augmentation = model_augmentation(augmentation, seed=cfg.seed, channels=channels)


def compile_model(
    cfg: ExperimentConfig, task: Task, model: keras.Model, steps_per_epoch: int
) -> None:
    """Optimizer (schedule, clipping, weight decay), task loss (label smoothing), L2, XLA."""
    add_l2(model, cfg.train.l2)
    model.compile(
        optimizer=build_optimizer(cfg.train, steps_per_epoch),
        jit_compile=cfg.train.scale.jit_compile,
        **smoothed(
            task.compile_arguments(),
            cfg.train.label_smoothing,
            soft_labels=cfg.data.augmentation.mixes_labels,
        ),
    )
