"""Training callbacks owned by kerasforge: learning-rate logging, NaN guard, best checkpoint, logs.

Order matters: :class:`LearningRateLogger` goes first so that every later
callback (CSV log, TensorBoard, MLflow) sees ``learning_rate`` in the epoch's
logs.

:class:`NanGuard`'s batch hook costs next to nothing on TensorFlow: there Keras
never dispatches batch hooks asynchronously (its TensorFlow backend is not marked
thread-safe), and ``fit`` reads every batch's logs into Python floats with or
without a batch hook.
"""

from __future__ import annotations

import math
import operator
import time
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


class BestCheckpoint(keras.callbacks.Callback):
    """The best epoch's model (on ``monitor``) as a ``.keras`` file, written sparingly.

    Keras' ``ModelCheckpoint(save_best_only=True)`` saves the whole model at every
    improvement: 80 to 200 ms on the training thread for the default CNN (Keras'
    saving walks every layer), against a 0.35 s epoch, and most early epochs improve.
    This one writes an improvement at once only if ``interval`` seconds have passed
    since training began or since its last write; otherwise it keeps a copy of the
    weights (about 1 ms) and writes them at the end of training, so a short run
    writes once and the file always ends with the best epoch's weights (only the
    optimizer state in it may be a later epoch's). A NaN/Inf or
    missing monitored value is never an improvement. ``best``, ``best_epoch`` and
    ``best_unwritten`` survive a restart (``training.resume``), which also keeps
    ``best_weights`` for an unwritten best.
    """

    def __init__(self, path: Path, monitor: str, mode: str, interval: float = 60.0) -> None:
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self.interval = interval
        self._better = operator.lt if mode == "min" else operator.gt
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = -1
        self.best_unwritten = False
        self.best_weights: list | None = None
        self._written_at = -math.inf

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._written_at = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        current = (logs or {}).get(self.monitor)
        if current is None or not math.isfinite(float(current)):
            return
        if not self._better(float(current), self.best):
            return
        self.best, self.best_epoch = float(current), epoch
        if time.monotonic() - self._written_at >= self.interval:
            self._write(None)  # the model holds this epoch's weights now
        else:
            self.best_weights, self.best_unwritten = self.model.get_weights(), True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.best_unwritten and self.best_weights is not None:
            self._write(self.best_weights)

    def _write(self, weights: list | None) -> None:
        """Save the model, with ``weights`` swapped in for the save when given."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if weights is None:
            self.model.save(self.path)
        else:
            current = self.model.get_weights()
            self.model.set_weights(weights)
            try:
                self.model.save(self.path)
            finally:
                self.model.set_weights(current)
        self.best_weights, self.best_unwritten = None, False
        self._written_at = time.monotonic()


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
