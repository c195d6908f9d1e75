"""Optimizers, learning-rate schedules and regularisation from config (no training)."""

from __future__ import annotations

import itertools
import math

import keras
import numpy as np
import pytest

from kerasforge.pipelines.config.experiment import ConfigError, load_config
from kerasforge.pipelines.training.optimizers import build_optimizer
from kerasforge.pipelines.training.regularize import SmoothedSparseCrossentropy, add_l2, smoothed
from kerasforge.pipelines.training.schedules import build_schedule, learning_rate_at

STEPS = 10  # optimizer steps per epoch in these tests


def train_cfg(*overrides: str):
    return load_config(None, list(overrides)).train


def rates(*overrides: str, epochs: int = 10) -> list[float]:
    cfg = train_cfg(f"train.epochs={epochs}", *overrides)
    value = build_schedule(cfg.schedule, cfg.learning_rate, cfg.epochs, STEPS)
    return [learning_rate_at(value, s) for s in range(epochs * STEPS)]


def test_constant_is_a_plain_float():
    cfg = train_cfg("train.learning_rate=0.01")
    assert build_schedule(cfg.schedule, 0.01, 5, STEPS) == 0.01


def test_step_decay_drops_by_the_rate_every_decay_epochs():
    lr = rates(
        "train.learning_rate=0.1", "train.schedule.name=step", "train.schedule.decay_epochs=3"
    )
    assert lr[0] == pytest.approx(0.1) and lr[29] == pytest.approx(0.1)
    assert lr[30] == pytest.approx(0.01) and lr[60] == pytest.approx(0.001)


def test_exponential_decay_is_smooth():
    lr = rates(
        "train.learning_rate=0.1",
        "train.schedule.name=exponential",
        "train.schedule.decay_epochs=2",
        "train.schedule.decay_rate=0.5",
    )
    assert lr[20] == pytest.approx(0.05, rel=1e-5)
    assert lr[10] == pytest.approx(0.1 * 0.5**0.5, rel=1e-5)


def test_cosine_anneals_to_the_floor_over_all_epochs():
    lr = rates(
        "train.learning_rate=0.1", "train.schedule.name=cosine", "train.schedule.min_fraction=0.1"
    )
    assert lr[0] == pytest.approx(0.1)
    assert lr[50] == pytest.approx(0.1 * (0.1 + 0.9 * 0.5), rel=1e-4)
    assert lr[-1] == pytest.approx(0.01, rel=0.05)
    assert all(a >= b for a, b in itertools.pairwise(lr))


def test_cosine_restarts_go_back_up_after_each_period():
    lr = rates(
        "train.learning_rate=0.1",
        "train.schedule.name=cosine_restarts",
        "train.schedule.decay_epochs=2",
        "train.schedule.restart_multiplier=2",
    )
    assert lr[19] < 0.01 and lr[20] == pytest.approx(0.1)  # first period: 2 epochs
    assert lr[59] < 0.01 and lr[60] == pytest.approx(0.1)  # second period: 4 epochs


def test_linear_warmup_then_any_schedule():
    lr = rates(
        "train.learning_rate=0.1", "train.schedule.name=cosine", "train.schedule.warmup_epochs=2"
    )
    assert lr[0] == pytest.approx(0.1 / 20) and lr[9] == pytest.approx(0.1 / 2)
    assert all(a < b for a, b in itertools.pairwise(lr[:20]))
    assert lr[20] == pytest.approx(0.1)  # the cosine starts at its peak after warm-up
    assert lr[-1] < 0.001
    flat = rates("train.learning_rate=0.1", "train.schedule.warmup_epochs=1")
    assert flat[4] == pytest.approx(0.05) and flat[10:] == pytest.approx([0.1] * 90)


def test_schedules_round_trip_through_keras_serialisation():
    cfg = train_cfg("train.schedule.name=step", "train.schedule.warmup_epochs=1")
    value = build_schedule(cfg.schedule, 0.1, 5, STEPS)
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(value))
    assert [learning_rate_at(again, s) for s in (0, 5, 40)] == pytest.approx(
        [learning_rate_at(value, s) for s in (0, 5, 40)]
    )


def test_optimizers_get_their_options():
    sgd = build_optimizer(
        train_cfg(
            "train.optimizer=sgd", "train.momentum=0.9", "train.nesterov=true", "train.clipnorm=1.0"
        ),
        STEPS,
    )
    assert isinstance(sgd, keras.optimizers.SGD)
    assert sgd.momentum == 0.9 and sgd.nesterov and sgd.clipnorm == 1.0
    adam = build_optimizer(train_cfg("train.learning_rate=0.001"), STEPS)
    assert isinstance(adam, keras.optimizers.Adam)
    assert (adam.beta_1, adam.beta_2, adam.weight_decay) == (0.9, 0.999, None)
    assert math.isclose(float(adam.learning_rate), 0.001, rel_tol=1e-6)
    adamw = build_optimizer(train_cfg("train.optimizer=adamw", "train.clipvalue=0.5"), STEPS)
    assert isinstance(adamw, keras.optimizers.AdamW) and adamw.weight_decay == 0.004
    assert adamw.clipvalue == 0.5
    rms = build_optimizer(train_cfg("train.optimizer=rmsprop", "train.weight_decay=0.01"), STEPS)
    assert isinstance(rms, keras.optimizers.RMSprop) and rms.weight_decay == 0.01


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.nesterov=true"], "Nesterov momentum needs optimizer 'sgd' with momentum > 0"),
        (["train.momentum=0.9"], "only 'sgd' and 'rmsprop' take momentum"),
        (["train.clipnorm=1", "train.clipvalue=1"], "set one, not both"),
        (
            ["train.reduce_on_plateau.enabled=true", "train.schedule.name=cosine"],
            "ReduceLROnPlateau",
        ),
        (["train.schedule.name=linear"], "train.schedule.name must be"),
        (["train.label_smoothing=1.5"], "train.label_smoothing must be less than 1"),
    ],
)
def test_inconsistent_optimisation_settings_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_label_smoothing_matches_keras_categorical_smoothing_on_integer_labels():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), size=8).astype("float32")
    labels = rng.integers(0, 5, size=8)
    ours = SmoothedSparseCrossentropy(0.2)(labels, probs)
    reference = keras.losses.CategoricalCrossentropy(label_smoothing=0.2)(np.eye(5)[labels], probs)
    assert float(ours) == pytest.approx(float(reference), rel=1e-6)
    plain = keras.losses.SparseCategoricalCrossentropy()(labels, probs)
    assert float(SmoothedSparseCrossentropy(0.0)(labels, probs)) == pytest.approx(float(plain))
    restored = keras.losses.deserialize(keras.losses.serialize(SmoothedSparseCrossentropy(0.2)))
    assert restored.label_smoothing == 0.2


def test_label_smoothing_is_refused_for_a_regression_loss():
    args = {"loss": "mean_squared_error", "metrics": []}
    assert smoothed(args, 0.0) is args
    with pytest.raises(ConfigError, match=r"train\.label_smoothing"):
        smoothed(args, 0.1)


def test_l2_penalises_every_kernel_including_nested_models():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="a")], name="inner")
    outer = keras.Sequential([keras.Input((4,)), inner, keras.layers.Dense(2, name="b")])
    assert add_l2(outer, 0.01) == 2
    kernels = [outer.get_layer("inner").get_layer("a").kernel, outer.get_layer("b").kernel]
    expected = sum(0.01 * float(np.sum(k.numpy() ** 2)) for k in kernels)
    assert float(sum(outer.losses)) == pytest.approx(expected, rel=1e-5)
    assert add_l2(outer, 0.0) == 0
