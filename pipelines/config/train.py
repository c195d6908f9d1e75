"""The ``train`` section of an experiment config and its parts.

Optimiser and loss settings in :class:`TrainConfig`, with its learning-rate
schedule, ReduceLROnPlateau, run control (resume, logs, NaN guard) and scale
(distribution strategy, mixed precision, XLA) sub-sections.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from . import limits
from .rules import Fraction, Strict, complete


class ScheduleConfig(Strict):
    """Learning-rate schedule over the epochs (``pipelines/training/schedules.py``).

    ``constant`` keeps ``train.learning_rate``; ``step`` multiplies it by
    ``decay_rate`` every ``decay_epochs``; ``exponential`` decays it smoothly by
    ``decay_rate`` per ``decay_epochs``; ``cosine`` anneals it to
    ``min_fraction`` of itself over ``decay_epochs`` (default: all epochs after
    warm-up); ``cosine_restarts`` restarts the cosine after ``decay_epochs``,
    each period ``restart_multiplier`` times longer. ``warmup_epochs`` ramps
    linearly from 0 before any of them.
    """

    name: Literal["constant", "step", "exponential", "cosine", "cosine_restarts"] = "constant"
    warmup_epochs: Annotated[float, Field(ge=0.0, le=limits.MAX_EPOCHS)] = 0.0
    decay_epochs: Annotated[float, Field(gt=0.0, le=limits.MAX_EPOCHS)] | None = None
    decay_rate: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    min_fraction: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    restart_multiplier: Annotated[float, Field(ge=1.0, le=10.0)] = 2.0


class PlateauConfig(Strict):
    """ReduceLROnPlateau on ``train.monitor``; only with a constant schedule."""

    enabled: bool = False
    factor: Fraction = 0.5
    patience: Annotated[int, Field(ge=0, le=limits.MAX_PATIENCE)] = 3
    min_learning_rate: Annotated[float, Field(ge=0.0)] = 1e-6


class RunControlConfig(Strict):
    """Resume after a crash, logs, NaN guard and determinism (``pipelines/training/resume.py``)."""

    resume: bool = True
    """Started again with the same config, an unfinished run continues where it stopped."""
    csv_log: bool = True
    tensorboard: bool = False
    terminate_on_nan: bool = True
    deterministic: bool = False
    """Op determinism (``tf.config.experimental.enable_op_determinism``) on top of the seed."""


class ScaleConfig(Strict):
    """Distribution strategy, mixed precision and XLA (``pipelines/training/strategy.py``)."""

    strategy: Literal["default", "mirrored", "multi_worker", "tpu"] = "default"
    mixed_precision: Literal["off", "mixed_float16", "mixed_bfloat16"] = "off"
    force_mixed_precision: bool = False
    """Allow mixed precision without a GPU (it is slower on CPUs)."""
    jit_compile: Literal["auto"] | bool = "auto"
    """XLA: ``true``, ``false`` or ``auto`` (Keras decides per model)."""


class TrainConfig(Strict):
    """Optimisation and callbacks."""

    epochs: Annotated[int, Field(ge=1, le=limits.MAX_EPOCHS)] = 40
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    learning_rate: Annotated[float, Field(gt=0.0, le=limits.MAX_LEARNING_RATE)] = 3e-3
    early_stopping_patience: Annotated[int, Field(ge=0, le=limits.MAX_PATIENCE)] = 6
    monitor: str = "val_loss"
    """``val_loss`` or ``val_<metric>`` of the task (``val_accuracy``, ``val_r2``, ...)."""
    momentum: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    """SGD and RMSprop momentum."""
    nesterov: bool = False
    """Nesterov momentum (SGD with ``momentum`` > 0)."""
    beta_1: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.9
    beta_2: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.999
    weight_decay: Annotated[float, Field(ge=0.0, lt=1.0)] | None = None
    """Decoupled weight decay in the optimizer; unset: AdamW's 0.004, none for the others."""
    clipnorm: Annotated[float, Field(gt=0.0)] | None = None
    clipvalue: Annotated[float, Field(gt=0.0)] | None = None
    l2: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    """L2 penalty added to the loss for every kernel (Dense, Conv) of the model."""
    label_smoothing: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    reduce_on_plateau: PlateauConfig = Field(default_factory=PlateauConfig)
    control: RunControlConfig = Field(default_factory=RunControlConfig)
    scale: ScaleConfig = Field(default_factory=ScaleConfig)

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0.0):
            raise complete(
                f"train.nesterov: Nesterov momentum needs optimizer 'sgd' with momentum > 0; "
                f"received optimizer {self.optimizer!r} with momentum {self.momentum}"
            )
        if self.momentum and self.optimizer not in ("sgd", "rmsprop"):
            raise complete(
                f"train.momentum: only 'sgd' and 'rmsprop' take momentum; received optimizer "
                f"{self.optimizer!r} (Adam's momentum is beta_1)"
            )
        if self.clipnorm is not None and self.clipvalue is not None:
            raise complete("train.clipnorm and train.clipvalue: set one, not both")
        if self.reduce_on_plateau.enabled and self.schedule.name != "constant":
            raise complete(
                "train.reduce_on_plateau: ReduceLROnPlateau changes a constant learning rate; "
                f"received schedule {self.schedule.name!r}: disable one of them"
            )
        return self
