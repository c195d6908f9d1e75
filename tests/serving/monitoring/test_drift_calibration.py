"""Drift's calibration on the bundled data: held-out windows stay quiet, known shifts fire.

The training statistics are computed from each config's training split, as
``pipelines/training/statistics.py`` does for the inputs; every in-distribution window is
drawn from the *test* split (rows training never saw), :data:`SAMPLES` times with a fixed
seed, and may alert at most 5% of the time. Each shift has a known size (standard
deviations of one column, a brightness factor, unknown words) and must alert on the
features it touches only. The loops run over the statistics functions in-process; the
server and ``kerasforge monitor`` tests send a few of these windows for real.
"""

from __future__ import annotations

import io
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest

from kerasforge.serving.monitoring import stat_tests
from kerasforge.serving.monitoring.drift import DriftReport
from kerasforge.serving.monitoring.features import text_words
from kerasforge.serving.monitoring.statistics import TrainingStatistics
from kerasforge.serving.monitoring.summaries import quantile_edges, summarize_numeric
from kerasforge.serving.monitoring.window import LiveWindow
from tests.conftest import DEFAULT_CONFIG, ROOT, TINY

SAMPLES = 40
MAX_ALARMS = 2  # 5% of SAMPLES
UNKNOWN_WORDS = "zebra quokka axolotl narwhal okapi"


def load(config, overrides=()) -> SimpleNamespace:
    from kerasforge.pipelines.config.experiment import load_config
    from kerasforge.pipelines.tasks import get_task
    from kerasforge.pipelines.training.train import load_splits

    cfg = load_config(config, [*overrides, "output_dir=unused"])
    return load_splits(cfg, get_task(cfg.task.name, cfg.task.options))


def report(training: TrainingStatistics, x, vocabulary=None) -> DriftReport:
    window = LiveWindow(training, size=len(x), vocabulary=vocabulary)
    window.add(x)
    return window.report()


def alarms(training, pool: np.ndarray, rows: int, seed: int, vocabulary=None) -> Counter:
    """Per feature, how many of :data:`SAMPLES` windows of ``rows`` rows drawn from
    ``pool`` (without replacement) alert; ``None`` counts the windows with any alert."""
    rng = np.random.default_rng(seed)
    found: Counter = Counter()
    for _ in range(SAMPLES):
        window = report(training, pool[rng.choice(len(pool), rows, replace=False)], vocabulary)
        found.update(window.alerts())
        found[None] += bool(window.alerts())
    return found


def tabular(config: str) -> SimpleNamespace:
    splits = load(ROOT / "configs" / config)
    names = list(splits.info.feature_names)
    training = TrainingStatistics.compute(
        "regression", "tabular", splits.x_train, feature_names=names
    )
    return SimpleNamespace(splits=splits, names=names, training=training)


@pytest.fixture(scope="module")
def diabetes() -> SimpleNamespace:
    return tabular("diabetes_mlp.yaml")


@pytest.fixture(scope="module")
def digits() -> SimpleNamespace:
    splits = load(DEFAULT_CONFIG, TINY)
    training = TrainingStatistics.compute("classification", "image", splits.x_train)
    return SimpleNamespace(splits=splits, training=training, png=png_round_trip(splits.x_test))


@pytest.fixture(scope="module")
def chase() -> SimpleNamespace:
    splits = load(ROOT / "configs" / "chase_transformer.yaml")
    words = sorted({w for text in text_words(splits.x_train) for w in text})
    vocabulary = ["", "[UNK]", *words]  # every training word, as the tokeniser adapts
    training = TrainingStatistics.compute(
        "classification", "text", splits.x_train, vocabulary=vocabulary
    )
    return SimpleNamespace(splits=splits, training=training, vocabulary=vocabulary)


def png_round_trip(x: np.ndarray) -> np.ndarray:
    """``x`` written as 8-bit grey PNGs and read back (digits' pixels are multiples of
    255/16: the 8-bit rounding moves them slightly)."""
    from PIL import Image

    found = []
    for image in x:
        buffer = io.BytesIO()
        Image.fromarray(np.clip(np.round(image[..., 0]), 0, 255).astype(np.uint8)).save(
            buffer, format="PNG"
        )
        found.append(np.asarray(Image.open(io.BytesIO(buffer.getvalue())), "float32"))
    return np.stack(found)[..., None]


def test_a_16_bin_psi_is_biased_on_small_windows_and_the_judged_one_is_not():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=20_000)
    edges = quantile_edges(reference)
    expected = np.asarray(summarize_numeric(reference, edges).counts)
    raw, judged = [], []
    for _ in range(200):
        actual = np.asarray(summarize_numeric(rng.normal(size=67), edges).counts)
        raw.append(stat_tests.psi(expected, actual))
        judged.append(stat_tests.psi_judged(expected, actual, (20_000, 67)).value)
    assert np.mean(raw) > 0.25  # the fault: an undrifted window looks like a major shift
    assert np.mean(judged) < 0.03 and np.mean(np.asarray(judged) >= 0.25) <= 0.01


def test_psi_bins_each_expect_the_minimum_and_depend_on_the_window_size_only():
    expected = np.array([0, 1, 4, 5, 20, 30, 20, 5, 4, 1, 0], "float64")
    for rows in (30, 100, 1000):
        groups = stat_tests.psi_groups(expected, rows, min_rows=10)
        per_group = np.bincount(groups, weights=expected) / expected.sum() * rows
        assert np.all(per_group >= 10) and np.all(np.diff(groups) >= 0)
    assert stat_tests.psi_groups(expected, 1000, 10).max() + 1 == 9  # outer bins merged
    assert stat_tests.psi_groups(expected, 15, 10).max() == 0  # too few rows: one bin


def test_pooled_pixels_are_sized_in_images(digits):
    training = digits.training.inputs["channel_0"]
    live = report(digits.training, digits.png).inputs
    found = LiveWindow(digits.training, size=len(digits.png))
    found.add(digits.png)
    pixels = found.statistics().inputs["channel_0"]
    per_pixel = stat_tests.ks_binned(np.asarray(training.counts), np.asarray(pixels.counts))
    assert per_pixel.p_value < 1e-6  # the fault: PNG rounding alone, as if pixels were rows
    assert live["channel_0"].ks_p_value > 0.01 and live["channel_0"].verdict != "alert"
    assert live["channel_0"].live_count == len(digits.png)


def test_held_out_diabetes_rows_raise_at_most_5_percent_false_alarms(diabetes):
    found = alarms(diabetes.training, diabetes.splits.x_test, 67, seed=1)
    assert found[None] <= MAX_ALARMS, found


def test_held_out_breast_cancer_rows_raise_at_most_5_percent_false_alarms():
    found = tabular("breast_cancer_mlp.yaml")  # 30 columns, 86 test rows
    assert alarms(found.training, found.splits.x_test, 64, seed=4)[None] <= MAX_ALARMS


@pytest.mark.parametrize("stds", [1.0, 3.0])
def test_a_shifted_diabetes_column_alerts_on_that_column_only(diabetes, stds):
    bmi = diabetes.names.index("bmi")
    x = diabetes.splits.x_test[:67].copy()
    x[:, bmi] += stds * diabetes.splits.x_train[:, bmi].std()
    assert report(diabetes.training, x).alerts() == ["inputs/bmi"]


def test_re_encoded_held_out_digits_raise_at_most_5_percent_false_alarms(digits):
    found = alarms(digits.training, digits.png, 200, seed=2)
    assert found[None] <= MAX_ALARMS, found


@pytest.mark.parametrize(
    "shift",
    [lambda x: np.clip(x * 1.3, 0, 255), lambda x: 255.0 - x],
    ids=["brightness+30%", "inverted"],
)
def test_brighter_or_inverted_digits_alert_on_the_channel_only(digits, shift):
    alerts = report(digits.training, shift(digits.png).astype("float32")).alerts()
    assert "inputs/channel_0.mean" in alerts
    assert set(alerts) <= {"inputs/channel_0", "inputs/channel_0.mean"}


def test_held_out_texts_raise_at_most_5_percent_false_alarms(chase):
    texts = np.asarray(chase.splits.x_test, dtype=object)
    found = alarms(chase.training, texts, 300, seed=3, vocabulary=chase.vocabulary)
    assert found[None] <= MAX_ALARMS, found


def test_unknown_words_alert_on_the_text(chase):
    texts = np.asarray([f"{t} {UNKNOWN_WORDS}" for t in chase.splits.x_test[:300]], object)
    text = report(chase.training, texts, chase.vocabulary).inputs["text"]
    assert text.verdict == "alert" and text.oov_rate_difference >= 0.10
