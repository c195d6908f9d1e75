"""Learning-rate schedules from ``train.schedule``, counted in optimizer steps.

Every schedule is a Keras ``LearningRateSchedule`` of the optimizer's step
counter (``optimizer.iterations``), so a resumed run, whose optimizer state
is restored, continues at the same position of its schedule.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import keras
from keras import ops

if TYPE_CHECKING:
    from ..config.experiment import ScheduleConfig


@keras.saving.register_keras_serializable(package="kerasforge")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``initial * rate ** floor(step / decay_steps)``: a staircase."""

    def __init__(self, initial: float, decay_steps: int, rate: float) -> None:
        self.initial = float(initial)
        self.decay_steps = int(decay_steps)
        self.rate = float(rate)

    def __call__(self, step: Any) -> Any:
        drops = ops.floor(ops.cast(step, "float32") / float(self.decay_steps))
        return self.initial * ops.power(self.rate, drops)

    def get_config(self) -> dict[str, Any]:
        return {"initial": self.initial, "decay_steps": self.decay_steps, "rate": self.rate}


@keras.saving.register_keras_serializable(package="kerasforge")
class WarmUp(keras.optimizers.schedules.LearningRateSchedule):
    """Linear ramp from 0 to ``after(0)`` over ``warmup_steps``, then ``after`` (shifted)."""

    def __init__(self, after: Any, warmup_steps: int) -> None:
        self.after = after
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step: Any) -> Any:
        step = ops.cast(step, "float32")
        warm = float(self.warmup_steps)
        target = ops.cast(self.after(ops.maximum(step - warm, 0.0)), "float32")
        ramp = target * (step + 1.0) / warm
        return ops.where(step < warm, ramp, target)

    def get_config(self) -> dict[str, Any]:
        return {
            "after": keras.optimizers.schedules.serialize(self.after),
            "warmup_steps": self.warmup_steps,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> WarmUp:
        after = keras.optimizers.schedules.deserialize(config["after"])
        return cls(after, config["warmup_steps"])


@keras.saving.register_keras_serializable(package="kerasforge")
class Constant(keras.optimizers.schedules.LearningRateSchedule):
    """A constant learning rate, as a schedule (what a warm-up leads to)."""

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def __call__(self, step: Any) -> Any:
        return ops.cast(self.value, "float32") + 0.0 * ops.cast(step, "float32")

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


def build_schedule(
    cfg: ScheduleConfig, learning_rate: float, epochs: int, steps_per_epoch: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The learning rate the optimizer gets: a float for ``constant``, else a schedule.

    Args:
        cfg: ``train.schedule``.
        learning_rate: the peak (initial) learning rate.
        epochs: ``train.epochs``; the default length of a cosine.
        steps_per_epoch: optimizer steps in one epoch.
    """
    warmup = round(cfg.warmup_epochs * steps_per_epoch)
    decay_epochs = cfg.decay_epochs or max(epochs - cfg.warmup_epochs, 1.0)
    decay = max(1, round(decay_epochs * steps_per_epoch))
    schedules = keras.optimizers.schedules
    after: Any
    if cfg.name == "constant":
        if not warmup:
            return learning_rate
        after = Constant(learning_rate)
    elif cfg.name == "step":
        after = StepDecay(learning_rate, decay, cfg.decay_rate)
    elif cfg.name == "exponential":
        after = schedules.ExponentialDecay(learning_rate, decay, cfg.decay_rate)
    elif cfg.name == "cosine":
        after = schedules.CosineDecay(learning_rate, decay, alpha=cfg.min_fraction)
    else:
        after = schedules.CosineDecayRestarts(
            learning_rate, decay, t_mul=cfg.restart_multiplier, alpha=cfg.min_fraction
        )
    return WarmUp(after, warmup) if warmup else after


def learning_rate_at(value: Any, step: int) -> float:
    """The learning rate ``value`` (float or schedule) gives at optimizer step ``step``."""
    if callable(value):
        return float(ops.convert_to_numpy(value(step)))
    return float(value)


def trained_rate(optimizer: keras.optimizers.Optimizer) -> float:
    """The learning rate of ``optimizer``'s last step: what the epoch just ended trained with.

    ``optimizer.learning_rate`` evaluates a schedule at ``optimizer.iterations``,
    the step about to run: read at the end of an epoch it is the next epoch's
    rate (a step decay shows one epoch early, a cosine's last epoch shows its
    end value). A plain rate (a variable, which ReduceLROnPlateau lowers
    between epochs) is the one the epoch used.
    """
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # mixed precision
    # Keras keeps the schedule itself here; the public property only gives its value now.
    schedule = getattr(optimizer, "_learning_rate", None)
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        last_step = max(int(ops.convert_to_numpy(optimizer.iterations)) - 1, 0)
        return learning_rate_at(schedule, last_step)
    return float(ops.convert_to_numpy(optimizer.learning_rate))


def steps_for(examples: int, batch_size: int) -> int:
    """Optimizer steps in one epoch of ``examples``."""
    return max(1, math.ceil(examples / batch_size))
