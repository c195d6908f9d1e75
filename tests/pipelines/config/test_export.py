"""The ``export`` section (``kerasforge.pipelines.config.export``): TFLite variants and budget."""

from __future__ import annotations

import pytest

from kerasforge.pipelines.config.experiment import ExperimentConfig, load_config
from kerasforge.pipelines.errors import ConfigError
from tests.conftest import ROOT


def test_export_tflite_accepts_the_boolean_shorthand_and_the_section():
    off = ExperimentConfig.model_validate({"export": {"tflite": False}}).export.tflite
    assert off.enabled is False
    on = ExperimentConfig.model_validate({"export": {"tflite": True}}).export.tflite
    assert on.enabled and on.variants == ["float32", "float16", "dynamic", "int8"]
    assert on.budget == 1.0
    cfg = load_config(ROOT / "configs" / "digits_cnn.yaml", ["export.tflite.budget=0.5"])
    assert cfg.export.tflite.budget == 0.5 and "int8" in cfg.export.tflite.variants


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("export.tflite.variants=[int4]", "export.tflite.variants.0"),
        ("export.tflite.variants=[int8, int8]", "each variant once"),
        ("export.tflite.variants=[]", "export.tflite.variants"),
        ("export.tflite.budget=-1", "export.tflite.budget"),
    ],
)
def test_bad_tflite_sections_name_the_key(override, expected):
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.")):
        load_config(ROOT / "configs" / "digits_cnn.yaml", [override])


def test_image_input_defaults_to_pixels_and_takes_encoded_for_image_classifiers():
    assert load_config(ROOT / "configs" / "digits_cnn.yaml").export.image_input == "pixels"
    cfg = load_config(ROOT / "configs" / "digits_cnn.yaml", ["export.image_input=encoded"])
    assert cfg.export.image_input == "encoded"


@pytest.mark.parametrize(
    ("config", "override", "expected"),
    [
        # a typo: the config's usual one line, naming the key, the values and the received one
        (
            "digits_cnn",
            "export.image_input=jpeg",
            "export.image_input must be 'pixels' or 'encoded'; received 'jpeg'",
        ),
        (
            "breast_cancer_mlp",
            "export.image_input=encoded",
            "over tabular inputs: set export.image_input: pixels",
        ),
        (
            "digits_conv_autoencoder",
            "export.image_input=encoded",
            "received task 'anomaly_detection' over image inputs",
        ),
    ],
)
def test_image_input_that_does_not_fit_is_one_line(config, override, expected):
    with pytest.raises(ConfigError) as caught:
        load_config(ROOT / "configs" / f"{config}.yaml", [override])
    assert expected in str(caught.value) and "\n" not in str(caught.value)
