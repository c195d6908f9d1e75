"""The skew check's input side: the export's in-graph preprocessing against the training data.

Each skewed export here is written by the real exporter (``publish.write_saved_model``)
from a card that misdescribes the data, as a stale or hand-edited card would: the export
then preprocesses requests differently from how training fed the model.
"""

from __future__ import annotations

import pytest

from kerasforge.serving.export.publish import write_saved_model
from kerasforge.serving.export.skew import SkewError, check_input_skew
from tests.conftest import ROOT

pytestmark = pytest.mark.heavy  # exports SavedModels

DIABETES = "diabetes_mlp.yaml"


@pytest.fixture(scope="module")
def diabetes(published_once):
    return published_once(ROOT / "configs" / DIABETES, [], tflite=False)


def test_a_faithful_tabular_export_hands_the_model_the_training_columns(diabetes):
    card = diabetes.published.card
    found = check_input_skew(
        diabetes.published.path, card.signatures, card, diabetes.splits.x_train
    )
    names = {s.output for s in found}
    assert "serving_features:bmi" in names and "regress:bmi" in names
    assert all(s.gap < 1e-3 and s.ks < 1e-6 for s in found)


def test_an_export_stacking_its_columns_in_another_order_fails_naming_the_feature(
    diabetes, tmp_path
):
    card = diabetes.published.card
    names = list(card.data["feature_names"])
    age, sex = names.index("age"), names.index("sex")
    names[age], names[sex] = names[sex], names[age]  # the export's columns: sex, age, ...
    skewed = card.model_copy(update={"data": {**card.data, "feature_names": names}})
    signatures = write_saved_model(diabetes.model, tmp_path / "skewed", skewed)
    named = r"input feature '(age|sex)' after the in-graph preprocessing of "
    with pytest.raises(SkewError, match=named + r"(serving_features|regress) .*nothing was"):
        check_input_skew(tmp_path / "skewed", signatures, card, diabetes.splits.x_train)


def test_a_faithful_image_export_decodes_to_the_training_pixels(published):
    card = published.published.card
    found = check_input_skew(
        published.published.path, card.signatures, card, published.splits.x_train
    )
    assert {s.output for s in found} >= {"serving_bytes:channel_0", "classify:channel_0"}
    # against the training pixels as each form carries them (PNG: rounded to 8 bits)
    assert all(s.gap < 1e-3 and (s.ks or 0.0) < 1e-6 for s in found)


def test_an_export_decoding_to_another_pixel_scale_fails_naming_the_channel(published, tmp_path):
    card = published.published.card
    skewed = card.model_copy(update={"data": {**card.data, "value_range": [0.0, 16.0]}})
    signatures = write_saved_model(published.model, tmp_path / "skewed", skewed)
    with pytest.raises(SkewError, match=r"input feature 'channel_0' after the in-graph "
                       r"preprocessing of serving_bytes .*nothing was published"):  # fmt: skip
        check_input_skew(tmp_path / "skewed", signatures, card, published.splits.x_train)


def test_the_publish_step_refuses_a_skewed_export_and_copies_no_statistics(diabetes, tmp_path):
    from kerasforge.pipelines.training.statistics import compute_statistics
    from kerasforge.serving.export.skew import with_statistics
    from kerasforge.serving.monitoring.statistics import STATISTICS_FILE, write_statistics

    card = diabetes.published.card
    stats = compute_statistics(diabetes.model, card, diabetes.splits)
    statistics = write_statistics(tmp_path, stats)
    names = list(card.data["feature_names"])
    names[names.index("bmi")], names[names.index("sex")] = "sex", "bmi"
    skewed = card.model_copy(update={"data": {**card.data, "feature_names": names}})
    staging = tmp_path / "staging"
    signatures = write_saved_model(diabetes.model, staging, skewed)
    data = diabetes.task.export_data(diabetes.model, diabetes.splits)
    with pytest.raises(SkewError, match=r"input feature '(bmi|sex)'"):
        with_statistics(staging, diabetes.model, card, statistics, data, signatures)
    assert not (staging / STATISTICS_FILE).exists()
