"""Generation: a VAE or a DCGAN learns the training images and generates new ones.

The registered model (``vae``, ``dcgan``) is the whole model: it takes raw
0-255 pixels, scales them inside its graph and trains itself in its own
``train_step`` (no compiled loss). The headline depends on the family:

- ``vae``: ``reconstruction_loss`` on the test split (lower is better): the
  summed squared error of [0, 1]-scaled pixels of each test image against its
  reconstruction from the posterior mean, averaged over images;
- ``dcgan``: ``discriminator_loss`` on the test split: the discriminator's
  binary cross-entropy on real test images plus on as many generated ones. A GAN
  has no likelihood to report; this says how well the generator fools the
  discriminator (``ln 4 = 1.386`` when the discriminator cannot tell them apart,
  lower when it can), so higher is better for the generator, up to that value.

The served graph of a DCGAN takes latent vectors, not images: ``serving_examples``
turns data examples into the inputs its exported ``serving_default`` takes
(seeded standard-normal latents), for the warm-up records, the parity report, the
MLflow input example and the sample request.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from ....serving.card import Headline, ModelCard
from ...errors import ConfigError
from ..base import Baseline, ReconstructionPairs, Task, TaskOptions
from .contract import CONTRACT

if TYPE_CHECKING:
    import keras

    from ....models.registry import ModelEntry
    from ....serving.export.tflite import ExportData
    from ...data.types import DataInfo, Splits

VAE_HEADLINE = Headline(metric="reconstruction_loss", mode="min")
GAN_HEADLINE = Headline(metric="discriminator_loss", mode="max")
REPRESENTATIVE = 500
"""Serving examples kept for warm-up records and int8 calibration."""
VAE_MARGIN = 0.1
"""A VAE's margin as a fraction of the baseline's loss: it must reconstruct the test images
at least 10 % better than the training mean image does."""
GAN_MARGIN = 0.01
"""A DCGAN's margin, in nats: its generator must fool the discriminator more than the mean
image does, by more than the rounding between Keras's float32 test loss and this float64
baseline (about 1e-6), so a generator of the mean image itself is refused."""
PIXEL_MAX = 255.0
"""The largest 8-bit pixel value: the generative models scale pixels to [0, 1] by it."""


class GenerationOptions(TaskOptions):
    """``samples``: images in the MLflow sample grid; ``seed``: seed of every latent the task
    draws (the sample grid, a DCGAN's serving examples)."""

    samples: int = Field(default=16, ge=1, le=100)
    seed: int = Field(default=0, ge=0)


def is_gan(model: Any) -> bool:
    """True for a DCGAN (it has a generator and a discriminator), False for a VAE."""
    return hasattr(model, "generator") and hasattr(model, "discriminator")


def latents(count: int, latent_dim: int, seed: int) -> np.ndarray:
    """``count`` standard-normal latent vectors from NumPy's generator seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count, latent_dim)).astype("float32")


class Generation(ReconstructionPairs, Task):
    """A generative model of images; headline on the test split (see the module)."""

    name = CONTRACT.name
    Options = GenerationOptions
    inputs = CONTRACT.inputs
    targets = "classes"
    headline = VAE_HEADLINE
    metrics: ClassVar[dict[str, str]] = {
        "reconstruction_loss": "min",
        "kl_loss": "min",
        "generator_loss": "min",
        "discriminator_loss": "max",
    }
    options: GenerationOptions

    def assemble(
        self,
        backbone: keras.Model,
        entry: ModelEntry,
        info: DataInfo,
        x_train: np.ndarray,
        y_train: np.ndarray,
    ) -> keras.Model:
        """The registered model as it is (it scales pixels itself); sets the headline."""
        if not hasattr(backbone, "latent_dim"):
            raise ConfigError(
                f"model.name: task 'generation' needs a generative model (vae, dcgan); "
                f"received {entry.name!r}"
            )
        self.headline = GAN_HEADLINE if is_gan(backbone) else VAE_HEADLINE
        self.latent_dim = int(backbone.latent_dim)
        return backbone

    def compile_arguments(self) -> dict[str, Any]:
        return {}  # the model's train_step computes its own losses

    def serving_examples(self, model: keras.Model, x: np.ndarray) -> np.ndarray:
        """Images for a VAE; as many seeded latent vectors for a DCGAN."""
        if is_gan(model):
            return latents(len(x), int(model.latent_dim), self.options.seed)
        return np.asarray(x, dtype="float32")

    def export_data(self, model: keras.Model, splits: Splits) -> ExportData:
        """A VAE's parity targets are its test images (the reconstruction loss is measured
        against them); a DCGAN's served inputs are latents, and its parity report has no
        metric (only the outputs' difference from Keras)."""
        from ....serving.export.tflite import ExportData

        train = self.serving_examples(model, splits.x_train[:REPRESENTATIVE])
        if is_gan(model):  # test latents drawn apart from the warm-up ones
            test = latents(len(splits.x_test), int(model.latent_dim), self.options.seed + 1)
            return ExportData(train, test, np.asarray(splits.y_test))
        test = np.asarray(splits.x_test, dtype="float32")
        return ExportData(train, test, test)

    def card(self, architecture: str, info: DataInfo) -> ModelCard:
        card = super().card(architecture, info)
        gan = self.headline == GAN_HEADLINE
        generation = {
            "family": "dcgan" if gan else "vae",
            "latent_dim": getattr(self, "latent_dim", None),
            "latent_prior": "standard normal",
            "headline": (
                "discriminator_loss: binary cross-entropy of the discriminator on real test "
                "images plus as many generated ones; 1.386 (ln 4) when it cannot tell them "
                "apart, lower when it can"
                if gan
                else "reconstruction_loss: summed squared error of [0, 1]-scaled pixels of each "
                "test image against its reconstruction from the posterior mean, averaged"
            ),
            "seeded": "the sample signature's `seed` picks the latent vector (TensorFlow's "
            "stateless normal): the same seed gives the same image",
        }
        return card.model_copy(update={"data": {**card.data, "generation": generation}})

    def preprocessing_facts(self, info: DataInfo) -> dict[str, Any]:
        return {
            "scaling": "0-255 pixels scaled to [0, 1] inside the model",
            "outputs": "generated and reconstructed images in 0-255 pixels",
        }

    def report(self, model: keras.Model, splits: Splits, folder: Path) -> dict[str, float]:
        """The sample grid (and a VAE's reconstructions), the first-to-last epoch drop of the
        training reconstruction loss (VAE), and a JSON report."""
        from ...tracking import plots
        from ...training.callbacks import HISTORY_FILE

        folder.mkdir(parents=True, exist_ok=True)
        z = latents(self.options.samples, int(model.latent_dim), self.options.seed)
        generator = model if is_gan(model) else model.decoder  # a VAE decodes prior draws
        samples = generator.predict(z, verbose=0)
        family = "dcgan" if is_gan(model) else "vae"
        plots.sample_grid(
            samples, folder / "samples.png", f"{family} samples (seed {self.options.seed})"
        )
        scores: dict[str, float] = {}
        if not is_gan(model):
            shown = np.asarray(splits.x_test[:8], dtype="float32")
            recon = model.predict(shown, verbose=0)
            plots.reconstructions(shown, recon, folder / "reconstructions.png")
            scores.update(loss_drop(folder.parent / HISTORY_FILE, "reconstruction_loss"))
        (folder / "generation_report.json").write_text(json.dumps(scores, indent=2))
        return scores

    def baseline(self, model: keras.Model, splits: Splits) -> Baseline:
        """The training split's mean image as every reconstruction (VAE) or every generated
        image (DCGAN), scored as the test headline is.

        VAE: ``mean_image_loss``, margin ``VAE_MARGIN`` of it. DCGAN: ``discriminator_baseline``
        with the trained discriminator, margin ``GAN_MARGIN``. A streamed source's arrays are
        a bounded sample of each split, so there both are estimates.
        """
        mean_image = np.asarray(splits.x_train, "float64").mean(axis=0)
        if is_gan(model):
            value = discriminator_baseline(model, splits.x_test, mean_image)
            return Baseline("training mean image", value, GAN_MARGIN)
        value = mean_image_loss(splits.x_test, mean_image)
        return Baseline("training mean image", value, VAE_MARGIN * value)


def mean_image_loss(images: np.ndarray, mean_image: np.ndarray) -> float:
    """A VAE's test ``reconstruction_loss`` had it reconstructed every image as ``mean_image``:
    the summed squared error of [0, 1]-scaled pixels of each image, averaged over images."""
    images = np.asarray(images, "float64")
    error = np.square((images - mean_image) / PIXEL_MAX).reshape(len(images), -1)
    return float(np.mean(error.sum(axis=1)))


def discriminator_baseline(model: keras.Model, real: np.ndarray, fake_image: np.ndarray) -> float:
    """A DCGAN's test ``discriminator_loss`` had its generator always drawn ``fake_image``.

    ``DCGAN.test_step``: binary cross-entropy of the discriminator's logits on the real
    images (labelled 1) plus on as many fakes (labelled 0), batch means weighted by batch
    size, which is the mean over all real images plus the loss of the one repeated fake.
    One forward pass of the discriminator (inference mode: no dropout) over ``real``.
    """
    images = np.concatenate([np.asarray(real, "float32"), np.asarray(fake_image, "float32")[None]])
    logits = np.asarray(model.discriminator.predict(images, verbose=0), "float64").reshape(-1)
    real_loss = np.mean(np.logaddexp(0.0, -logits[:-1]))  # -log sigmoid(logit), stable
    fake_loss = np.logaddexp(0.0, logits[-1])  # -log(1 - sigmoid(logit))
    return float(real_loss + fake_loss)


def loss_drop(history_csv: Path, metric: str) -> dict[str, float]:
    """``metric`` of the first and last training epochs in the run's history, and the
    fraction it fell by (``train_<metric>_drop``); empty when the history lacks it."""
    if not history_csv.is_file():
        return {}
    with history_csv.open() as f:
        values = [float(row[metric]) for row in csv.DictReader(f) if row.get(metric)]
    if not values:
        return {}
    first, last = values[0], values[-1]
    return {
        f"train_{metric}_first_epoch": first,
        f"train_{metric}_last_epoch": last,
        f"train_{metric}_drop": (first - last) / first if first else 0.0,
    }


TASK = Generation
