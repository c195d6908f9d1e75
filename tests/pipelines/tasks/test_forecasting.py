"""Forecasting: windows, the chronological split, training-only statistics, MASE, config errors."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge import models
from kerasforge.pipelines.config.experiment import ConfigError, load_config
from kerasforge.pipelines.data.pipeline import load_source
from kerasforge.pipelines.data.sources.series import split_series, windows
from kerasforge.pipelines.data.types import DataInfo, Dataset
from kerasforge.pipelines.errors import DataError
from kerasforge.pipelines.tasks import get_task
from kerasforge.pipelines.tasks.forecasting.training import forecast_scores
from kerasforge.pipelines.training.train import load_splits
from tests.conftest import ROOT

CO2 = ROOT / "configs" / "co2_lstm.yaml"


def clock(steps: int, features: int = 2) -> Dataset:
    """A series whose first feature is its time index (so positions can be read back)."""
    t = np.arange(steps, dtype="float32")
    x = np.stack([t, *(t * (i + 2) for i in range(features - 1))], axis=1)
    names = ("t", *(f"f{i}" for i in range(1, features)))
    return Dataset(x, x, DataInfo("clock", "series", "values", feature_names=names))


def test_windows_by_hand():
    values = np.arange(10, dtype="float32")[:, None]
    x, y = windows(values, values[:, 0], window=3, horizon=2, stride=2)
    assert x.shape == (3, 3, 1) and y.shape == (3, 2)  # starts 0, 2, 4 (4 + 3 + 2 = 9 <= 10)
    np.testing.assert_array_equal(x[1, :, 0], [2, 3, 4])
    np.testing.assert_array_equal(y[1], [5, 6])
    np.testing.assert_array_equal(y[-1], [7, 8])


def test_split_is_chronological_and_no_window_crosses_a_boundary():
    splits = split_series(
        clock(100), columns=(), target="t", window=5, horizon=2, stride=1,
        validation_fraction=0.2, test_fraction=0.2,
    )  # fmt: skip
    # Segments are time steps [0, 60), [60, 80), [80, 100).
    for part, (low, high) in {"train": (0, 60), "val": (60, 80), "test": (80, 100)}.items():
        x, y = getattr(splits, f"x_{part}"), getattr(splits, f"y_{part}")
        assert x[..., 0].min() >= low and y.max() < high, part
        assert x[..., 0].min() == low and y.max() == high - 1, "each segment is used to its end"
        np.testing.assert_array_equal(y[:, 0], x[:, -1, 0] + 1)  # the target follows the window
    assert splits.sizes == {"train": 54, "validation": 14, "test": 14}
    assert splits.info.feature_names == ("t", "f1") and splits.info.target_names == ("t",)


def test_target_joins_the_input_columns_and_unknown_columns_are_named():
    splits = split_series(
        clock(60, features=3), columns=("f2",), target="f1", window=4, horizon=1, stride=3,
        validation_fraction=0.2, test_fraction=0.2,
    )  # fmt: skip
    assert splits.info.feature_names == ("f1", "f2") and splits.x_train.shape[1:] == (4, 2)
    with pytest.raises(DataError, match=r"no column\(s\) \['nope'\]; its columns are: t, f1, f2"):
        split_series(
            clock(60, features=3), columns=("nope",), target=None, window=4, horizon=1,
            stride=1, validation_fraction=0.2, test_fraction=0.2,
        )  # fmt: skip


def test_a_segment_shorter_than_one_window_is_refused_with_the_fix():
    with pytest.raises(
        DataError,
        match=r"leave the validation segment 10 steps, fewer than data.series.window \+ "
        r"horizon = 10 \+ 1: lower window or horizon",
    ):
        split_series(
            clock(100), columns=(), target=None, window=10, horizon=1, stride=1,
            validation_fraction=0.1, test_fraction=0.2,
        )  # fmt: skip


def test_co2_missing_weeks_are_interpolated():
    co2 = load_source("co2")
    assert co2.x.shape == (2284, 1) and np.isfinite(co2.x).all()
    assert co2.info.inputs == "series" and co2.info.feature_names == ("co2",)
    # A gap is bridged by the line between its neighbours.
    import statsmodels.api as sm

    raw = sm.datasets.co2.load_pandas().data["co2"].to_numpy()
    gap = int(np.flatnonzero(np.isnan(raw))[0])
    assert not np.isnan(raw[gap - 1]) and not np.isnan(raw[gap + 1])
    assert co2.x[gap, 0] == pytest.approx((raw[gap - 1] + raw[gap + 1]) / 2, abs=1e-4)


def assembled(relative: bool, horizon: int = 2):
    task = get_task("forecasting", {"relative": relative})
    splits = split_series(
        clock(80), columns=(), target="f1", window=6, horizon=horizon, stride=1,
        validation_fraction=0.2, test_fraction=0.2,
    )  # fmt: skip
    entry = models.get_entry("gru")
    backbone = models.build_model("gru", input_shape=splits.input_shape, units=(3,))
    model = task.assemble(backbone, entry, splits.info, splits.x_train, splits.y_train)
    return task, splits, model


def test_statistics_come_from_the_training_windows_only():
    _, splits, model = assembled(relative=True)
    relative = splits.x_train - splits.x_train[:, -1:, :]
    mean = np.asarray(model.get_layer("normalize").mean).reshape(-1)
    np.testing.assert_allclose(mean, relative.reshape(-1, 2).mean(axis=0), rtol=1e-5)
    changes = splits.y_train - splits.x_train[:, -1, 1:2]
    scale = model.get_layer("change_scale")
    np.testing.assert_allclose(np.asarray(scale.mean).reshape(-1), changes.mean(axis=0), rtol=1e-5)
    _, splits, model = assembled(relative=False)
    levels = model.get_layer("target_scale")
    np.testing.assert_allclose(np.asarray(levels.mean).reshape(-1), splits.y_train.mean(axis=0))
    assert splits.y_test.mean() > 2 * splits.y_train.mean(), "the test segment lies elsewhere"


def test_relative_forecasts_are_levels_around_the_last_value():
    _, splits, model = assembled(relative=True)
    out = model.predict(splits.x_test, verbose=0)
    assert out.shape == (len(splits.x_test), 2)
    # Untrained, the change is within a few training changes of the last value: in range
    # even though the test levels lie far above every training level.
    assert np.all(np.abs(out - splits.x_test[:, -1, 1:2]) < 50)


def test_mase_by_hand_and_from_the_report(tmp_path):
    scores = forecast_scores(np.array([[2.0], [4.0]]), np.array([[3.0], [4.0]]), np.array([1, 2]))
    assert scores == {"mae": 0.5, "naive_mae": 1.5, "mase": pytest.approx(1 / 3)}
    task, splits, model = assembled(relative=True)
    metrics = task.report(model, splits, tmp_path)
    predicted = model.predict(splits.x_test, verbose=0)
    naive = np.abs(splits.x_test[:, -1, 1:2] - splits.y_test).mean()
    assert metrics["test_naive_mae"] == pytest.approx(naive)
    assert metrics["test_mase"] == pytest.approx(np.abs(predicted - splits.y_test).mean() / naive)
    lines = (tmp_path / "forecast.csv").read_text().splitlines()
    assert lines[0] == "window,step,actual,forecast,naive" and len(lines) == 1 + splits.y_test.size


def test_forecast_plot_is_written(tmp_path):
    from kerasforge.pipelines.tracking.plots import forecast_plot

    task, splits, model = assembled(relative=True)
    task.report(model, splits, tmp_path)
    png = forecast_plot(tmp_path / "forecast.csv", tmp_path / "forecast.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_config_windows_load_in_time_order():
    cfg = load_config(CO2, ["data.series.window=10", "data.series.horizon=3"])
    splits = load_splits(cfg, get_task("forecasting"))
    assert splits.x_train.shape[1:] == (10, 1) and splits.y_train.shape[1] == 3
    assert splits.x_train[-1, -1, 0] < splits.x_test[-1, -1, 0], "test is the latest"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.series.window=0"], "data.series.window must be greater than or equal to 1"),
        (["data.series.horizon=-2"], "data.series.horizon must be greater than or equal to 1"),
        (["data.series.stride=0"], "data.series.stride must be greater than or equal to 1"),
        (["data.series.windw=3"], "unknown key 'data.series.windw'"),
        (["task.options.relativ=true"], "task 'forecasting' has no option 'relativ'"),
        (["task.name=classification"], "'co2' holds series inputs with values as targets; task"),
    ],
)
def test_bad_configs_get_one_clear_message(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(CO2, overrides)


def test_a_series_too_short_for_the_window_is_a_data_error():
    cfg = load_config(ROOT / "configs" / "sunspots_gru.yaml", ["data.series.window=60"])
    with pytest.raises(DataError, match=r"data source 'sunspots': its 309 time steps leave"):
        load_splits(cfg, get_task("forecasting"))
