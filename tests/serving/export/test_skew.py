"""The skew check at publish, and the training statistics a version carries."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge.serving.card import read_card
from kerasforge.serving.export.skew import SkewError, check_skew
from kerasforge.serving.monitoring.statistics import read_statistics
from tests.conftest import DEFAULT_CONFIG, TINY

pytestmark = pytest.mark.heavy  # exports SavedModels


@pytest.fixture(scope="module")
def published(monitored_once):
    """The tiny digits classifier published with its statistics, shared with the monitoring
    and drift tests."""
    return monitored_once(DEFAULT_CONFIG, TINY)


@pytest.fixture(scope="module")
def statistics(published):
    return published.statistics


def test_statistics_summarise_the_digits_inputs_and_outputs(published, statistics):
    stats = read_statistics(statistics)
    assert stats.task == "classification" and stats.input_kind == "image"
    assert stats.rows == len(published.splits.x_train)
    assert stats.inputs["image_size"].categories == ["8x8"]
    assert stats.inputs["channel_0"].min >= 0 and stats.inputs["channel_0"].max <= 255
    assert stats.output_rows == len(published.splits.x_val)
    assert stats.outputs["class_ids"].total == len(published.splits.x_val)
    assert "probabilities" in stats.outputs and "classes" not in stats.outputs


def test_a_faithful_export_passes_the_skew_check(published):
    found = check_skew(
        published.published.path,
        published.model,
        published.published.card,
        published.splits.x_train,
    )
    assert {s.output for s in found} == {"class_ids", "probabilities"}
    assert all(s.gap < 1e-3 for s in found)


def test_an_export_that_rescales_its_inputs_fails_naming_the_output(published, tmp_path):
    import keras
    import tensorflow as tf

    from kerasforge.serving.export.contracts import endpoints

    card = published.published.card
    endpoint = endpoints(card, published.model)["serving_default"]
    archive = keras.export.ExportArchive()
    archive.track(published.model)
    archive.add_endpoint(
        name="serving_default",
        fn=lambda x: endpoint.fn(x / tf.constant(255.0)),  # training fed 0-255, this 0-1
        input_signature=endpoint.input_signature,
    )
    archive.write_out(str(tmp_path / "skewed"), verbose=False)
    with pytest.raises(SkewError, match=r"skew check: output '(class_ids|probabilities)' of "
                       r"serving_default .* nothing was published"):  # fmt: skip
        check_skew(tmp_path / "skewed", published.model, card, published.splits.x_train)


def test_a_publish_with_statistics_puts_them_beside_the_card(published, statistics, tmp_path):
    from kerasforge.serving.export.publish import publish

    done = publish(
        published.model,
        tmp_path,
        "digits",
        card=published.published.card,
        tflite=False,
        data=published.task.export_data(published.model, published.splits),
        statistics=statistics,
    )
    assert read_card(done.path).statistics == "statistics.json"
    assert read_statistics(done.path) == read_statistics(statistics)
    assert np.isfinite(read_statistics(done.path).inputs["channel_0"].mean)
