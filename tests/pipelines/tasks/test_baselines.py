"""Each task's trivial baseline on the test split, the release gate's floor.

For every task: the baseline's value is what its definition gives, computed here
another way (Keras metrics, the task's own scoring path, a model that makes the
trivial prediction), and a model that makes the trivial prediction does not beat
baseline + margin. Real data from the bundled sources, tiny untrained models.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from types import SimpleNamespace

import keras
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from kerasforge import models
from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.data.sources.dates import generate_dates
from kerasforge.pipelines.data.types import DataInfo, Splits
from kerasforge.pipelines.tasks import get_task
from kerasforge.pipelines.tasks.base import Baseline, Task
from kerasforge.pipelines.tasks.regression.training import r2_score
from kerasforge.pipelines.training.train import load_splits
from tests.conftest import ROOT


def config_splits(name: str, overrides: tuple[str, ...] = ()) -> tuple[Task, Splits]:
    """The task and the splits of ``configs/<name>.yaml``, as training loads them."""
    cfg = load_config(ROOT / "configs" / f"{name}.yaml", list(overrides))
    task = get_task(cfg.task.name, cfg.task.options)
    return task, load_splits(cfg, task)


def beats(task: Task, value: float, baseline: Baseline) -> bool:
    """The gate's rule: strictly better than the baseline by more than its margin."""
    if task.headline.mode == "max":
        return value > baseline.value + baseline.margin
    return value < baseline.value - baseline.margin


def constant_model(input_shape: tuple[int, ...], output: np.ndarray) -> keras.Model:
    """A model that answers ``output`` (any shape) whatever its input: zero weights and
    ``output`` as the bias of one dense layer."""
    inputs = keras.Input(shape=input_shape)
    dense = keras.layers.Dense(output.size, name="constant")
    x = keras.layers.Reshape(output.shape)(dense(keras.layers.Flatten()(inputs)))
    model = keras.Model(inputs, x)
    dense.set_weights([np.zeros(dense.kernel.shape), np.asarray(output).reshape(-1)])
    return model


@pytest.fixture(scope="module")
def digits() -> tuple[Task, Splits]:
    return config_splits("digits_cnn")


def test_baselines_are_frozen_and_every_task_has_one():
    baseline = Baseline("majority class", 0.25, 0.1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        baseline.value = 1.0  # type: ignore[misc]
    for name in ("classification", "regression", "forecasting", "seq2seq", "generation"):
        assert callable(get_task(name).baseline)
    assert get_task("anomaly_detection", {"anomaly_class": 7}).baseline(None, None) == Baseline(
        "random scores", 0.5, 0.05
    )


# --- classification
def test_classification_baseline_is_the_training_majority_share_of_test(digits):
    task, splits = digits
    baseline = task.baseline(None, splits)
    majority, _ = Counter(splits.y_train.tolist()).most_common(1)[0]
    share = sum(int(y) == majority for y in splits.y_test) / len(splits.y_test)
    assert baseline == Baseline("majority class", pytest.approx(share), 0.1)
    assert 0.05 < baseline.value < 0.2  # ten balanced digits

    probabilities = np.eye(splits.num_classes, dtype="float32")[majority]
    model = constant_model(splits.input_shape, probabilities)
    model.compile(**task.compile_arguments())
    accuracy = model.evaluate(splits.x_test, splits.y_test, verbose=0, return_dict=True)
    assert accuracy["accuracy"] == pytest.approx(baseline.value)
    assert not beats(task, accuracy["accuracy"], baseline)


def test_classification_baseline_of_a_streamed_source_counts_every_file_label(digits):
    task, splits = digits
    labels = {"train": np.array([3, 3, 1, 3, 2]), "test": np.array([3, 1, 1, 1])}
    streamed = dataclasses.replace(splits, files=SimpleNamespace(labels=labels))
    assert task.baseline(None, streamed).value == 0.25  # class 3 is a quarter of the test files


# --- regression
def test_regression_baseline_is_the_r2_of_the_training_mean_as_keras_scores_it():
    task, splits = config_splits("diabetes_mlp")
    baseline = task.baseline(None, splits)
    mean = np.full((len(splits.y_test), 1), splits.y_train.mean(), dtype="float32")
    keras_r2 = keras.metrics.R2Score()
    keras_r2.update_state(splits.y_test.reshape(-1, 1).astype("float32"), mean)
    assert baseline.name == "training mean" and baseline.margin == 0.1
    assert baseline.value == pytest.approx(float(keras_r2.result()), abs=1e-5)
    assert -0.1 < baseline.value <= 0.0

    model = constant_model(splits.input_shape, mean[0])
    model.compile(**task.compile_arguments())
    scores = model.evaluate(*task.training_pairs(splits.x_test, splits.y_test), verbose=0,
                            return_dict=True)  # fmt: skip
    assert scores["r2"] == pytest.approx(baseline.value, abs=1e-5)
    assert not beats(task, scores["r2"], baseline)


def test_r2_averages_targets_as_keras_does_and_a_constant_target_scores_zero():
    rng = np.random.default_rng(0)
    actual = rng.normal(size=(40, 3)).astype("float32")
    predicted = (actual + rng.normal(scale=[0.3, 1.0, 2.0], size=(40, 3))).astype("float32")
    keras_r2 = keras.metrics.R2Score()
    keras_r2.update_state(actual, predicted)
    assert r2_score(actual, predicted) == pytest.approx(float(keras_r2.result()), abs=1e-5)
    flat = np.column_stack([actual[:, 0], np.full(40, 2.0)]).astype("float32")
    keras_r2 = keras.metrics.R2Score()
    keras_r2.update_state(flat, flat + 1.0)  # the constant column scores 0 in Keras too
    assert r2_score(flat, flat + 1.0) == pytest.approx(float(keras_r2.result()), abs=1e-5)
    assert r2_score(flat, flat + 1.0) == pytest.approx(r2_score(flat[:, :1], flat[:, :1] + 1) / 2)


# --- forecasting
def test_forecasting_baseline_is_the_naive_forecast_scored_by_report(tmp_path):
    from kerasforge.models.layers import LastStep
    from kerasforge.pipelines.tasks.forecasting.training import target_index

    task, splits = config_splits("sunspots_gru")  # horizon 3: the last value repeated
    baseline = task.baseline(None, splits)
    assert baseline == Baseline("naive forecast", 1.0, 0.0)

    inputs = keras.Input(shape=splits.x_test.shape[1:])
    last = LastStep(target_index(splits.info))(inputs)
    horizon = splits.y_test.shape[1]
    naive = keras.Model(inputs, keras.layers.Concatenate()([last] * horizon))
    scores = task.report(naive, splits, tmp_path)
    assert scores["test_mase"] == baseline.value
    assert not beats(task, scores["test_mase"], baseline)


# --- anomaly detection
def test_anomaly_baseline_is_chance_and_scores_without_information_stay_below_the_floor():
    task, splits = config_splits("digits_dense_autoencoder")
    baseline = task.baseline(None, splits)
    assert baseline == Baseline("random scores", 0.5, 0.05)
    truth = np.asarray(splits.y_test) == 1
    assert roc_auc_score(truth, np.zeros(len(truth))) == baseline.value  # equal scores
    random = roc_auc_score(truth, np.random.default_rng(0).uniform(size=len(truth)))
    assert not beats(task, random, baseline)


# --- generation
def _generator_task(name: str, splits: Splits) -> tuple[Task, keras.Model]:
    task = get_task("generation")
    entry = models.get_entry(name)
    backbone = models.build_model(name, input_shape=splits.input_shape, **entry.tiny)
    model = task.assemble(backbone, entry, splits.info, splits.x_train, splits.y_train)
    return task, model


def test_vae_baseline_is_the_loss_of_reconstructing_the_training_mean_image(digits):
    from kerasforge.models.generative import VAE

    _, splits = digits
    task, vae = _generator_task("vae", splits)
    baseline = task.baseline(vae, splits)
    mean_image = splits.x_train.mean(axis=0)
    by_hand = np.mean([np.sum(((x - mean_image) / 255.0) ** 2) for x in splits.x_test])
    assert baseline.name == "training mean image"
    assert baseline.value == pytest.approx(by_hand, rel=1e-5)
    assert baseline.margin == pytest.approx(0.1 * baseline.value)

    decoder = constant_model((vae.latent_dim,), mean_image)
    trivial = VAE(vae.encoder, decoder)
    trivial.compile(optimizer="adam")
    scores = trivial.evaluate(splits.x_test, splits.x_test, batch_size=32, verbose=0,
                              return_dict=True)  # fmt: skip
    assert scores["reconstruction_loss"] == pytest.approx(baseline.value, rel=1e-5)
    assert not beats(task, scores["reconstruction_loss"], baseline)


def test_dcgan_baseline_is_the_discriminator_loss_against_the_training_mean_image(digits):
    from kerasforge.models.generative import DCGAN

    _, splits = digits
    task, gan = _generator_task("dcgan", splits)
    baseline = task.baseline(gan, splits)
    assert task.headline.metric == "discriminator_loss" and task.headline.mode == "max"
    assert baseline.name == "training mean image" and baseline.margin == 0.01

    mean_image = splits.x_train.mean(axis=0)
    trivial = DCGAN(constant_model((gan.latent_dim,), mean_image), gan.discriminator)
    trivial.compile(optimizer="adam")
    scores = trivial.evaluate(splits.x_test, splits.x_test, batch_size=32, verbose=0,
                              return_dict=True)  # fmt: skip
    assert scores["discriminator_loss"] == pytest.approx(baseline.value, rel=1e-5)
    assert not beats(task, scores["discriminator_loss"], baseline)


# --- seq2seq
def _seq2seq_splits() -> Splits:
    """Dates whose training targets repeat one date (a third of them), as do the test's."""
    x, y = generate_dates(60, seed=5)
    y = np.where(np.arange(60) % 3 == 0, y[0], y).astype(object)
    info = DataInfo("dates", "text", "text")
    return Splits(x[:40], y[:40], x[40:45], y[40:45], x[45:], y[45:], info)


def test_seq2seq_baseline_is_the_exact_match_of_the_most_frequent_training_target(tmp_path):
    splits = _seq2seq_splits()
    task = get_task("seq2seq", {"max_source_length": 12})
    baseline = task.baseline(None, splits)
    common, _ = Counter(splits.y_train.tolist()).most_common(1)[0]
    share = sum(t == common for t in splits.y_test) / len(splits.y_test)
    assert baseline == Baseline("most frequent training target", pytest.approx(share), 0.05)
    assert baseline.value == pytest.approx(5 / 15)

    entry = models.get_entry("seq2seq_plain")  # an untrained model: a trivial one
    backbone = models.build_model(
        "seq2seq_plain", **task.builder_arguments(entry, splits), embedding_dim=4, units=6
    )
    model = task.assemble(backbone, entry, splits.info, splits.x_train, splits.y_train)
    scores = task.report(model, splits, tmp_path)
    assert not beats(task, scores["test_exact_match"], baseline)


# --- the shipped configs against their measured figures (README, "test metric" tables)
@pytest.mark.parametrize(
    ("config", "figure", "passes"),
    [
        ("digits_transfer_feature_extraction", 0.1556, False),  # random backbone: near chance
        ("digits_transfer_gradual", 0.1000, False),
        ("digits_alexnet", 0.9852, True),
        ("dates_seq2seq_plain", 0.0725, True),  # token accuracy 0.89: it learns
        ("dates_seq2seq_bahdanau", 0.9992, True),
        ("digits_dense_autoencoder", 0.997, True),
    ],
)
def test_the_floor_refuses_only_the_configs_that_learn_nothing(config, figure, passes):
    task, splits = config_splits(config)
    assert beats(task, figure, task.baseline(None, splits)) is passes
