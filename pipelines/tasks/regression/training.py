"""Regression: tabular features in, one or more real values out, in the target's units."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ....serving.card import Headline
from ..base import Baseline, Task, TaskOptions
from ..preprocess import normalized_input
from .contract import CONTRACT

if TYPE_CHECKING:
    import keras

    from ....models.registry import ModelEntry
    from ...data.types import DataInfo, Splits

MARGIN = 0.1
"""R² a candidate must add to the training mean's (about 0): it must explain at least a
tenth of the test targets' variance."""


class RegressionOptions(TaskOptions):
    """``standardize_target``: the head predicts standardised values, un-done inside the model."""

    standardize_target: bool = True


class Regression(Task):
    """A linear head on the backbone; mean squared error; judged by R²."""

    name = CONTRACT.name
    Options = RegressionOptions
    inputs = CONTRACT.inputs
    targets = "values"
    headline = Headline(metric="r2", mode="max")
    metrics: ClassVar[dict[str, str]] = {"mae": "min", "rmse": "min", "r2": "max"}
    options: RegressionOptions

    def training_pairs(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Targets as ``[N, targets]`` float32, the shape the head and R² expect."""
        return x, _column(y)

    def assemble(
        self,
        backbone: keras.Model,
        entry: ModelEntry,
        info: DataInfo,
        x_train: np.ndarray,
        y_train: np.ndarray,
    ) -> keras.Model:
        import keras

        y_train = _column(y_train)
        inputs, x = normalized_input("tabular", x_train)
        x = backbone(x)
        x = keras.layers.Dense(y_train.shape[1], name="head")(x)
        if self.options.standardize_target:
            # Statistics of the training targets; the output is in the target's units.
            values = keras.layers.Normalization(axis=-1, invert=True, name="values")
            values.adapt(y_train)
            x = values(x)
        return keras.Model(inputs, x, name=entry.name)

    def compile_arguments(self) -> dict[str, Any]:
        import keras

        return {
            "loss": "mean_squared_error",
            "metrics": [
                keras.metrics.MeanAbsoluteError(name="mae"),
                keras.metrics.RootMeanSquaredError(name="rmse"),
                keras.metrics.R2Score(name="r2"),
            ],
        }

    def preprocessing_facts(self, info: DataInfo) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "normalization": "mean and variance of each feature, from the training split"
        }
        if self.options.standardize_target:
            facts["target"] = "standardised for training; outputs are in the target's units"
        return facts

    def report(self, model: keras.Model, splits: Splits, folder: Path) -> dict[str, float]:
        """Test errors against the predict-the-training-mean baseline (JSON)."""
        y_test = _column(splits.y_test)
        predicted = model.predict(splits.x_test, verbose=0).reshape(y_test.shape)
        baseline = np.broadcast_to(_column(splits.y_train).mean(axis=0), y_test.shape)
        scores = {
            "test_mae": float(np.mean(np.abs(predicted - y_test))),
            "test_baseline_mae": float(np.mean(np.abs(baseline - y_test))),
            "test_baseline_rmse": float(np.sqrt(np.mean((baseline - y_test) ** 2))),
        }
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "regression_report.json").write_text(json.dumps(scores, indent=2))
        return {k: v for k, v in scores.items() if "baseline" in k}

    def baseline(self, model: keras.Model, splits: Splits) -> Baseline:
        """The training targets' mean predicted for every test example: its test R² (about 0,
        slightly negative, as the test mean differs from the training one); margin ``MARGIN``."""
        y_test = _column(splits.y_test)
        mean = np.broadcast_to(_column(splits.y_train).mean(axis=0), y_test.shape)
        return Baseline("training mean", r2_score(y_test, mean), MARGIN)


def r2_score(actual: np.ndarray, predicted: np.ndarray) -> float:
    """R² as the compiled ``keras.metrics.R2Score`` (``test_r2``) computes it.

    Per target column ``1 - SS_res / SS_tot``, a column whose test values are all
    equal scoring 0 (Keras turns its infinite score into 0), then the plain mean
    over columns (``class_aggregation="uniform_average"``).

    Args:
        actual: ``[N, targets]`` true values.
        predicted: ``[N, targets]`` predictions.
    """
    actual = np.asarray(actual, "float64")
    residual = np.sum(np.square(actual - np.asarray(predicted, "float64")), axis=0)
    total = np.sum(np.square(actual - actual.mean(axis=0)), axis=0)
    scores = np.where(total > 0, 1.0 - residual / np.where(total > 0, total, 1.0), 0.0)
    return float(np.mean(scores))


def _column(y: np.ndarray) -> np.ndarray:
    return np.asarray(y, dtype="float32").reshape(len(y), -1)


TASK = Regression
