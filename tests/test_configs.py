"""Smoke test: every config in configs/ loads, validates, and builds its model on its own data."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.tasks import get_task
from kerasforge.pipelines.training.train import build_task_model, load_splits
from tests.conftest import ROOT

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def test_there_are_configs_for_both_tasks_so_far():
    assert {"digits_cnn.yaml", "diabetes_mlp.yaml"} <= {p.name for p in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_builds_its_model_with_its_own_input(path):
    cfg = load_config(path)
    task = get_task(cfg.task.name, cfg.task.options)
    splits = load_splits(cfg, task)
    model = build_task_model(cfg, task, splits)
    features = task.predict_examples(model, splits.x_test[:2], splits.y_test[:2])
    out = model.predict(features, verbose=0)  # seq2seq: a dict; a generator: latent vectors
    assert out.shape[0] == 2 and np.all(np.isfinite(out))
    if cfg.task.name == "classification":
        assert out.shape == (2, splits.num_classes)
        np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)
    assert cfg.export.model_name, "every config publishes under a name"
