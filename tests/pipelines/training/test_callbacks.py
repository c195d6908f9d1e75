"""The learning rate in an epoch's logs is the one that epoch trained with (real Keras fits)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.training.callbacks import LearningRateLogger, plateau_callback
from kerasforge.pipelines.training.schedules import build_schedule

pytestmark = pytest.mark.heavy  # each case fits a tiny model for a few epochs

STEPS = 3  # optimizer steps per epoch: 12 examples in batches of 4
EPOCHS = 4


class RatesSeen(keras.callbacks.Callback):
    """The rate each optimizer step runs with, read before the step, grouped by epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.by_epoch: list[list[float]] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.by_epoch.append([])

    def on_train_batch_begin(self, batch, logs=None):
        rate = keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        self.by_epoch[-1].append(float(rate))


def fit(learning_rate, extra: list | None = None) -> tuple[list[float], RatesSeen]:
    """Fit a one-unit model for ``EPOCHS``; the logged rates and the rates steps ran with."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3)).astype("float32")
    y = rng.normal(size=(12, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    seen = RatesSeen()
    history = model.fit(
        x,
        y,
        batch_size=12 // STEPS,
        epochs=EPOCHS,
        validation_data=(x, y),
        shuffle=False,
        verbose=0,
        callbacks=[LearningRateLogger(), seen, *(extra or [])],
    )
    return history.history["learning_rate"], seen


def schedule(*overrides: str):
    cfg = load_config(None, [f"train.epochs={EPOCHS}", *overrides]).train
    return build_schedule(cfg.schedule, cfg.learning_rate, cfg.epochs, STEPS)


def test_a_step_decay_is_logged_in_the_epoch_it_applies_to():
    logged, seen = fit(schedule("train.schedule.name=step", "train.schedule.decay_epochs=2"))
    # Every step of an epoch runs at one rate, and that rate is the one logged.
    assert all(len(set(steps)) == 1 for steps in seen.by_epoch)
    assert logged == pytest.approx([steps[0] for steps in seen.by_epoch])
    assert logged[0] == logged[1] > logged[2] == logged[3], "the drop comes after epoch 2"


def test_a_cosine_s_last_epoch_logs_the_rate_it_trained_with_not_zero():
    logged, seen = fit(schedule("train.schedule.name=cosine"))
    assert logged == pytest.approx([steps[-1] for steps in seen.by_epoch])
    assert logged[-1] > 0.0, "the last epoch's steps ran at a rate above 0"
    assert logged == sorted(logged, reverse=True)


def test_a_rate_lowered_on_plateau_is_logged_from_the_epoch_after():
    cfg = load_config(
        None,
        [
            "train.reduce_on_plateau.enabled=true",
            "train.reduce_on_plateau.patience=0",
        ],
    )
    # A rate too high for SGD on this data: val_loss grows, so every epoch end lowers it.
    logged, seen = fit(2.0, plateau_callback(cfg, "min"))
    assert logged == pytest.approx([steps[0] for steps in seen.by_epoch])
    assert logged[0] > logged[-1]
