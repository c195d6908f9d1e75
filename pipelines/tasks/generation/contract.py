"""Generation's serving contract: a VAE's ``serving_default`` (reconstruction), ``encode``,
``decode`` and ``sample``; a DCGAN's ``serving_default`` (latent to image) and ``sample``;
the reconstruction loss over served outputs (none for a generator).

TensorFlow is imported inside the functions that build graphs only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ....serving.export.signatures import DEFAULT_SIGNATURE, Endpoint
from .. import Contract

if TYPE_CHECKING:
    from ....serving.card import ModelCard


def _latents_from_seeds(seeds: Any, latent_dim: int) -> Any:
    """One standard-normal latent vector per int64 seed (TensorFlow's stateless normal,
    seed pair ``[seed, 0]``): the same seed always gives the same vector."""
    import tensorflow as tf

    def draw(seed: tf.Tensor) -> tf.Tensor:
        pair = tf.stack([seed, tf.constant(0, tf.int64)])
        return tf.random.stateless_normal([latent_dim], seed=pair)

    return tf.map_fn(draw, seeds, fn_output_signature=tf.TensorSpec([latent_dim], tf.float32))


def endpoints(model: Any, card: ModelCard) -> dict[str, Endpoint]:
    """A VAE: ``serving_default`` (pixels -> reconstructed ``image``), ``encode`` (pixels ->
    ``latent_mean``, ``latent_log_var``), ``decode`` (``latent`` -> ``image``), ``sample``
    (``seed`` -> ``image``, ``latent``). A DCGAN: ``serving_default`` (``latent`` ->
    ``image``) and ``sample``. Images are 0-255 pixels; latents ``[N, latent_dim]``."""
    import tensorflow as tf

    dim = int(model.latent_dim)
    gan = hasattr(model, "generator")
    generate = model.generator if gan else model.decoder
    latent = tf.TensorSpec((None, dim), tf.float32, name="latent")
    latent_facts = ({"description": f"latent vectors, standard normal prior, {dim} values"},)

    def from_latent(z: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"image": generate(z, training=False)}

    def sample(seed: tf.Tensor) -> dict[str, tf.Tensor]:
        z = _latents_from_seeds(seed, dim)
        return {"image": generate(z, training=False), "latent": z}

    seeds = tf.TensorSpec((None,), tf.int64, name="seed")
    seed_facts = ({"description": "one int64 seed per image; the same seed, the same image"},)
    found = {
        "sample": Endpoint(sample, [seeds], input_facts=seed_facts,
                           description="a seeded draw from the prior, decoded"),
    }  # fmt: skip
    if gan:
        about = "the generator: latent vectors to images"
        return {DEFAULT_SIGNATURE: Endpoint(from_latent, [latent], input_facts=latent_facts,
                                            description=about), **found}  # fmt: skip
    pixels = tf.TensorSpec((None, *model.image_shape), tf.float32, name="pixels")
    pixel_facts = ({"value_range": card.data.get("value_range") or [0.0, 255.0]},)

    def reconstruct(x: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"image": model(x, training=False)}

    def encode(x: tf.Tensor) -> dict[str, tf.Tensor]:
        z_mean, z_log_var = model.encoder(x, training=False)
        return {"latent_mean": z_mean, "latent_log_var": z_log_var}

    return {
        DEFAULT_SIGNATURE: Endpoint(reconstruct, [pixels], input_facts=pixel_facts,
                                    description="reconstruction from the posterior mean"),
        "encode": Endpoint(encode, [pixels], input_facts=pixel_facts,
                           description="the posterior's mean and log-variance"),
        "decode": Endpoint(from_latent, [latent], input_facts=latent_facts,
                           description="latent vectors to images"),
        **found,
    }  # fmt: skip


def score(y_true: np.ndarray, outputs: dict[str, np.ndarray], scale: float) -> float | None:
    """The reconstruction loss of the served ``image`` (``None`` for a generator)."""
    return reconstruction_loss(y_true, outputs["image"])


def reconstruction_loss(y_true: np.ndarray, image: np.ndarray) -> float | None:
    """Generation: summed squared error of [0, 1]-scaled pixels per example, averaged, when
    ``y_true`` holds the input images (a VAE); ``None`` for a generator (no ground truth)."""
    image = np.asarray(image, "float64")
    if np.shape(y_true) != image.shape:
        return None
    error = np.square((image - np.asarray(y_true, "float64")) / 255.0).reshape(len(image), -1)
    return float(np.mean(error.sum(axis=1)))


def edge_answer(outputs: dict[str, np.ndarray], card: ModelCard | None) -> dict[str, Any]:
    """``{"image": [N, H, W, C] 0-255 pixels}``: generated, or a VAE's reconstruction."""
    return {"image": np.asarray(outputs["image"]).tolist()}


CONTRACT = Contract(
    name="generation",
    inputs=("image",),
    backbones=("generative",),
    main_output="image",
    endpoints=endpoints,
    score=score,
    edge_answer=edge_answer,
)
