"""The generation serving contract: VAE encode/decode/sample/reconstruction, the DCGAN's
generator, seeded sampling, the card, TFLite and the edge runtime's JSON and PNG answers."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import ROOT, run_edge

pytestmark = pytest.mark.heavy  # exports, servers or training in its fixtures

TINY = {
    "vae": ["model.options.widths=[8]", "model.options.latent_dim=2"],
    "dcgan": ["model.options.filters=[4]", "model.options.latent_dim=3"],
}


@pytest.fixture(scope="module", params=["vae", "dcgan"])
def exported(request, tmp_path_factory):
    """A tiny untrained VAE or DCGAN published with float32 TFLite, and its loaded SavedModel."""
    return export_tiny(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def exported_vae(exported, tmp_path_factory):
    """The VAE of ``exported`` (exported again only when this module's order needs it)."""
    return exported if exported.cfg.model.name == "vae" else export_tiny("vae", tmp_path_factory)


def export_tiny(name: str, tmp_path_factory) -> SimpleNamespace:
    import tensorflow as tf

    from kerasforge.pipelines.config.experiment import load_config
    from kerasforge.pipelines.tasks import get_task
    from kerasforge.pipelines.training.train import build_task_model, load_splits
    from kerasforge.serving.export.publish import publish
    from kerasforge.serving.export.tflite import TFLiteOptions

    cfg = load_config(ROOT / "configs" / f"digits_{name}.yaml", TINY[name])
    task = get_task(cfg.task.name, cfg.task.options)
    splits = load_splits(cfg, task)
    model = build_task_model(cfg, task, splits)
    card = task.card(cfg.model.name, splits.info)
    published = publish(
        model,
        tmp_path_factory.mktemp(name),
        name,
        card=card,
        tflite=TFLiteOptions(("float32",)),
        data=task.export_data(model, splits),
    )
    loaded = tf.saved_model.load(str(published.path)).signatures
    return SimpleNamespace(
        cfg=cfg, task=task, splits=splits, model=model, published=published, loaded=loaded
    )


def _call(signatures, name, **inputs):
    import tensorflow as tf

    outputs = signatures[name](**{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in outputs.items()}


def test_the_card_describes_each_family_s_signatures(exported):
    card = exported.published.card
    family = exported.cfg.model.name
    expected = {"serving_default", "sample"} | ({"encode", "decode"} if family == "vae" else set())
    assert set(card.signatures) == expected
    assert card.signature("sample").input().name == "seed"
    assert card.signature("sample").input().dtype == "int64"
    assert {t.name for t in card.signature("sample").outputs} == {"image", "latent"}
    served = card.signature().input()
    assert served.name == ("pixels" if family == "vae" else "latent")
    assert all(card.signature(n).description for n in expected)
    assert card.data["generation"]["family"] == family
    assert card.headline.metric == (
        "reconstruction_loss" if family == "vae" else "discriminator_loss"
    )


def test_sample_is_seeded_and_decodes_its_latent(exported):
    seeds = np.array([0, 1, 0, 7], dtype="int64")
    first = _call(exported.loaded, "sample", seed=seeds)
    again = _call(exported.loaded, "sample", seed=seeds)
    np.testing.assert_array_equal(first["image"], again["image"])
    np.testing.assert_array_equal(first["image"][0], first["image"][2])  # same seed, same image
    assert not np.array_equal(first["latent"][0], first["latent"][1])
    model = exported.model
    generator = model.generator if exported.cfg.model.name == "dcgan" else model.decoder
    keras_images = generator.predict(first["latent"], verbose=0)
    np.testing.assert_allclose(first["image"], keras_images, rtol=1e-5, atol=1e-4)
    assert first["image"].shape == (4, 8, 8, 1)
    assert first["image"].min() >= 0.0 and first["image"].max() <= 255.0


def test_vae_encode_decode_and_reconstruction_match_keras(exported_vae):
    exported = exported_vae  # a DCGAN exports its generator only
    model, x = exported.model, exported.splits.x_test[:6].astype("float32")
    encoded = _call(exported.loaded, "encode", pixels=x)
    z_mean, z_log_var = model.encoder.predict(x, verbose=0)
    np.testing.assert_allclose(encoded["latent_mean"], z_mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(encoded["latent_log_var"], z_log_var, rtol=1e-5, atol=1e-5)
    decoded = _call(exported.loaded, "decode", latent=z_mean)["image"]
    reconstructed = _call(exported.loaded, "serving_default", pixels=x)["image"]
    np.testing.assert_allclose(reconstructed, decoded, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(reconstructed, model.predict(x, verbose=0), rtol=1e-5, atol=1e-4)


def test_warm_up_and_parity_cover_the_served_input(exported):
    from kerasforge.serving.export.warmup import read_warmup

    path = exported.published.path
    names = {signature for signature, _ in read_warmup(path)}
    vae = exported.cfg.model.name == "vae"
    assert names == ({"serving_default", "encode"} if vae else {"serving_default"})
    report = json.loads((path / "parity.json").read_text())
    float32 = next(r for r in report["rows"] if r["model"] == "float32")
    assert float32["max_abs_diff"] < 1e-3  # 0-255 pixels
    assert (report["keras_metric"] is not None) == vae  # a generator has no ground truth


def test_edge_prints_the_image_and_writes_a_png(exported, tmp_path):
    from PIL import Image

    tflite = str(exported.published.path / "model.tflite")
    examples = exported.task.serving_examples(exported.model, exported.splits.x_test[:3])
    np.save(tmp_path / "batch.npy", examples)
    edge = run_edge("predict", tflite, str(tmp_path / "batch.npy"))
    assert edge.returncode == 0, edge.stderr
    image = np.array(json.loads(edge.stdout)["image"])
    assert image.shape == (3, 8, 8, 1)
    np.testing.assert_allclose(image, exported.model.predict(examples, verbose=0), atol=1e-3)

    png = tmp_path / "out.png"
    edge = run_edge("predict", tflite, str(tmp_path / "batch.npy"), "--output", str(png))
    assert edge.returncode == 0, edge.stderr
    assert json.loads(edge.stdout)["images"] == 3
    with Image.open(png) as picture:
        assert picture.size == (24, 8) and picture.mode == "L"


def test_edge_draws_latents_from_a_seed_for_generators_only(exported, tmp_path):
    tflite = str(exported.published.path / "model.tflite")
    edge = run_edge("predict", tflite, "--seed", "5", "--count", "2")
    if exported.cfg.model.name == "vae":
        assert edge.returncode == 2
        assert "--seed draws latent vectors" in edge.stderr and "Traceback" not in edge.stderr
        return
    assert edge.returncode == 0, edge.stderr
    first = json.loads(edge.stdout)["image"]
    assert np.array(first).shape == (2, 8, 8, 1)
    assert (
        json.loads(run_edge("predict", tflite, "--seed", "5", "--count", "2").stdout)["image"]
        == first
    )
