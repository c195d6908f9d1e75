"""The registry-wide check for the image classifiers (LeNet-5, AlexNet, VGG, ResNet,
EfficientNet, transfer learning, the digits CNN); ``test_registry.py`` holds the rest."""

import pytest

from tests.models.test_registry import FULL_CASES, IMAGE_CASES, check_model

pytestmark = pytest.mark.heavy  # exports, servers or training in its fixtures


def test_the_two_modules_check_every_full_case_once():
    from tests.models.test_registry import OTHER_CASES

    assert sorted(IMAGE_CASES + OTHER_CASES) == sorted(FULL_CASES)
    assert IMAGE_CASES and OTHER_CASES


@pytest.mark.parametrize(
    ("name", "task_name"), IMAGE_CASES, ids=[f"{n}-{t}" for n, t in IMAGE_CASES]
)
def test_every_image_classifier_builds_saves_exports_and_trains(name, task_name, tmp_path):
    check_model(name, task_name, tmp_path)
