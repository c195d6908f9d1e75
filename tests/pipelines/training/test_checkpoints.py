"""The best checkpoint, written sparingly, holds the best epoch's weights (across a restart too)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasforge.pipelines.training.callbacks import BestCheckpoint
from kerasforge.pipelines.training.resume import (
    ResumeCheckpoint,
    ResumeState,
    load_state,
    restore_model,
)

pytestmark = pytest.mark.heavy  # each case fits a tiny model for a few epochs

X = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
Y = (X[:, 0] > 0).astype("int64")


class Scores(keras.callbacks.Callback):
    """Put a given ``score`` per epoch in the logs, and keep each epoch's weights."""

    def __init__(self, scores: dict[int, float]) -> None:
        super().__init__()
        self.scores = scores
        self.weights: dict[int, list[np.ndarray]] = {}

    def on_epoch_end(self, epoch, logs=None):
        logs["score"] = self.scores[epoch]
        self.weights[epoch] = self.model.get_weights()


class Crash(keras.callbacks.Callback):
    """Fail at the start of ``epoch``, as a killed process would stop (no ``on_train_end``)."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("killed")


def _model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    return model


def _saved(path) -> list[np.ndarray]:
    return keras.saving.load_model(path, compile=False).get_weights()


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("interval", [0.0, 3600.0])
def test_the_best_checkpoint_holds_the_best_epoch_written_at_once_or_at_the_end(tmp_path, interval):
    model = _model(0)
    scores = Scores({0: 3.0, 1: 1.0, 2: float("nan"), 3: 2.0})
    best = BestCheckpoint(tmp_path / "best.keras", "score", "min", interval=interval)
    model.fit(X, Y, epochs=4, batch_size=8, callbacks=[scores, best], verbose=0)
    assert (best.best, best.best_epoch, best.best_unwritten) == (1.0, 1, False)
    _same(_saved(tmp_path / "best.keras"), scores.weights[1])
    _same(model.get_weights(), scores.weights[3])  # the save did not leave epoch 1's weights in


def test_an_unwritten_best_survives_a_crash_and_is_written_when_the_resumed_run_ends(tmp_path):
    folder, path = tmp_path / "resume", tmp_path / "best.keras"
    scores = {0: 3.0, 1: 1.0, 2: 2.0, 3: 2.5}
    first, seen = _model(0), Scores(scores)
    best = BestCheckpoint(path, "score", "min", interval=3600.0)  # bests kept, not written
    saver = ResumeCheckpoint(folder, ResumeState(run_dir=str(tmp_path)), [best])
    with pytest.raises(RuntimeError, match="killed"):
        first.fit(X, Y, epochs=4, batch_size=8, callbacks=[seen, best, saver, Crash(2)], verbose=0)
    saver.flush()  # the write in flight when the process died had completed
    assert not path.exists(), "within the interval, a best is written at the end of training"

    state = load_state(folder)
    assert state.epochs_done == 2 and state.callbacks["BestCheckpoint"]["best_unwritten"]
    second = _model(1)
    assert restore_model(second, folder, state)
    best = BestCheckpoint(path, "score", "min", interval=3600.0)
    saver = ResumeCheckpoint(folder, state, [best])
    second.fit(
        X,
        Y,
        initial_epoch=2,
        epochs=4,
        batch_size=8,
        callbacks=[Scores(scores), best, saver],
        verbose=0,
    )
    _same(_saved(path), seen.weights[1])
