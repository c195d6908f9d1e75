"""Sequence data: statsmodels' bundled time series, windows, and the chronological split.

A ``series`` source returns one long ``[time, features]`` array (oldest first);
:func:`split_series` cuts it in time into train, validation and test segments
(in that order: the model is judged on the most recent data) and then each
segment into windows of ``window`` steps with the next ``horizon`` values of
the target column as targets, so no window straddles a split boundary and
nothing of the future leaks into training. Nothing is downloaded: the series
ship inside the statsmodels package. ``digits_rows`` is a ``sequence`` source
for sequence classification: each digit read top to bottom, one row per step.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...errors import DataError
from ..types import DataInfo, Dataset, Splits, register_source


def _statsmodels(name: str, drop: tuple[str, ...] = ()) -> Dataset:
    """The statsmodels dataset ``name`` as a float32 series; ``drop``: calendar columns."""
    import statsmodels.api as sm

    frame = getattr(sm.datasets, name).load_pandas().data.drop(columns=list(drop))
    frame = frame.astype("float64").interpolate(method="linear", limit_direction="both")
    info = DataInfo(name, "series", "values", feature_names=tuple(str(c) for c in frame.columns))
    values = frame.to_numpy(dtype="float32")
    return Dataset(values, values, info)


@register_source(inputs="series", targets="values")
def co2() -> Dataset:
    """Weekly atmospheric CO2 at Mauna Loa (ppm), March 1958 - December 2001: 2,284 weeks.

    59 weeks have no measurement; they are filled by linear interpolation
    between the neighbouring weeks (in time order, so the gaps, all short, are
    bridged by the trend rather than by a global mean).
    """
    return _statsmodels("co2")


@register_source(inputs="series", targets="values")
def sunspots() -> Dataset:
    """Yearly mean sunspot numbers (``SUNACTIVITY``), 1700-2008: 309 years."""
    return _statsmodels("sunspots", drop=("YEAR",))


@register_source(inputs="series", targets="values")
def macrodata() -> Dataset:
    """US macroeconomic series, quarterly 1959Q1-2009Q3: 203 quarters, 12 series
    (``realgdp``, ``realcons``, ``realinv``, ``cpi``, ``unemp``, ``infl``, ...)."""
    return _statsmodels("macrodata", drop=("year", "quarter"))


@register_source(inputs="sequence", targets="classes")
def digits_rows() -> Dataset:
    """scikit-learn's 8x8 digits as sequences: 8 steps (rows) of 8 features (0-255 pixels)."""
    from .bundled import digits

    data = digits()
    info = replace(data.info, name="digits_rows", inputs="sequence")
    return Dataset(data.x[..., 0], data.y, info)


def windows(
    values: np.ndarray, target: np.ndarray, window: int, horizon: int, stride: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every ``window`` steps of ``values`` (starting each ``stride`` steps) and the
    ``horizon`` values of ``target`` that follow it.

    Returns:
        ``x`` of shape ``[N, window, features]`` and ``y`` of shape ``[N, horizon]``.
    """
    starts = np.arange(0, len(values) - window - horizon + 1, stride)
    steps = starts[:, None] + np.arange(window)[None, :]
    ahead = starts[:, None] + window + np.arange(horizon)[None, :]
    return values[steps].astype("float32"), target[ahead].astype("float32")


def split_series(
    data: Dataset,
    *,
    columns: tuple[str, ...],
    target: str | None,
    window: int,
    horizon: int,
    stride: int,
    validation_fraction: float,
    test_fraction: float,
) -> Splits:
    """Chronological train/validation/test segments of a series, each cut into windows.

    Args:
        data: a ``series`` source (``[time, features]``, oldest first).
        columns: the input columns (empty: all); the target is always one of them.
        target: the column to forecast (``None``: the first input column).
        window: input steps per example.
        horizon: steps ahead predicted.
        stride: steps between the starts of consecutive windows.
        validation_fraction: share of the time steps in the validation segment.
        test_fraction: share of the time steps in the (most recent) test segment.

    Raises:
        DataError: unknown columns, or a segment too short for one window.
    """
    names = list(data.info.feature_names)
    picked, target = _columns(data.info.name, names, columns, target)
    values = data.x[:, [names.index(c) for c in picked]]
    target_values = data.x[:, names.index(target)]
    total = len(values)
    test = round(total * test_fraction)
    validation = round(total * validation_fraction)
    train_end, test_start = total - test - validation, total - test
    bounds = {
        "train": (0, train_end),
        "validation": (train_end, test_start),
        "test": (test_start, total),
    }
    parts = {}
    for part, (start, end) in bounds.items():
        if end - start < window + horizon:
            raise DataError(
                f"data source {data.info.name!r}: its {total} time steps leave the {part} "
                f"segment {end - start} steps, fewer than data.series.window + horizon = "
                f"{window} + {horizon}: lower window or horizon, or give the {part} split a "
                "larger fraction"
            )
        parts[part] = windows(values[start:end], target_values[start:end], window, horizon, stride)
    info = replace(data.info, feature_names=tuple(picked), target_names=(target,))
    sizes = {part: len(x) for part, (x, _) in parts.items()}
    (xt, yt), (xv, yv), (xs, ys) = parts["train"], parts["validation"], parts["test"]
    return Splits(xt, yt, xv, yv, xs, ys, info, sizes)


def _columns(
    source: str, names: list[str], columns: tuple[str, ...], target: str | None
) -> tuple[list[str], str]:
    """The input columns (target included) and the target, checked against the source."""
    wanted = list(columns) or names
    unknown = [c for c in [*wanted, *([target] if target else [])] if c not in names]
    if unknown:
        raise DataError(
            f"data.series: data source {source!r} has no column(s) {unknown}; its columns "
            f"are: {', '.join(names)}"
        )
    target = target or wanted[0]
    return (wanted if target in wanted else [target, *wanted]), target
