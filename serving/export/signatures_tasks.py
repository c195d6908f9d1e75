"""The serving contract of each task: the signatures its SavedModel exports.

A task's trained Keras model takes raw inputs (its preprocessing is inside
the model); here each task names the signatures TF Serving (and the embedded
server, and TFLite) will expose and their named outputs, one function per task
in :data:`CONTRACTS`. The exporter looks the task up on the model card
(``signatures.endpoints``), so ``kerasforge export`` can republish a
checkpoint without training code. A new task adds one function here and
names it in :data:`CONTRACTS`.

The pieces the tasks share live in ``serving/export/signatures.py``: the signature,
method and input names, :class:`~kerasforge.serving.export.signatures.Endpoint`, the
forward pass traced once, and the other forms a classifier's or regressor's
raw input takes (``serving_bytes``, ``serving_features``, ``classify`` /
``regress`` over tf.Examples).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..card import ModelCard
from ..wire import CLASSIFY_METHOD, REGRESS_METHOD
from .signatures import (
    DEFAULT_SIGNATURE,
    Endpoint,
    SignatureInputs,
    traced_once,
)

TEXT_INPUT = "text"
"""seq2seq's ``serving_default`` input: the source strings."""
IDS_INPUT = "source_ids"
"""seq2seq's ``serving_token_ids`` input: the source character ids."""


def classification(model: Any, card: ModelCard) -> dict[str, Endpoint]:
    """``serving_default``: raw input -> ``class_ids`` (int64), ``probabilities``, ``classes``.

    ``classes`` is the class name of ``class_ids``; ``classify`` answers every
    class name with its score, as TF Serving's Classify API expects.
    """
    import tensorflow as tf

    inputs = SignatureInputs(model, card)
    count = int(model.outputs[0].shape[-1])
    names = card.class_names if len(card.class_names) == count else [str(i) for i in range(count)]
    forward = traced_once(model)

    def predict(x: tf.Tensor) -> dict[str, tf.Tensor]:
        return answer(forward(x))

    def answer(probabilities: tf.Tensor) -> dict[str, tf.Tensor]:
        class_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {
            "class_ids": class_ids,
            "probabilities": probabilities,
            "classes": tf.gather(tf.constant(names), class_ids),
        }

    def classify(x: tf.Tensor) -> dict[str, tf.Tensor]:
        scores = forward(x)
        classes = tf.tile(tf.constant([names]), [tf.shape(scores)[0], 1])
        return {"classes": classes, "scores": scores}

    if inputs.kind == "text":
        return {
            DEFAULT_SIGNATURE: inputs.raw_endpoint(predict),
            **_token_ids_endpoint(model, answer),
            **inputs.examples_endpoint(classify, CLASSIFY_METHOD),
        }
    return {
        DEFAULT_SIGNATURE: inputs.raw_endpoint(predict),
        **inputs.other_endpoints(predict),
        **inputs.examples_endpoint(classify, CLASSIFY_METHOD),
    }


def _token_ids_endpoint(model: Any, answer: Callable[[Any], dict[str, Any]]) -> dict[str, Endpoint]:
    """Text models: the same answer over token ids (``export.text``; what TFLite converts)."""
    from . import text

    scorer = text.token_scorer(model)
    if scorer is None:
        return {}

    def serve(token_ids: Any) -> dict[str, Any]:
        return answer(scorer(token_ids, training=False))

    facts = ({"description": "token ids of preprocessing.tokenizer (0: padding, 1: unknown)"},)
    endpoint = Endpoint(serve, [text.token_ids_spec(model)], input_facts=facts,
                        description="token ids, as the .tflite takes them")  # fmt: skip
    return {text.TOKENS_SIGNATURE: endpoint}


def regression(model: Any, card: ModelCard) -> dict[str, Endpoint]:
    """``serving_default``: raw features -> ``values`` in the target's units.

    A single target comes out as one value per example (shape ``[N]``), several
    as ``[N, targets]``. ``regress`` (single target only: TF Serving's Regress
    API answers one value per example) answers the same values as ``outputs``.
    """
    import tensorflow as tf

    inputs = SignatureInputs(model, card)
    targets = int(model.outputs[0].shape[-1])
    forward = traced_once(model)

    def predict(x: tf.Tensor) -> dict[str, tf.Tensor]:
        values = forward(x)
        return {"values": tf.squeeze(values, axis=-1) if targets == 1 else values}

    def regress(x: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"outputs": predict(x)["values"]}

    found = {DEFAULT_SIGNATURE: inputs.raw_endpoint(predict), **inputs.other_endpoints(predict)}
    if targets == 1:
        found.update(inputs.examples_endpoint(regress, REGRESS_METHOD))
    return found


def forecasting(model: Any, card: ModelCard) -> dict[str, Endpoint]:
    """``serving_default``: raw ``window`` ``[N, steps, features]`` -> ``forecast``
    ``[N, horizon]`` in the target's units."""
    import tensorflow as tf

    def serve(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"forecast": model(inputs, training=False)}

    return {DEFAULT_SIGNATURE: SignatureInputs(model, card).raw_endpoint(serve)}


def anomaly_detection(model: Any, card: ModelCard) -> dict[str, Endpoint]:
    """``serving_default``: raw input -> ``reconstruction`` (raw units), ``anomaly_score``
    (mean squared reconstruction error per example) and ``is_anomaly`` (score above the
    threshold the model carries in its ``score_threshold`` layer; a constant in the graph).
    """
    import tensorflow as tf

    threshold = model.get_layer("score_threshold").threshold

    def serve(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        reconstruction = model(inputs, training=False)
        error = tf.reshape(tf.square(reconstruction - tf.cast(inputs, reconstruction.dtype)),
                           [tf.shape(inputs)[0], -1])  # fmt: skip
        score = tf.reduce_mean(error, axis=-1)
        return {
            "reconstruction": reconstruction,
            "anomaly_score": score,
            "is_anomaly": score > tf.convert_to_tensor(threshold),
        }

    return {DEFAULT_SIGNATURE: SignatureInputs(model, card).raw_endpoint(serve)}


def _latents_from_seeds(seeds: Any, latent_dim: int) -> Any:
    """One standard-normal latent vector per int64 seed (TensorFlow's stateless normal,
    seed pair ``[seed, 0]``): the same seed always gives the same vector."""
    import tensorflow as tf

    def draw(seed: tf.Tensor) -> tf.Tensor:
        pair = tf.stack([seed, tf.constant(0, tf.int64)])
        return tf.random.stateless_normal([latent_dim], seed=pair)

    return tf.map_fn(draw, seeds, fn_output_signature=tf.TensorSpec([latent_dim], tf.float32))


def generation(model: Any, card: ModelCard) -> dict[str, Endpoint]:
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


def seq2seq(model: Any, card: ModelCard) -> dict[str, Endpoint]:
    """``serving_default``: ``text`` strings ``[N]`` -> ``output`` (the decoded strings),
    ``token_ids`` ``[N, T]``, ``probabilities`` ``[N, T, ids]`` and ``attention``
    ``[N, T, source length]`` (zeros for a model without attention).

    ``serving_token_ids`` (as a text classifier's) answers the same numeric outputs for
    ``source_ids`` ``[N, source length]`` (int32, the card's ``tokens`` index them, 0
    pads): the form TFLite converts with its builtins (string ops would need
    SELECT_TF_OPS), the edge runtime tokenising with the card. Tokenisation and greedy
    decoding run in the graph (``models.seq2seq.text_decoder``).
    """
    import tensorflow as tf

    from ...models.seq2seq import text_decoder
    from .text import TOKENS_SIGNATURE

    facts = card.data["seq2seq"]
    run = text_decoder(model, int(facts["output_length"]), int(facts["start_id"]))

    def serve(text: tf.Tensor) -> dict[str, tf.Tensor]:
        return run(text)

    def serve_ids(source_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        return run.decoder(source_ids)

    text_spec = tf.TensorSpec((None,), tf.string, name=TEXT_INPUT)
    ids_spec = tf.TensorSpec((None, int(facts["source_length"])), tf.int32, name=IDS_INPUT)
    return {
        DEFAULT_SIGNATURE: Endpoint(
            serve, [text_spec], input_facts=({"description": "source strings (UTF-8)"},),
            description="a string in, the greedily decoded string out, with attention weights",
        ),
        TOKENS_SIGNATURE: Endpoint(
            serve_ids, [ids_spec],
            input_facts=({"description": "source character ids (data.seq2seq.tokens; 0 pads)"},),
            description="source ids in, decoded ids out (the form TFLite converts)",
        ),
    }  # fmt: skip


CONTRACTS: dict[str, Callable[[Any, ModelCard], dict[str, Endpoint]]] = {
    "classification": classification,
    "regression": regression,
    "forecasting": forecasting,
    "anomaly_detection": anomaly_detection,
    "generation": generation,
    "seq2seq": seq2seq,
}
