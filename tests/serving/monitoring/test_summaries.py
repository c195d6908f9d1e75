"""Summaries are exact on small known inputs, and merging batches equals one pass."""

import json

import numpy as np
import pytest

from kerasforge.serving.monitoring.statistics import (
    TrainingStatistics,
    read_statistics,
    write_statistics,
)
from kerasforge.serving.monitoring.summaries import (
    NumericSummary,
    bin_index,
    merge,
    quantile_edges,
    summarize_categories,
    summarize_numeric,
)


def test_a_numeric_summary_of_known_values_is_exact():
    values = np.array([1.0, 2.0, 3.0, 4.0, np.nan, 10.0])
    found = summarize_numeric(values, [2.0, 4.0])
    assert found.count == 5 and found.missing == 1
    assert (found.min, found.max) == (1.0, 10.0)
    assert found.mean == pytest.approx(4.0)  # (1+2+3+4+10)/5
    assert found.std == pytest.approx(np.sqrt((9 + 4 + 1 + 0 + 36) / 5))
    # under (<2): 1; [2,4]: 2, 3, 4 (the last inner bin is closed); over (>4): 10
    assert found.counts == [1, 3, 1]


def test_bins_put_edges_where_the_docstring_says():
    edges = [0.0, 1.0, 2.0]
    assert bin_index(np.array([-1.0, 0.0, 0.5, 1.0, 2.0, 2.5]), edges).tolist() == [
        0, 1, 1, 2, 2, 3,
    ]  # fmt: skip


def test_quantile_edges_of_0_to_100_are_the_deciles_and_the_reported_levels():
    edges = quantile_edges(np.arange(101.0), bins=10)
    assert edges == pytest.approx([0.0, 1.0, 5.0, 10.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0,
                                   70.0, 75.0, 80.0, 90.0, 95.0, 99.0, 100.0])  # fmt: skip
    found = summarize_numeric(np.arange(101.0), edges)
    assert found.quantiles["0.5"] == pytest.approx(50.0, abs=0.5)
    assert found.quantiles["0.25"] == pytest.approx(25.0, abs=0.5)


def test_merging_batches_equals_summarising_them_at_once():
    rng = np.random.default_rng(3)
    values = rng.normal(2.0, 3.0, size=1000)
    values[::97] = np.nan
    edges = quantile_edges(values[:200])
    whole = summarize_numeric(values, edges)
    parts = [summarize_numeric(values[i : i + 300], edges) for i in range(0, 1000, 300)]
    merged = parts[0]
    for part in parts[1:]:
        merged = merge(merged, part)
    assert isinstance(merged, NumericSummary)
    assert merged.counts == whole.counts and merged.missing == whole.missing
    assert merged.mean == pytest.approx(whole.mean) and merged.std == pytest.approx(whole.std)
    assert (merged.min, merged.max) == (whole.min, whole.max)


def test_merging_different_edges_is_refused():
    with pytest.raises(ValueError, match="different edges"):
        merge(summarize_numeric(np.ones(3), [0.0, 1.0]), summarize_numeric(np.ones(3), [0.0]))


def test_categories_count_the_rest_as_other():
    found = summarize_categories(np.array([0, 1, 1, 2, 7]), ["0", "1", "2"])
    assert found.counts == [1, 2, 1] and found.other == 1 and found.total == 5


def test_tabular_statistics_round_trip_through_statistics_json(tmp_path):
    x = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, np.nan], [4.0, 40.0]])
    outputs = {"class_ids": np.array([0, 1, 1, 1]), "probabilities": np.array([[0.9, 0.1]] * 4)}
    stats = TrainingStatistics.compute(
        "classification", "tabular", x, outputs, feature_names=["a", "b"]
    )
    assert stats.inputs["a"].mean == pytest.approx(2.5)
    assert stats.inputs["b"].missing == 1 and stats.inputs["b"].count == 3
    assert stats.outputs["class_ids"].counts == [1, 3]
    assert stats.outputs["probabilities"].mean == pytest.approx(0.9)  # each row's top score
    path = write_statistics(tmp_path, stats)
    assert json.loads(path.read_text())["schema_version"] == 1
    assert read_statistics(tmp_path) == stats


def test_image_statistics_hold_channels_and_sizes():
    x = np.zeros((2, 4, 4, 3), "uint8")
    x[..., 1] = 255
    stats = TrainingStatistics.compute("classification", "image", x)
    assert stats.inputs["channel_0"].max == 0 and stats.inputs["channel_1"].min == 255
    assert stats.inputs["channel_2"].count == 2 * 16
    assert stats.inputs["image_size"].categories == ["4x4"]


def test_series_statistics_hold_values_and_steps():
    x = np.array([[[1.0], [2.0], [4.0]], [[0.0], [0.0], [3.0]]])
    stats = TrainingStatistics.compute("forecasting", "series", x, feature_names=["y"])
    assert stats.inputs["y"].mean == pytest.approx(10.0 / 6)
    steps = stats.inputs["y.step"]  # 1, 2, 0, 3
    assert steps.count == 4 and steps.mean == pytest.approx(1.5) and steps.max == 3.0


def test_text_statistics_count_words_and_the_out_of_vocabulary_rate():
    texts = np.array(["The cat sat.", "a DOG", "cat cat"])
    stats = TrainingStatistics.compute(
        "classification", "text", texts, vocabulary=["", "[UNK]", "cat", "the"]
    )
    text = stats.inputs["text"]
    assert text.token_count == 7 and text.length.mean == pytest.approx(7 / 3)
    assert text.oov_count == 3  # sat, a, dog
    assert text.tokens.counts[text.tokens.categories.index("cat")] == 3


def test_a_newer_schema_is_refused_with_a_clear_line(tmp_path):
    from kerasforge.serving.monitoring.statistics import StatisticsError

    (tmp_path / "statistics.json").write_text('{"schema_version": 99}')
    with pytest.raises(StatisticsError, match="newer than this kerasforge reads"):
        read_statistics(tmp_path)
