"""Run control on real training: resume after SIGKILL, NaN guard, determinism, logs."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.tracking.run import tracking_uri
from kerasforge.pipelines.training.callbacks import NanGuard, TrainingDiverged
from kerasforge.pipelines.training.resume import (
    VARIABLES_FILE,
    ResumeCheckpoint,
    ResumeError,
    ResumeState,
    _save_arrays,
    load_state,
    restore_model,
    variable_arrays,
)
from kerasforge.pipelines.training.train import train
from tests.conftest import CLI, ROOT

pytestmark = pytest.mark.heavy

DEFAULT = ROOT / "configs" / "digits_cnn.yaml"
EPOCHS = 4
TINY = [
    "model.options.filters=[4]",
    "model.options.dense_units=8",
    "data.batch_size=16",
    f"train.epochs={EPOCHS}",
    "train.early_stopping_patience=100",
    "train.schedule.name=cosine",
    "train.control.deterministic=true",
    "export.enabled=false",
]


def _cli(out: Path) -> list[str]:
    return [*CLI, "train", "--config", str(DEFAULT), "--set", *TINY, f"output_dir={out}"]


def _state_epochs(out: Path) -> int:
    states = list((out / "resume").glob("*/state.json"))
    if not states:
        return 0
    try:
        return json.loads(states[0].read_text())["epochs_done"]
    except (ValueError, KeyError):
        return 0  # caught between write and rename


def _history(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "history.csv").open() as f:
        return list(csv.DictReader(f))


def _run_dir(out: Path) -> Path:
    (run_dir,) = (out / "runs").iterdir()
    return run_dir


def _weights(run_dir: Path) -> list[np.ndarray]:
    return keras.saving.load_model(
        run_dir / "checkpoints" / "best.keras", compile=False
    ).get_weights()


def test_a_training_killed_with_sigkill_resumes_with_the_same_command(tmp_path):
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        _cli(killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 240
    while _state_epochs(killed) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the training was killed mid-run, not finished"
    epochs_at_kill = _state_epochs(killed)
    assert 2 <= epochs_at_kill < EPOCHS

    resumed = subprocess.run(_cli(killed), env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"Epoch {epochs_at_kill + 1}/{EPOCHS}" in resumed.stdout
    assert "Epoch 1/" not in resumed.stdout, "the resumed run does not start over"
    done = subprocess.run(_cli(straight), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]

    a, b = _run_dir(killed), _run_dir(straight)
    history_a, history_b = _history(a), _history(b)
    assert [r["epoch"] for r in history_a] == [str(e) for e in range(EPOCHS)]
    for row_a, row_b in zip(history_a, history_b, strict=True):
        for key in ("loss", "val_loss", "learning_rate"):
            # Op determinism on one CPU makes this bit-exact; allow float32 round-off.
            assert float(row_a[key]) == pytest.approx(float(row_b[key]), rel=1e-5, abs=1e-7)
    for wa, wb in zip(_weights(a), _weights(b), strict=True):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
    assert not list((killed / "resume").glob("*/state.json")), "a finished run leaves no state"

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri(None, killed))
    runs = client.search_runs(client.get_experiment_by_name("kerasforge").experiment_id)
    assert len(runs) == 1, "the resumed training continues the same MLflow run"
    run_id = runs[0].info.run_id
    assert runs[0].info.status == "FINISHED"
    steps = {m.step for m in client.get_metric_history(run_id, "learning_rate")}
    assert steps == set(range(EPOCHS)), "the learning rate is logged every epoch"


def test_same_config_twice_gives_identical_metrics_with_determinism(tmp_path):
    overrides = [*TINY, "train.epochs=2", "tracking.enabled=false"]
    first = train(load_config(DEFAULT, [*overrides, f"output_dir={tmp_path / 'a'}"]))
    second = train(load_config(DEFAULT, [*overrides, f"output_dir={tmp_path / 'b'}"]))
    assert first.test_metrics == second.test_metrics
    assert _history(first.run_dir) == _history(second.run_dir)
    for wa, wb in zip(first.model.get_weights(), second.model.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_a_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    bad = x.copy()
    bad[5, 2] = np.nan
    good_epoch = tf_batches(x, y)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    guard = NanGuard()
    best = keras.callbacks.ModelCheckpoint(str(tmp_path / "best.keras"), save_best_only=True)
    folder = tmp_path / "resume"
    state = ResumeState(run_dir=str(tmp_path))
    saver = ResumeCheckpoint(folder, state, [best])
    data = good_epoch.concatenate(tf_batches(bad, y)).concatenate(good_epoch)
    model.fit(
        data,
        epochs=3,
        steps_per_epoch=4,
        validation_data=good_epoch,
        callbacks=[guard, best, saver],
        verbose=0,
    )
    assert guard.where == (1, 0), "stopped at the first NaN batch (epoch 2, batch 1)"
    assert load_state(folder).epochs_done == 1, "the diverged epoch is not saved for resume"
    saved = keras.saving.load_model(tmp_path / "best.keras")
    assert all(np.isfinite(w).all() for w in saved.get_weights()), "last good checkpoint kept"
    with pytest.raises(TrainingDiverged, match=r"NaN or infinite at epoch 2, batch 1.*lower"):
        guard.check(tmp_path, 0.003)


def _dense(width: int) -> keras.Model:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(width), keras.layers.Dense(2)])
    model.compile(keras.optimizers.Adam(0.01), "mse")
    model.optimizer.build(model.trainable_variables)
    return model


def test_the_resume_state_restores_model_and_optimizer_variables_or_refuses_clearly(tmp_path):
    source = _dense(3)
    source.optimizer.iterations.assign(7)
    for variable in source.optimizer.variables[2:]:
        variable.assign(np.full(variable.shape, 0.5, "float32"))
    _save_arrays(tmp_path / VARIABLES_FILE, variable_arrays(source))
    state = ResumeState(run_dir=str(tmp_path), epochs_done=1)
    target = _dense(3)
    assert restore_model(target, tmp_path, state)
    assert int(target.optimizer.iterations) == 7, "the schedule's step counter comes back"
    for ours, theirs in zip(target.variables, source.variables, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    for ours, theirs in zip(target.optimizer.variables, source.optimizer.variables, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert not restore_model(_dense(3), tmp_path, ResumeState(run_dir=str(tmp_path)))
    expected = r"holds 4 model variables that do not fit this model's 4; delete"
    with pytest.raises(ResumeError, match=expected):
        restore_model(_dense(5), tmp_path, state)


def tf_batches(x: np.ndarray, y: np.ndarray):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


def test_csv_config_trains_with_warmup_smoothing_and_writes_tensorboard_logs(tmp_path):
    cfg = load_config(
        ROOT / "configs" / "wine_csv.yaml",
        [
            f"output_dir={tmp_path}",
            "train.epochs=4",
            "tracking.enabled=false",
            "export.enabled=false",
        ],
    )
    result = train(cfg)
    rates = [float(r["learning_rate"]) for r in _history(result.run_dir)]
    assert len(rates) == 4 and rates[0] < rates[1] < rates[2], "linear warm-up over 3 epochs"
    assert rates[3] < rates[2], "then cosine annealing"
    assert any((result.run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert result.test_metrics["test_accuracy"] > 0.5


def test_a_gan_s_discriminator_optimizer_state_is_resumed_too(tmp_path):
    from kerasforge.models import build_model

    def gan() -> keras.Model:
        model = build_model("dcgan", input_shape=(8, 8, 1), filters=[4], latent_dim=3)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        return model

    source = gan()
    source.fit(np.random.default_rng(0).uniform(0, 255, (16, 8, 8, 1)), epochs=1, verbose=0)
    arrays = variable_arrays(source)
    assert any(k.startswith("discriminator_optimizer_") for k in arrays)
    _save_arrays(tmp_path / VARIABLES_FILE, arrays)
    target = gan()
    assert restore_model(target, tmp_path, ResumeState(run_dir=str(tmp_path), epochs_done=1))
    theirs, ours = source.discriminator_optimizer, target.discriminator_optimizer
    assert int(ours.iterations) == int(theirs.iterations) > 0
    for a, b in zip(ours.variables, theirs.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
