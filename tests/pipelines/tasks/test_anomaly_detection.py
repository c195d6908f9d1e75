"""The anomaly_detection task: normal-only train/validation, the threshold, ROC AUC, options."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.data.types import DataInfo, Splits
from kerasforge.pipelines.errors import ConfigError
from kerasforge.pipelines.tasks import get_task
from kerasforge.pipelines.tasks.anomaly_detection.contract import THRESHOLD_LAYER, roc_auc
from kerasforge.pipelines.tasks.anomaly_detection.training import reconstruction_errors
from kerasforge.pipelines.training.train import build_task_model, load_splits
from tests.conftest import ROOT

DENSE = ROOT / "configs" / "digits_dense_autoencoder.yaml"
CONV = ROOT / "configs" / "digits_conv_autoencoder.yaml"
SMALL = ["model.options.widths=[8]", "model.options.latent_dim=2"]


def _splits() -> Splits:
    """Ten examples per part; each example's value says which part and index it came from."""

    def part(offset: int) -> tuple[np.ndarray, np.ndarray]:
        x = (offset + np.arange(10, dtype="float32"))[:, None]
        return x, np.arange(10) % 3  # classes 0, 1, 2

    (xt, yt), (xv, yv), (xs, ys) = part(0), part(100), part(200)
    info = DataInfo("made", "tabular", "classes", ("a", "b", "c"))
    return Splits(xt, yt, xv, yv, xs, ys, info, {"train": 10, "validation": 10, "test": 10})


def test_anomalies_stay_out_of_train_and_validation_and_all_go_to_test():
    splits = get_task("anomaly_detection", {"anomaly_class": 2}).select(_splits())
    anomalous = {2, 5, 8}  # indices of class 2
    assert {int(v) % 100 for v in splits.x_train[:, 0]}.isdisjoint(anomalous)
    assert {int(v) % 100 for v in splits.x_val[:, 0]}.isdisjoint(anomalous)
    assert len(splits.x_train) == len(splits.x_val) == 7
    assert not splits.y_train.any() and not splits.y_val.any()
    # Test: its own 10 examples (3 anomalies), plus the 3 + 3 taken out of train and validation.
    assert splits.sizes == {"train": 7, "validation": 7, "test": 16}
    labels = dict(
        zip(splits.x_test[:, 0].astype(int).tolist(), splits.y_test.tolist(), strict=True)
    )
    assert {v for v, y in labels.items() if y == 1} == {202, 205, 208, 2, 5, 8, 102, 105, 108}


def test_normal_classes_pick_the_normal_side():
    splits = get_task("anomaly_detection", {"normal_classes": [0]}).select(_splits())
    assert len(splits.x_train) == 4 and set(splits.x_train[:, 0].astype(int) % 3) == {0}


def test_digits_config_splits_every_image_once():
    cfg = load_config(DENSE, ["task.options.anomaly_class=3"])
    task = get_task(cfg.task.name, cfg.task.options)
    splits = load_splits(cfg, task)
    assert sum(splits.sizes.values()) == 1797
    assert splits.y_test.sum() == 183  # every 3 in scikit-learn's digits
    assert len(splits.x_train) + len(splits.x_val) + int((splits.y_test == 0).sum()) == 1797 - 183


@pytest.mark.parametrize("config", [DENSE, CONV])
def test_threshold_is_the_validation_quantile_and_lives_in_the_model(config):
    cfg = load_config(config, ["task.options.threshold_quantile=0.9"])
    task = get_task(cfg.task.name, cfg.task.options)
    splits = load_splits(cfg, task)
    model = build_task_model(cfg, task, splits)
    threshold = task.fit_threshold(model, splits.x_val)
    expected = np.quantile(reconstruction_errors(model, splits.x_val), 0.9)
    assert threshold == pytest.approx(expected, rel=1e-6)
    assert float(model.get_layer(THRESHOLD_LAYER).threshold.numpy()) == pytest.approx(threshold)
    card = task.card(cfg.model.name, splits.info)
    assert card.data["anomaly"]["threshold"] == threshold
    assert card.data["anomaly"]["normal_classes"] == [str(d) for d in range(10) if d != 7]


def test_roc_auc_on_a_constructed_case():
    from sklearn.metrics import roc_auc_score

    truth = np.array([True, True, False, False, False])
    scores = np.array([0.9, 0.4, 0.5, 0.1, 0.4])  # 0.4 ties a normal: counts half
    # Pairs (anomaly > normal): 0.9 beats all 3; 0.4 beats 0.1, ties 0.4, loses to 0.5.
    assert roc_auc(truth, scores) == pytest.approx((3 + 1 + 0.5) / 6)
    assert roc_auc(truth, scores) == pytest.approx(roc_auc_score(truth, scores))


def test_report_scores_a_mean_reconstruction_with_perfect_auc(tmp_path):
    """A model that always reconstructs the training mean: the far-off anomalies score highest."""
    import keras

    task = get_task("anomaly_detection", {"anomaly_class": 1, "threshold_quantile": 0.5})
    x = np.random.default_rng(0).normal(100.0, 1.0, size=(40, 4, 4, 1)).astype("float32")
    y = np.zeros(40, dtype="int64")
    x[30:] += 50.0  # the anomalies, far from the normal examples
    y[30:] = 1
    info = DataInfo("made", "image", "classes", ("normal", "odd"))
    splits = task.select(Splits(x[:10], y[:10], x[10:20], y[10:20], x[20:], y[20:], info))
    inputs = keras.Input((4, 4, 1), name="inputs")
    zeros = keras.layers.Lambda(lambda t: t * 0.0, name="zeros")(inputs)  # normalised mean
    backbone = keras.Model(inputs, zeros)
    entry = SimpleNamespace(name="mean_model")  # the one ModelEntry field assemble reads
    model = task.assemble(backbone, entry, info, splits.x_train, splits.y_train)
    scores = task.report(model, splits, tmp_path)
    assert scores["test_roc_auc"] == 1.0
    assert scores["test_anomaly_recall"] == 1.0
    assert json.loads((tmp_path / "anomaly_report.json").read_text()) == scores
    assert (tmp_path / "anomaly_scores.png").stat().st_size > 0
    assert (tmp_path / "reconstructions.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["task.options.normal_classes=[1, 2]"], "exactly one of anomaly_class"),
        (["task.options.anomaly_class=null"], "exactly one of anomaly_class"),
        (["task.options.threshold_quantile=1.5"], "threshold_quantile"),
        (["task.options.anomaly_class=-1"], "anomaly_class"),
        (["task.options.normal_class=3"], "has no option 'normal_class'"),
    ],
)
def test_bad_options_are_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(DENSE, overrides)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["task.options.anomaly_class=12"], r"class ids must be below 10 .* received \[12\]"),
        (
            ["task.options.anomaly_class=null", f"task.options.normal_classes={list(range(10))}"],
            "at least one normal and one anomalous class",
        ),
    ],
)
def test_classes_outside_the_data_are_config_errors(overrides, message):
    cfg = load_config(DENSE, overrides)
    with pytest.raises(ConfigError, match=message):
        load_splits(cfg, get_task(cfg.task.name, cfg.task.options))
