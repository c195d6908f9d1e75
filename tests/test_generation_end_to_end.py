"""Generation as a user runs it: train a VAE and a DCGAN -> publish -> REST -> edge runtime.

Tiny models, one or two epochs each, one server for both: the REST answers of
every signature and the edge runtime's images must match the Keras models.
"""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge.serving.clients.rest_client import RestClient
from tests.e2e import edge_predict, serving, train_config, write_inputs

pytestmark = pytest.mark.heavy

TINY = {
    "vae": ["train.epochs=2", "model.options.widths=[16]", "model.options.latent_dim=2"],
    "dcgan": ["train.epochs=1", "model.options.filters=[8]", "model.options.latent_dim=4"],
}


def _train(name: str, out):
    overrides = [*TINY[name], "export.tflite.variants=[float32]"]
    # one or two epochs do not beat the baseline (tests/pipelines/tracking/test_release.py tests
    # the floor); this file tests the serving path of what is published
    overrides.append("tracking.registry.gate.baseline_floor=false")
    return train_config(f"digits_{name}.yaml", overrides, out)


def test_vae_and_dcgan_train_publish_serve_and_run_on_the_edge(tmp_path):
    (vae_cfg, vae), (gan_cfg, gan) = _train("vae", tmp_path), _train("dcgan", tmp_path)
    assert vae.headline[0] == "reconstruction_loss" and vae.headline[1] > 0
    assert "train_reconstruction_loss_drop" in vae.test_metrics
    assert gan.headline[0] == "discriminator_loss"
    assert {"test_generator_loss", "test_discriminator_loss"} <= set(gan.test_metrics)
    for result in (vae, gan):
        assert (result.run_dir / "evaluation" / "samples.png").is_file()

    x = vae.splits.x_test[:3].astype("float32")
    z = gan.task.serving_examples(gan.model, x)
    with serving(tmp_path / "models") as server:
        client = RestClient(server.url)
        reconstructed = client.predict(vae_cfg.export.model_name, x.tolist())
        sampled = client.predict(vae_cfg.export.model_name, [4, 4], signature_name="sample")
        generated = client.predict(gan_cfg.export.model_name, z.tolist())
    # One output: TF Serving's row format answers the bare value per instance.
    np.testing.assert_allclose(reconstructed, vae.model.predict(x, verbose=0), rtol=1e-5, atol=1e-3)
    assert sampled[0] == sampled[1]  # the same seed, the same image
    latent = np.array([sampled[0]["latent"]], dtype="float32")
    np.testing.assert_allclose(
        [sampled[0]["image"]], vae.model.decoder.predict(latent, verbose=0), atol=1e-3
    )
    np.testing.assert_allclose(generated, gan.model.predict(z, verbose=0), rtol=1e-5, atol=1e-3)

    latents = write_inputs(tmp_path / "latents.npy", z)
    images = edge_predict(gan.published.path / "model.tflite", latents)["image"]
    np.testing.assert_allclose(images, gan.model.predict(z, verbose=0), atol=1e-2)
    png = tmp_path / "vae.png"
    digits = write_inputs(tmp_path / "digits.npy", x)
    answer = edge_predict(vae.published.path / "model.tflite", digits, "--output", str(png))
    assert answer == {"model": str(vae.published.path / "model.tflite"),
                      "output": str(png), "images": 3}  # fmt: skip
    assert png.stat().st_size > 0
