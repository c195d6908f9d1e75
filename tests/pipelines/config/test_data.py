"""The ``data`` section (``kerasforge.pipelines.config.data``)."""

from __future__ import annotations

from kerasforge.pipelines.config.experiment import load_config
from tests.conftest import DEFAULT_CONFIG


def test_data_classes_take_names_or_the_numbers_yaml_reads():
    assert load_config(DEFAULT_CONFIG, ["data.classes=[5, 6]"]).data.classes == ["5", "6"]
    assert load_config(DEFAULT_CONFIG, ["data.classes=[cat, dog]"]).data.classes == ["cat", "dog"]
