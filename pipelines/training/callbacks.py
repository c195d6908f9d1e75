"""Training callbacks owned by kerasforge: learning-rate logging, NaN guard, logs.

Order matters: :class:`LearningRateLogger` goes first so that every later
callback (CSV log, TensorBoard, MLflow) sees ``learning_rate`` in the epoch's
logs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras

from ..errors import KerasforgeError
from .schedules import trained_rate

if TYPE_CHECKING:
    from ..config.experiment import ExperimentConfig

HISTORY_FILE = "history.csv"
TENSORBOARD_DIR = "tensorboard"


class TrainingDiverged(KerasforgeError):
    """The loss became NaN or infinite; training stopped with the last good checkpoint kept."""


class LearningRateLogger(keras.callbacks.Callback):
    """Put the learning rate the epoch trained with in every epoch's logs.

    That is the rate of the epoch's last optimizer step (see
    :func:`~.schedules.trained_rate`), not ``optimizer.learning_rate``, which at
    the end of an epoch already reads the next epoch's first step.
    """

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = trained_rate(self.model.optimizer)


class NanGuard(keras.callbacks.Callback):
    """Stop at the first batch whose loss is NaN or infinite, and remember where.

    Keras' ``TerminateOnNaN`` only prints; this one records the epoch and
    batch so the trainer can raise :class:`TrainingDiverged` with a clear
    message. Checkpoints skip the diverged epoch (their monitored value is
    NaN), so the last good ones stay.
    """

    def __init__(self) -> None:
        super().__init__()
        self.where: tuple[int, int] | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.where = (self._epoch, batch)
            self.model.stop_training = True

    def check(self, run_dir: Path, learning_rate: float) -> None:
        """Raise :class:`TrainingDiverged` if training stopped on a NaN loss."""
        if self.where is None:
            return
        epoch, batch = self.where
        raise TrainingDiverged(
            f"training diverged: the loss became NaN or infinite at epoch {epoch + 1}, batch "
            f"{batch + 1}; the last good checkpoints are kept in {run_dir / 'checkpoints'} and "
            f"running the same command again resumes from the last good epoch. Usual fixes: a "
            f"lower train.learning_rate (received {learning_rate}), train.clipnorm=1.0, or "
            f"checking the data for NaN/Inf"
        )


def logging_callbacks(cfg: ExperimentConfig, run_dir: Path, resumed: bool) -> list:
    """Learning-rate logger, CSV history and TensorBoard, as ``train.control`` asks."""
    control = cfg.train.control
    callbacks: list = [LearningRateLogger()]
    if control.csv_log:
        callbacks.append(keras.callbacks.CSVLogger(str(run_dir / HISTORY_FILE), append=resumed))
    if control.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / TENSORBOARD_DIR)))
    return callbacks


def plateau_callback(cfg: ExperimentConfig, mode: str) -> list:
    """ReduceLROnPlateau on ``train.monitor`` when enabled."""
    plateau = cfg.train.reduce_on_plateau
    if not plateau.enabled:
        return []
    return [
        keras.callbacks.ReduceLROnPlateau(
            monitor=cfg.train.monitor,
            mode=mode,
            factor=plateau.factor,
            patience=plateau.patience,
            min_lr=plateau.min_learning_rate,
        )
    ]
