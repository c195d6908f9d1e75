"""Drift fires on a shift of known size and stays quiet on the training distribution."""

import numpy as np
import pytest
from scipy import stats as scipy_stats  # the reference for our NumPy p-values

from kerasforge.serving.monitoring import stat_tests
from kerasforge.serving.monitoring.drift import Thresholds, compare, drift_report
from kerasforge.serving.monitoring.statistics import TrainingStatistics
from kerasforge.serving.monitoring.summaries import summarize_categories
from kerasforge.serving.monitoring.window import LiveWindow

WINDOW = 500


@pytest.fixture(scope="module")
def training():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, 2))
    outputs = {"class_ids": rng.choice(3, size=2000, p=[0.5, 0.3, 0.2])}
    return TrainingStatistics.compute(
        "classification", "tabular", x, outputs, feature_names=["a", "b"]
    )


def _report(training, x, class_ids=None):
    window = LiveWindow(training, size=len(x))
    window.add(x, {"class_ids": class_ids} if class_ids is not None else None)
    return window.report()


def test_a_mean_shift_of_half_a_std_alerts_on_that_feature_only(training):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(WINDOW, 2)) + np.array([0.5, 0.0])
    report = _report(training, x)
    assert report.inputs["a"].verdict == "alert" and report.inputs["a"].ks_p_value < 1e-6
    assert report.inputs["b"].verdict == "ok"
    assert report.verdict == "alert" and report.alerts() == ["inputs/a"]


def test_the_training_distribution_raises_at_most_5_percent_false_alarms(training):
    rng = np.random.default_rng(2)
    alarms = 0
    for _ in range(200):
        x = rng.normal(size=(WINDOW, 2))
        ids = rng.choice(3, size=WINDOW, p=[0.5, 0.3, 0.2])
        report = _report(training, x, ids)
        alarms += report.verdict == "alert"
    assert alarms <= 10  # 5% of 200


def test_a_shifted_class_mix_fails_the_chi_square(training):
    rng = np.random.default_rng(4)
    shifted = _report(
        training, rng.normal(size=(WINDOW, 2)), rng.choice(3, WINDOW, p=[0.2, 0.3, 0.5])
    )
    assert shifted.outputs["class_ids"].verdict == "alert"
    assert (
        shifted.outputs["class_ids"].chi2_p_value < 1e-6
        and shifted.outputs["class_ids"].chi2_dof == 2
    )


def test_too_few_live_rows_is_no_data(training):
    report = _report(training, np.zeros((5, 2)) + 9)
    assert report.inputs["a"].verdict == "no_data" and report.verdict == "no_data"


def test_a_text_oov_rate_rise_alerts():
    texts = np.array(["good film", "bad film", "good plot"] * 100)
    vocabulary = ["", "[UNK]", "good", "bad", "film", "plot"]
    stats = TrainingStatistics.compute("classification", "text", texts, vocabulary=vocabulary)
    window = LiveWindow(stats, size=300, vocabulary=vocabulary)
    window.add(np.array(["good movie", "bad film", "great plot"] * 100))
    text = window.report().inputs["text"]
    assert text.oov_rate_training == 0.0 and text.oov_rate_live == pytest.approx(2 / 6)
    assert text.verdict == "alert" and any("oov" in r for r in text.reasons)


def test_thresholds_can_be_loosened():
    training = summarize_categories(np.array([0] * 50 + [1] * 50), ["0", "1"])
    live = summarize_categories(np.array([0] * 40 + [1] * 60), ["0", "1"])
    assert compare(training, live).verdict == "ok"
    strict = Thresholds(p_warn=0.5, p_alert=0.2)
    assert compare(training, live, strict).verdict == "alert"


def test_the_window_keeps_only_its_last_rows(training):
    window = LiveWindow(training, size=100)
    for i in range(7):
        window.add(np.full((30, 2), float(i)))
    assert window.rows == 100
    held = window.statistics().inputs["a"]
    assert held.count == 100 and held.min == 3.0  # 10 of batch 3, then 4, 5, 6


def test_drift_report_is_json(training):
    report = drift_report(training, training)
    assert report.verdict == "ok"
    assert '"inputs"' in report.model_dump_json()


@pytest.mark.parametrize("dof", [1, 2, 5, 30])
def test_chi_square_p_values_match_scipy(dof):
    for statistic in (0.1, 1.0, dof, 3.0 * dof + 5):
        assert stat_tests.chi2_p(statistic, dof) == pytest.approx(
            scipy_stats.chi2.sf(statistic, dof), rel=1e-8, abs=1e-12
        )


def test_exact_ks_matches_scipy():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=300), rng.normal(0.2, 1.0, size=200)
    ours = stat_tests.ks_exact(a, b)
    theirs = scipy_stats.ks_2samp(a, b, method="asymp")
    assert ours.statistic == pytest.approx(theirs.statistic)
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=0.1)


def test_binned_ks_never_exceeds_the_exact_statistic():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=1000), rng.normal(0.3, 1.0, size=500)
    edges = np.quantile(a, np.linspace(0, 1, 11))
    binned = stat_tests.ks_binned(
        *(np.histogram(s, np.r_[-np.inf, edges, np.inf])[0] for s in (a, b))
    )
    assert 0 < binned.statistic <= stat_tests.ks_exact(a, b).statistic + 1e-12


def test_psi_of_identical_histograms_is_zero_and_grows_with_the_shift():
    assert stat_tests.psi(np.array([10, 20, 30]), np.array([1, 2, 3])) == pytest.approx(0.0)
    assert stat_tests.psi(np.array([50, 50]), np.array([90, 10])) == pytest.approx(
        0.4 * np.log(0.9 / 0.5) - 0.4 * np.log(0.1 / 0.5)
    )
