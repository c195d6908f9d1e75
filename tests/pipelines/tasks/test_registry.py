"""Tasks: the registry, the config's task section, data checks, heads and reports."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerasforge.models.registry import KINDS
from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.config.options import model_names
from kerasforge.pipelines.data.pipeline import load_source, split
from kerasforge.pipelines.errors import ConfigError, DataError
from kerasforge.pipelines.tasks import UnknownTask, contract, get_task, task_class, task_names
from kerasforge.serving.card import ModelCard
from tests.conftest import DEFAULT_CONFIG, ROOT
from tests.pipelines.config_helpers import one_line

DIABETES = ROOT / "configs" / "diabetes_mlp.yaml"


def test_registry_lists_tasks_and_rejects_unknown_ones():
    assert {"classification", "regression"} <= set(task_names())
    with pytest.raises(ValueError, match=r"unknown task 'ranking'; available: .*classification"):
        task_class("ranking")
    assert get_task("regression").options.standardize_target is True


def test_headlines_and_metric_directions():
    assert get_task("classification").headline.model_dump() == {"metric": "accuracy", "mode": "max"}
    regression = get_task("regression")
    assert regression.headline.metric == "r2" and regression.metrics["mae"] == "min"


@pytest.mark.parametrize(
    ("config", "overrides", "message"),
    [
        (DEFAULT_CONFIG, ["task.name=ranking"], r"task\.name: unknown task 'ranking'"),
        (
            DEFAULT_CONFIG,
            ["task.options.class_weight=some"],
            r"task\.options\.class_weight must be 'none' or 'balanced'; received 'some'",
        ),
        (
            DEFAULT_CONFIG,
            ["task.options.colour=1"],
            r"task 'classification' has no option 'colour'.*its options are: class_weight",
        ),
        (
            DEFAULT_CONFIG,
            ["task.name=regression"],
            r"model 'digits_cnn' serves classification, not task 'regression'; models for it: mlp",
        ),
        (
            DIABETES,
            ["task.name=classification", "task.options={}"],
            r"data\.source: 'diabetes' holds tabular inputs with values as targets",
        ),
        (
            DEFAULT_CONFIG,
            ["train.monitor=val_r2"],
            r"train\.monitor: 'val_r2' is not reported.*val_loss, val_accuracy",
        ),
    ],
)
def test_task_section_errors_are_one_line(config, overrides, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config(config, overrides)
    one_line(info)


def test_regression_config_accepts_its_own_monitor():
    cfg = load_config(DIABETES, ["train.monitor=val_mae", "task.options.standardize_target=false"])
    assert cfg.task.options == {"standardize_target": False}


def test_tasks_refuse_data_they_cannot_learn():
    with pytest.raises(DataError, match="task 'regression' expects tabular inputs with values"):
        get_task("regression").check_data(load_source("digits").info)
    with pytest.raises(DataError, match="task 'classification' expects image or tabular"):
        get_task("classification").check_data(load_source("diabetes").info)


def test_balanced_class_weights_follow_training_frequencies():
    splits = split(load_source("breast_cancer"), 0.15, 0.15, seed=0)
    weights = get_task("classification", {"class_weight": "balanced"}).fit_arguments(splits)
    counts = np.bincount(splits.y_train)
    assert weights["class_weight"][0] > weights["class_weight"][1]  # malignant is rarer
    total = sum(weights["class_weight"][i] * counts[i] for i in range(2))
    assert total == pytest.approx(len(splits.y_train))
    assert get_task("classification").fit_arguments(splits) == {}


def test_classification_report_writes_confusion_matrix_and_per_class_scores(published, tmp_path):
    extra = published.task.report(published.model, published.splits, tmp_path)
    rows = (tmp_path / "confusion_matrix.csv").read_text().splitlines()
    assert rows[0].startswith("true\\predicted,0,1") and len(rows) == 11
    counts = sum(int(v) for row in rows[1:] for v in row.split(",")[1:])
    assert counts == len(published.splits.y_test)
    report = json.loads((tmp_path / "classification_report.json").read_text())
    assert "macro avg" in report and 0.0 <= extra["test_macro_f1"] <= 1.0


@pytest.mark.heavy
def test_regression_model_answers_in_target_units_and_reports_a_baseline(published_once, tmp_path):
    tiny = published_once(DIABETES, ["model.options.width=4"])
    predictions = tiny.model.predict(tiny.splits.x_test, verbose=0)
    assert predictions.shape == (len(tiny.splits.x_test), 1)
    # the last layer un-standardises with the training targets' statistics
    values = tiny.model.get_layer("values")
    y = tiny.splits.y_train
    np.testing.assert_allclose(values(np.zeros((1, 1))), [[y.mean()]], rtol=1e-5)
    np.testing.assert_allclose(values(np.ones((1, 1))), [[y.mean() + y.std()]], rtol=1e-4)
    extra = tiny.task.report(tiny.model, tiny.splits, tmp_path / "evaluation")
    saved = json.loads((tmp_path / "evaluation" / "regression_report.json").read_text())
    assert set(extra) == {"test_baseline_mae", "test_baseline_rmse"}
    assert saved["test_baseline_mae"] == pytest.approx(extra["test_baseline_mae"])
    assert saved["test_mae"] > 0


def test_every_registered_task_has_every_part():
    """Each task's package holds its training side and its whole serving contract."""
    from typing import get_args

    from kerasforge.pipelines.data.types import InputKind

    names = task_names()
    assert names == [
        "anomaly_detection",
        "classification",
        "forecasting",
        "generation",
        "regression",
        "seq2seq",
    ]
    for name in names:
        cls, served = task_class(name), contract(name)
        assert cls.name == served.name == name
        assert cls.inputs == served.inputs
        assert not getattr(cls, "__abstractmethods__", None), (name, cls.__abstractmethods__)
        assert cls.headline.mode in {"max", "min"}
        assert served.inputs and set(served.inputs) <= set(get_args(InputKind)), name
        assert served.main_output, name
        assert served.backbones and set(served.backbones) <= set(KINDS), name
        assert model_names(name), f"no registered model may serve {name}"
        assert served.labels in {"class_names", "target_names"}, name
        for part in (served.endpoints, served.score, served.edge_answer, served.score_scale):
            assert callable(part), (name, part)


def test_an_unknown_task_is_one_line_everywhere():
    from kerasforge.serving.edge.formats import format_outputs
    from kerasforge.serving.edge.inputs import EdgeError
    from kerasforge.serving.errors import ServingError
    from kerasforge.serving.export.contracts import contract_for

    expected = r"unknown task 'ranking'; available: anomaly_detection, classification, "
    for lookup in (contract, task_class, get_task):
        with pytest.raises(UnknownTask, match=expected):
            lookup("ranking")
    with pytest.raises(ServingError, match=expected):
        contract_for("ranking")
    with pytest.raises(EdgeError, match=expected):
        format_outputs({}, ModelCard(task="ranking", architecture="mlp"))
