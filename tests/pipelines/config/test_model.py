"""The ``model`` section (``kerasforge.pipelines.config.model``): a model too large for memory is
refused with its parameter count, before allocation.
"""

from __future__ import annotations

import pytest

from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.errors import ConfigError
from tests.conftest import DEFAULT_CONFIG, ROOT
from tests.pipelines.config_helpers import one_line


def _build(config, overrides):
    from kerasforge.pipelines.tasks import get_task
    from kerasforge.pipelines.training.train import build_task_model, load_splits

    cfg = load_config(config, overrides)
    task = get_task(cfg.task.name, cfg.task.options)
    return build_task_model(cfg, task, load_splits(cfg, task))


@pytest.mark.parametrize(
    ("config", "overrides", "expected"),
    [
        (
            DEFAULT_CONFIG,
            ["model.options.dense_units=1e9"],
            r"^model\.options: model 'digits_cnn' would have 2\.67e\+11 parameters \(1\.07 TB "
            r"of weights.*\); the limit is 200,000,000 \(model\.max_params\); reduce filters or "
            r"dense_units in model\.options",
        ),
        (
            ROOT / "configs" / "diabetes_mlp.yaml",
            ["model.options.width=1e9"],
            r"model 'mlp' would have 1e\+18 parameters.*reduce depth or width",
        ),
        (
            DEFAULT_CONFIG,
            ["model.max_params=1000"],
            r"would have 82,666 parameters.*limit is 1,000 ",
        ),
    ],
)
def test_a_model_too_large_is_refused_before_allocation(config, overrides, expected):
    """1 TB of weights would exhaust memory (16 s, then a traceback); shapes alone are built."""
    with pytest.raises(ConfigError, match=expected) as info:
        _build(config, overrides)
    one_line(info)


def test_the_size_check_builds_the_same_model():
    """Deferred weights get the names and values a plain build gives them."""
    import keras
    import numpy as np

    from kerasforge import models
    from kerasforge.pipelines.config.limits import build_within_limit

    def build():
        return models.build_model("digits_cnn", filters=(4,), dense_units=8)

    keras.utils.set_random_seed(3)
    checked = build_within_limit(build, "digits_cnn", max_params=10**6)
    keras.utils.set_random_seed(3)
    plain = build()
    assert [w.path for w in checked.weights] == [w.path for w in plain.weights]
    for mine, theirs in zip(checked.weights, plain.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
    x = np.random.default_rng(0).random((2, 8, 8, 1), dtype="float32")
    np.testing.assert_allclose(checked.predict(x, verbose=0), plain.predict(x, verbose=0))
