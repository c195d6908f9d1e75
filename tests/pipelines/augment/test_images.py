"""Image augmentation: the Beta sampler of MixUp/CutMix, label mixing, seeding, and that
augmentation touches only the training batches."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from kerasforge.pipelines.augment.images import AugmentConfig, augmenter, beta_sample, mix
from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.errors import ConfigError
from kerasforge.pipelines.tasks import get_task
from kerasforge.pipelines.training.inputs import load_splits, make_datasets
from kerasforge.pipelines.training.regularize import SmoothedSparseCrossentropy, smoothed
from kerasforge.pipelines.training.train import build_task_model
from tests.conftest import DEFAULT_CONFIG, TINY

CLASSES = 5


def _constant_batch(size: int, seed: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Images filled with distinct constants (so a mix reveals its ratio) and labels."""
    rng = np.random.default_rng(seed)
    values = rng.permutation(size).astype("float32") * 3.0 + 1.0
    images = np.broadcast_to(values[:, None, None, None], (size, 6, 6, 1)).copy()
    return tf.constant(images), tf.constant(rng.integers(0, CLASSES, size))


def _mixup_ratios(alpha: float, batches: int = 40, size: int = 256) -> np.ndarray:
    """λ per example of MixUp, read from the soft labels, checked against the mixed images."""
    cfg = AugmentConfig(mixup_alpha=alpha)
    ratios = []
    for step in range(batches):
        images, labels = _constant_batch(size, step)
        mixed, soft = mix(images, labels, CLASSES, cfg, tf.constant([7, step], tf.int64))
        y = labels.numpy()
        differ = y != y[::-1]
        lam = soft.numpy()[np.arange(size), y]  # weight on the example's own class
        y1 = np.eye(CLASSES)[y]
        np.testing.assert_allclose(soft.numpy().sum(-1), 1.0, atol=1e-6)
        np.testing.assert_allclose(
            soft.numpy()[differ], (lam[:, None] * y1 + (1 - lam[:, None]) * y1[::-1])[differ]
        )
        a, b = images.numpy()[:, 0, 0, 0], images.numpy()[::-1, 0, 0, 0]
        expected = lam * a + (1 - lam) * b
        np.testing.assert_allclose(mixed.numpy()[differ, 0, 0, 0], expected[differ], atol=1e-3)
        ratios.append(lam[differ])
    return np.concatenate(ratios)


@pytest.mark.parametrize("alpha", [0.2, 1.0, 2.0])
def test_mixup_ratio_per_example_follows_beta_alpha_alpha(alpha):
    ratios = _mixup_ratios(alpha)
    assert stats.kstest(ratios, stats.beta(alpha, alpha).cdf).pvalue > 0.01
    assert np.unique(ratios[:200]).size > 190, "one λ per example, not one per batch"


def test_the_beta_check_fails_for_a_wrong_sampler():
    # Uniform λ (what a broken sampler gives at any alpha but 1) must be told apart.
    wrong = np.random.default_rng(0).uniform(size=10_240)
    assert stats.kstest(wrong, stats.beta(0.2, 0.2).cdf).pvalue < 1e-6
    # and the real sampler at another alpha is refused too
    other = beta_sample([10_240], 2.0, tf.constant([1, 2], tf.int64)).numpy()
    assert stats.kstest(other, stats.beta(0.2, 0.2).cdf).pvalue < 1e-6


def test_cutmix_label_weight_is_the_area_kept():
    images, labels = _constant_batch(64, 3)
    cfg = AugmentConfig(cutmix_alpha=1.0)
    mixed, soft = mix(images, labels, CLASSES, cfg, tf.constant([1, 1], tf.int64))
    own = (mixed.numpy() == images.numpy()).mean(axis=(1, 2, 3))
    y1 = np.eye(CLASSES)[labels.numpy()]
    expected = own[:, None] * y1 + (1 - own[:, None]) * y1[::-1]
    np.testing.assert_allclose(soft.numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(soft.numpy().sum(-1), 1.0, atol=1e-6)
    assert 0 < own.mean() < 1


def test_augmentation_is_seeded_and_vectorised_per_example():
    cfg = AugmentConfig(crop=0.5, flip="horizontal", rotation=0.1, zoom=0.2, mixup_alpha=0.4)
    images, labels = _constant_batch(16, 0)
    images = images + tf.reshape(tf.range(36, dtype=tf.float32), [1, 6, 6, 1])
    runs = [
        augmenter(cfg, seed=11, num_classes=CLASSES, channels=1)(3, images, labels)
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0][0].numpy(), runs[1][0].numpy())
    np.testing.assert_array_equal(runs[0][1].numpy(), runs[1][1].numpy())
    assert runs[0][0].shape == images.shape
    assert not np.allclose(runs[0][0].numpy(), images.numpy())


def test_colour_jitter_and_randaugment_run_on_rgb_batches():
    cfg = AugmentConfig(brightness=0.2, contrast=0.2, saturation=0.3, hue=0.1, randaugment=True)
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 255, (8, 12, 12, 3)).astype("float32"))
    labels = tf.constant(rng.integers(0, CLASSES, 8))
    out, same = augmenter(cfg, seed=1, num_classes=CLASSES, channels=3)(0, images, labels)
    assert out.shape == images.shape and np.all(np.isfinite(out.numpy()))
    assert float(tf.reduce_min(out)) >= -1e-3 and float(tf.reduce_max(out)) <= 255.0 + 1e-3
    assert not np.allclose(out.numpy(), images.numpy())
    np.testing.assert_array_equal(same.numpy(), labels.numpy())


@pytest.mark.parametrize(
    ("overrides", "channels", "match"),
    [
        ({"saturation": 0.2}, 1, "saturation need colour"),
        ({"randaugment": True}, 1, "randaugment need colour"),
        ({"rotation": 0.1}, None, "only mixup_alpha applies to tabular"),
    ],
)
def test_augmentations_that_cannot_apply_are_refused(overrides, channels, match):
    with pytest.raises(ConfigError, match=match):
        augmenter(AugmentConfig(**overrides), seed=0, num_classes=3, channels=channels)


def test_soft_labels_loss_and_accuracy_take_both_label_kinds():
    args = smoothed(
        {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}, 0.0, soft_labels=True
    )
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], "float32")
    soft = np.array([[0.6, 0.4, 0.0], [0.0, 0.3, 0.7]], "float32")
    expected = keras.losses.CategoricalCrossentropy()(soft, probs)
    assert isinstance(args["loss"], SmoothedSparseCrossentropy)
    np.testing.assert_allclose(args["loss"](soft, probs), expected, rtol=1e-6)
    sparse = keras.losses.SparseCategoricalCrossentropy()(np.array([0, 2]), probs)
    np.testing.assert_allclose(args["loss"](np.array([0, 2]), probs), sparse, rtol=1e-6)
    (accuracy,) = args["metrics"]
    assert accuracy.name == "accuracy"
    accuracy.update_state(soft, probs)
    accuracy.update_state(np.array([[1], [1]]), probs)
    assert float(accuracy.result()) == pytest.approx(0.5)


def test_mixing_is_refused_for_a_regression_loss():
    with pytest.raises(ConfigError, match=r"data\.augmentation"):
        smoothed({"loss": "mse", "metrics": []}, 0.0, soft_labels=True)


def test_augmentation_touches_only_training_batches_never_the_model():
    cfg = load_config(
        DEFAULT_CONFIG,
        [
            "model.options.filters=[4]",
            "model.options.dense_units=8",
            "data.augmentation.rotation=0.1",
            "data.augmentation.translation=0.1",
            "data.augmentation.mixup_alpha=0.2",
        ],
    )
    task = get_task(cfg.task.name, cfg.task.options)
    splits = load_splits(cfg, task)
    datasets = make_datasets(cfg, task, splits)
    for part, x, y in (("validation", splits.x_val, splits.y_val), ("test", splits.x_test, None)):
        got = np.concatenate([b[0].numpy() for b in datasets[part]])
        np.testing.assert_array_equal(got, x)
        if y is not None:
            np.testing.assert_array_equal(np.concatenate([b[1] for b in datasets[part]]), y)
    x, y = next(iter(datasets["train"]))
    assert y.shape == (cfg.data.batch_size, splits.num_classes), "soft labels in training"
    assert not np.isin(x.numpy(), splits.x_train).all(), "training pixels are augmented"
    model = build_task_model(cfg, task, splits)
    random_layers = [
        layer.name
        for layer in model._flatten_layers()
        if type(layer).__name__.startswith(("Random", "Rand", "MixUp", "CutMix"))
    ]
    assert random_layers == []


@pytest.mark.heavy
def test_placement_model_augments_in_fit_only_and_publishes_a_still_model(tmp_path):
    from kerasforge.pipelines.training.train import train

    cfg = load_config(
        DEFAULT_CONFIG,
        [
            *TINY,
            "train.epochs=2",
            "data.augmentation.rotation=0.2",
            "data.augmentation.flip=horizontal",
            "data.augmentation.placement=model",
            "export.tflite.variants=[float32]",
            "tracking.enabled=false",
            f"output_dir={tmp_path}",
        ],
    )
    task = get_task(cfg.task.name, cfg.task.options)
    splits = load_splits(cfg, task)
    x, _ = next(iter(make_datasets(cfg, task, splits)["train"]))
    assert np.isin(x.numpy(), splits.x_train).all(), "the data pipeline leaves pixels alone"

    result = train(cfg)  # the publish gate compares the SavedModel with the Keras model
    model, images = result.model, splits.x_test[:8].astype("float32")
    augment = model.get_layer("augment")
    assert [type(layer).__name__ for layer in augment.augmentations] == [
        "RandomFlip",
        "RandomRotation",
    ]
    np.testing.assert_array_equal(model(images), model(images))
    np.testing.assert_allclose(model.predict(images, verbose=0), model(images), atol=1e-6)
    assert not np.allclose(augment(images, training=True), images), "fit sees augmented pixels"
    loaded = keras.saving.load_model(result.run_dir / "checkpoints" / "best.keras")
    np.testing.assert_array_equal(loaded.get_layer("augment")(images), images)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ([*TINY, "data.augmentation.mixup_alpha=0.2"], "mixup_alpha change whole batches"),
        ([*TINY, "data.augmentation.crop=0.8"], "crop change whole batches"),
        (
            [
                "task.name=anomaly_detection",
                "task.options.anomaly_class=0",
                "model.name=dense_autoencoder",
                "model.options={}",
            ],
            "only the classification task builds",
        ),
    ],
)
def test_placement_model_refuses_what_cannot_run_in_the_model(settings, match):
    placed = ["data.augmentation.rotation=0.1", "data.augmentation.placement=model"]
    cfg = load_config(DEFAULT_CONFIG, [*settings, *placed])
    task = get_task(cfg.task.name, cfg.task.options)
    with pytest.raises(ConfigError, match=match):
        build_task_model(cfg, task, load_splits(cfg, task))
