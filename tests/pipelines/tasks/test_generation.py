"""The generation task on tiny untrained models: serving examples, export data, card, report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerasforge import models
from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.data.types import DataInfo
from kerasforge.pipelines.errors import ConfigError
from kerasforge.pipelines.tasks import get_task
from kerasforge.pipelines.tasks.generation.training import loss_drop
from tests.conftest import ROOT

INFO = DataInfo("digits", "image", "classes", tuple("0123456789"), value_range=(0.0, 255.0))


def _assembled(name: str):
    task = get_task("generation", {"samples": 4, "seed": 3})
    entry = models.get_entry(name)
    x = np.random.default_rng(0).uniform(0, 255, (10, 8, 8, 1)).astype("float32")
    model = task.assemble(models.build_model(name, **entry.tiny), entry, INFO, x, x[:, 0, 0, 0])
    return task, model, x


def _splits(x):
    from kerasforge.pipelines.data.types import Splits

    y = np.arange(len(x)) % 10
    return Splits(x, y, x[:4], y[:4], x[:6], y[:6], INFO, {"train": 10, "validation": 4, "test": 6})


def test_the_headline_and_the_served_examples_follow_the_family():
    task, vae, x = _assembled("vae")
    assert task.headline.metric == "reconstruction_loss" and task.headline.mode == "min"
    np.testing.assert_array_equal(task.serving_examples(vae, x), x)
    data = task.export_data(vae, _splits(x))
    np.testing.assert_array_equal(data.y_test, data.x_test)  # reconstruction targets

    task, gan, x = _assembled("dcgan")
    assert task.headline.metric == "discriminator_loss"
    latents = task.serving_examples(gan, x)
    assert latents.shape == (10, gan.latent_dim)
    np.testing.assert_array_equal(latents, task.serving_examples(gan, x))  # seeded
    data = task.export_data(gan, _splits(x))
    assert data.representative.shape == (10, gan.latent_dim)
    assert data.x_test.shape == (6, gan.latent_dim)


def test_a_model_that_is_not_generative_is_refused():
    task = get_task("generation")
    entry = models.get_entry("dense_autoencoder")
    backbone = models.build_model("dense_autoencoder", widths=(4,), latent_dim=2)
    with pytest.raises(
        ConfigError, match=r"needs a generative model .* received 'dense_autoencoder'"
    ):
        task.assemble(backbone, entry, INFO, np.zeros((2, 8, 8, 1)), np.zeros(2))


@pytest.mark.parametrize("name", ["vae", "dcgan"])
def test_card_and_report_write_the_sample_grid(name, tmp_path):
    task, model, x = _assembled(name)
    card = task.card(name, INFO)
    assert card.data["generation"]["family"] == name
    assert card.data["generation"]["latent_dim"] == model.latent_dim
    assert card.headline == task.headline
    run = tmp_path / "run"
    (run / "evaluation").mkdir(parents=True)
    (run / "history.csv").write_text("epoch,reconstruction_loss\n0,8.0\n1,5.0\n2,3.0\n")
    scores = task.report(model, _splits(x), run / "evaluation")
    written = {p.name for p in (run / "evaluation").iterdir()}
    assert {"samples.png", "generation_report.json"} <= written
    assert ("reconstructions.png" in written) == (name == "vae")
    if name == "vae":
        assert scores["train_reconstruction_loss_drop"] == pytest.approx(0.625)
    assert json.loads((run / "evaluation" / "generation_report.json").read_text()) == scores


def test_loss_drop_reads_the_first_and_last_epoch(tmp_path):
    history = tmp_path / "history.csv"
    assert loss_drop(history, "reconstruction_loss") == {}
    history.write_text("epoch,loss\n0,1.0\n")
    assert loss_drop(history, "reconstruction_loss") == {}
    history.write_text("epoch,reconstruction_loss\n0,10.0\n1,4.0\n")
    assert loss_drop(history, "reconstruction_loss")["train_reconstruction_loss_drop"] == 0.6


@pytest.mark.parametrize("config", ["digits_vae.yaml", "digits_dcgan.yaml"])
def test_configs_monitor_what_the_family_reports(config):
    cfg = load_config(ROOT / "configs" / config)
    assert cfg.task.name == "generation"
    with pytest.raises(ConfigError, match=r"train\.monitor: 'val_accuracy' is not reported"):
        load_config(ROOT / "configs" / config, ["train.monitor=val_accuracy"])
