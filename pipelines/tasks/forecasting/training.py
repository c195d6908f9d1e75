"""Forecasting: a window of a (multivariate) series in, the next steps of one column out.

The exported model takes raw windows ``[N, window, features]`` in the
series' units and answers ``[N, horizon]`` forecasts in the target's units:
the input normalisation and the de-normalisation of the output live in the
graph, their statistics fitted on the training segment only. Judged by MASE
on the test segment: the model's mean absolute error over that of the naive
forecast (the window's last target value repeated over the horizon), so
below 1 beats the naive forecast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ....serving.card import Headline
from ..base import Baseline, Task, TaskOptions
from ..preprocess import INPUT_NAMES, normalized_input
from .contract import CONTRACT

if TYPE_CHECKING:
    import keras

    from ....models.registry import ModelEntry
    from ...data.types import DataInfo, Splits

FORECAST_FILE = "forecast.csv"
"""Test-segment forecasts against actual values, written by ``report`` (plotted by tracking)."""
MARGIN = 0.0
"""MASE a candidate must take off the naive forecast's (1): none, any MASE below 1 beats it."""


class ForecastingOptions(TaskOptions):
    """``relative``: the model sees each window relative to its last step (every
    feature minus its last value) and its head predicts the target's changes from
    its last value, which the model adds back; a trending series then never leaves
    the range the training segment covered. Otherwise it sees the raw levels and
    predicts levels. Either way clients send raw windows and get levels in the
    target's units."""

    relative: bool = True


class Forecasting(Task):
    """A linear head of ``horizon`` units on a sequence backbone; MSE; judged by MASE."""

    name = CONTRACT.name
    Options = ForecastingOptions
    inputs = CONTRACT.inputs
    targets = "values"
    headline = Headline(metric="mase", mode="min")
    metrics: ClassVar[dict[str, str]] = {"mae": "min"}
    options: ForecastingOptions

    def assemble(
        self,
        backbone: keras.Model,
        entry: ModelEntry,
        info: DataInfo,
        x_train: np.ndarray,
        y_train: np.ndarray,
    ) -> keras.Model:
        import keras

        if not self.options.relative:
            inputs, x = normalized_input("series", x_train)
            x = keras.layers.Dense(y_train.shape[1], name="head")(backbone(x))
            return keras.Model(inputs, _scaled("target_scale", y_train)(x), name=entry.name)
        from ....models.layers import LastStep

        index = target_index(info)
        inputs = keras.Input(shape=x_train.shape[1:], name=INPUT_NAMES["series"])
        x = keras.layers.Subtract(name="relative_window")(
            [inputs, LastStep(name="window_end")(inputs)]
        )
        x = _scaled("normalize", x_train - x_train[:, -1:, :], invert=False)(x)
        x = keras.layers.Dense(y_train.shape[1], name="head")(backbone(x))
        change = _scaled("change_scale", y_train - x_train[:, -1, index : index + 1])(x)
        last = LastStep(index, name="last_target")(inputs)
        return keras.Model(
            inputs, keras.layers.Add(name="forecast")([change, last]), name=entry.name
        )

    def compile_arguments(self) -> dict[str, Any]:
        import keras

        return {
            "loss": "mean_squared_error",
            "metrics": [keras.metrics.MeanAbsoluteError(name="mae")],
        }

    def preprocessing_facts(self, info: DataInfo) -> dict[str, Any]:
        target = info.target_names[0] if info.target_names else "?"
        if self.options.relative:
            inputs = "each window minus its last step, then"
            output = (
                f"the change from the window's last {target!r} value, standardised with the "
                "training changes, added back to that value"
            )
        else:
            inputs, output = "", f"{target!r} standardised with the training targets, un-done"
        return {
            "normalization": f"{inputs} mean and variance of each feature over all steps of "
            "the training windows (clients send raw, un-normalised windows)".strip(),
            "target": f"{target!r}; forecasts are in its units ({output})",
            "split": "chronological: train, validation, test segments; no window crosses one",
        }

    def report(self, model: keras.Model, splits: Splits, folder: Path) -> dict[str, float]:
        """MASE against the naive last-value forecast and the forecasts (CSV), on the test split."""
        predicted = model.predict(splits.x_test, verbose=0)
        index = target_index(splits.info)
        scores = forecast_scores(splits.y_test, predicted, splits.x_test[:, -1, index])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "forecast_report.json").write_text(json.dumps(scores, indent=2))
        rows = ["window,step,actual,forecast,naive"]
        for (i, step), actual in np.ndenumerate(splits.y_test):
            naive = splits.x_test[i, -1, index]
            rows.append(f"{i},{step + 1},{actual:.6g},{predicted[i, step]:.6g},{naive:.6g}")
        (folder / FORECAST_FILE).write_text("\n".join(rows) + "\n")
        return {"test_mase": scores["mase"], "test_naive_mae": scores["naive_mae"]}

    def baseline(self, model: keras.Model, splits: Splits) -> Baseline:
        """The naive forecast (each test window's last target value over the horizon), scored
        by ``forecast_scores`` as ``report`` scores the model: MASE 1 (the test MAE is scaled
        by the naive forecast's own, out of sample); margin ``MARGIN``."""
        last = np.asarray(splits.x_test)[:, -1, target_index(splits.info)]
        naive = np.broadcast_to(last[:, None], np.shape(splits.y_test))
        return Baseline(
            "naive forecast", forecast_scores(splits.y_test, naive, last)["mase"], MARGIN
        )


def _scaled(name: str, train: np.ndarray, invert: bool = True) -> keras.layers.Normalization:
    """Per-feature normalisation (``invert``: de-normalisation) fitted on ``train``."""
    import keras

    layer = keras.layers.Normalization(axis=-1, invert=invert, name=name)
    layer.adapt(train)
    return layer


def target_index(info: DataInfo) -> int:
    """Position of the target column among the input features."""
    return list(info.feature_names).index(info.target_names[0])


def forecast_scores(actual: np.ndarray, forecast: np.ndarray, last: np.ndarray) -> dict[str, float]:
    """MAE of ``forecast``, of the naive forecast (``last`` over the horizon), and their ratio.

    Args:
        actual: ``[N, horizon]`` true values.
        forecast: ``[N, horizon]`` forecasts.
        last: ``[N]`` the last observed target value of each window.
    """
    actual = np.asarray(actual, "float64")
    mae = float(np.mean(np.abs(np.asarray(forecast, "float64") - actual)))
    naive = float(np.mean(np.abs(np.asarray(last, "float64")[:, None] - actual)))
    return {"mae": mae, "naive_mae": naive, "mase": mae / naive if naive > 0 else float("inf")}


TASK = Forecasting
