"""Published parameter counts at the canonical configurations (shapes only: no weight allocated)."""

from __future__ import annotations

import pytest

from kerasforge import models

# name, builder arguments beyond the defaults, expected count, relative tolerance (0 = exact)
CANONICAL = [
    ("vgg11", {}, 132_863_336, 0),
    ("vgg16", {}, 138_357_544, 0),
    ("vgg19", {}, 143_667_240, 0),
    ("resnet18", {}, 11_700_000, 0.005),
    ("resnet34", {}, 21_800_000, 0.005),
    ("resnet50", {}, 25_636_712, 0),  # Keras counts batch-norm moving statistics
    ("efficientnet_b0", {}, 5_330_571, 0),
    ("resnet20", {"input_shape": (32, 32, 3), "num_classes": 10}, 270_000, 0.02),
    ("lenet5", {"input_shape": (32, 32, 1), "num_classes": 10}, 61_706, 0),
]


@pytest.mark.parametrize(("name", "kwargs", "expected", "tolerance"), CANONICAL)
def test_canonical_parameter_counts(name, kwargs, expected, tolerance):
    assert models.parameter_count(name, **kwargs) == pytest.approx(expected, rel=tolerance)


@pytest.mark.heavy
def test_variants_scale_as_published():
    counts = [models.parameter_count(f"efficientnet_b{i}") for i in range(8)]
    assert counts == sorted(counts) and counts[7] == 66_658_687  # Keras' EfficientNetB7
    assert models.parameter_count("resnet101") == 44_707_176  # Keras' ResNet101
    assert models.parameter_count("resnet152") == 60_419_944  # Keras' ResNet152


def test_options_change_the_layout_not_the_name():
    plain = models.parameter_count("vgg11", input_shape=(32, 32, 3), num_classes=10)
    with_bn = models.parameter_count(
        "vgg11", input_shape=(32, 32, 3), num_classes=10, batch_norm=True
    )
    assert with_bn > plain  # batch norm adds 4 weights per channel, drops conv biases
    no_lrn = models.parameter_count("alexnet", lrn=False)
    assert no_lrn == models.parameter_count("alexnet"), "LRN has no weights"


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("vgg16", {"input_shape": (8, 8, 1)}, "needs at least 32x32 pixels; got"),
        ("resnet50", {"base_filters": 0}, "base_filters must be a positive integer; got 0"),
        ("lenet5", {"pooling": "sum"}, "pooling must be average or max; got 'sum'"),
        ("alexnet", {"filters": (1, 2)}, "filters must list 5 convolution widths"),
        ("efficientnet_b0", {"input_shape": (8, 8, 1)}, "set input_size"),
        ("transfer", {"backbone": "ResNet51"}, "backbone must be a keras.applications name"),
        ("transfer", {"mode": "gradual_unfreeze"}, "gradual_unfreeze needs unfreeze_epochs"),
        ("mlp", {"l2": -1.0}, r"l2 must be in \[0, 1\]; got -1.0"),
    ],
)
def test_bad_options_name_what_was_received(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.parameter_count(name, **kwargs)
