"""The TFRecord source: tf.Example records parsed by a declared feature spec."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.data.example_data import digit_images, write_digit_tfrecord
from kerasforge.pipelines.data.pipeline import load_source
from kerasforge.pipelines.errors import DataError
from tests.conftest import ROOT


def _file_config(path: Path, *overrides: str):
    cfg = load_config(
        ROOT / "configs" / "digits_tfrecord.yaml", [f"data.file.path={path}", *overrides]
    )
    return cfg.data.file


@pytest.fixture(scope="module")
def digits_records(tmp_path_factory) -> Path:
    return write_digit_tfrecord(tmp_path_factory.mktemp("tfr") / "digits.tfrecord", every=7)


def test_an_image_feature_makes_an_image_source(digits_records):
    data = load_source("tfrecord", _file_config(digits_records))
    images, labels = digit_images()
    assert data.info.inputs == "image" and data.x.shape == (len(labels[::7]), 8, 8, 1)
    np.testing.assert_array_equal(data.x[..., 0], images[::7])
    np.testing.assert_array_equal(data.y, labels[::7])
    assert data.info.class_names == tuple(str(d) for d in range(10))


def test_several_features_make_a_table(tmp_path):
    path = tmp_path / "table.tfrecords"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i in range(12):
            feature = {
                "size": tf.train.Feature(float_list=tf.train.FloatList(value=[i, i * 2.0])),
                "count": tf.train.Feature(int64_list=tf.train.Int64List(value=[i])),
                "kind": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 3])),
            }
            writer.write(
                tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
            )
    file = _file_config(
        path,
        "data.file.label=kind",
        "data.file.spec={size: {dtype: float32, shape: [2]}, count: {dtype: int64}}",
    )
    data = load_source("tfrecord", file)
    assert data.info.inputs == "tabular"
    assert data.info.feature_names == ("size[0]", "size[1]", "count")
    np.testing.assert_allclose(data.x[5], [5, 10, 5])
    np.testing.assert_array_equal(data.y, np.arange(12) % 3)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["data.file.spec={}"], r"data\.file\.spec: declare the input features"),
        (["data.file.spec={image: {dtype: int64, shape: [64]}}"], "image"),
        (["data.file.spec={pixels: {dtype: float32, shape: [64]}}"], "pixels"),
        (["data.file.spec={pixels: {dtype: int64, shape: [10]}}"], "pixels"),
        (["data.file.label=digit"], "digit"),
        (["data.file.spec={label: {dtype: int64}}"], "label feature, not an input"),
    ],
    ids=["no spec", "missing feature", "wrong dtype", "wrong shape", "missing label", "label"],
)
def test_a_spec_that_does_not_match_is_one_clear_error(digits_records, overrides, match):
    with pytest.raises(DataError, match=match) as caught:
        load_source("tfrecord", _file_config(digits_records, *overrides))
    assert "\n" not in str(caught.value)


def test_a_corrupt_file_is_one_clear_error(digits_records, tmp_path):
    broken = tmp_path / "broken.tfrecord"
    broken.write_bytes(digits_records.read_bytes()[:-40])
    with pytest.raises(DataError, match="is corrupt or truncated"):
        load_source("tfrecord", _file_config(broken))
