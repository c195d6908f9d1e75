"""The serving contract of each task: the signatures its SavedModel exports.

A task's trained Keras model takes raw inputs (its preprocessing is inside
the model); here each task names the signatures TF Serving (and the embedded
server, and TFLite) will expose and their named outputs. The exporter looks
the task up on the model card, so ``kerasforge export`` can republish a
checkpoint without training code. A new task adds one function here.

Every model gets, besides ``serving_default`` over the raw input tensor:

- image models: ``serving_bytes`` over encoded images (``image_bytes``,
  ``{"b64": ...}`` over REST), decoded, converted and resized in the graph
  (``serving.images``);
- tabular models: ``serving_features``, one ``[N]`` float input per column,
  named by the data's feature names (``feature_keys``);
- TF Serving's Classify / Regress APIs: ``classify`` (method
  ``tensorflow/serving/classify``: ``classes`` and ``scores``, each
  ``[N, classes]``) or ``regress`` (``tensorflow/serving/regress``:
  ``outputs``, ``[N]``; single-target models only), over serialized
  tf.Examples in ``inputs`` (``serving.examples``' request side).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kerasforge.serving.card import ExampleFeature, ModelCard, SignatureInfo
from kerasforge.serving.errors import ServingError

DEFAULT_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "serving_bytes"
FEATURES_SIGNATURE = "serving_features"
CLASSIFY_SIGNATURE = "classify"
REGRESS_SIGNATURE = "regress"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
EXAMPLES_INPUT = "inputs"
"""The serialized tf.Example input of classify/regress (TF Serving's ``kClassifyInputs``)."""
IMAGE_BYTES_INPUT = "image_bytes"
IMAGE_EXAMPLE_KEY = "pixels"
"""tf.Example key of an image: its raw pixels, ``[height, width, channels]`` flattened row-major."""
TEXT_EXAMPLE_KEY = "text"
"""tf.Example key of a text model's input: the raw string, UTF-8."""


@dataclass(frozen=True)
class Endpoint:
    """One signature to export: a function of named input tensors and its input specs.

    ``method_name`` is the SignatureDef's (TF Serving's Classify/Regress APIs check it);
    ``input_facts`` adds card facts per input (description, feature names, value range);
    ``example_features`` lists, for tf.Example signatures, the features they parse
    (as the card describes them).
    """

    fn: Callable[..., dict[str, Any]]
    input_signature: list[Any]
    method_name: str = PREDICT_METHOD
    input_facts: tuple[dict[str, Any], ...] = ()
    example_features: tuple[ExampleFeature, ...] = ()
    description: str = ""


def _raw_input_spec(model: Any) -> Any:
    import tensorflow as tf

    tensor = model.inputs[0]
    name = tensor.name.split(":")[0]
    return tf.TensorSpec((None, *tensor.shape[1:]), tf.as_dtype(tensor.dtype), name=name)


def traced_once(model: Any) -> Callable[[Any], Any]:
    """``model(x, training=False)`` as one ``tf.function`` over the raw input spec.

    A task's signatures (raw tensor, bytes or columns, tf.Examples) all end in the same
    forward pass; calling it through one function traces the model once per export,
    not once per signature, and the SavedModel holds one copy of its graph.
    """
    import tensorflow as tf

    return tf.function(lambda x: model(x, training=False), input_signature=[_raw_input_spec(model)])


def feature_keys(names: list[str] | tuple[str, ...], count: int) -> list[str]:
    """Input names and tf.Example keys for ``count`` tabular columns.

    The data's feature names, with every run of characters other than letters,
    digits and ``_`` replaced by one ``_`` (``"mean radius"`` -> ``mean_radius``,
    ``"color=red"`` -> ``color_red``); a name starting with a digit gets ``f_``
    in front; duplicates get ``_2``, ``_3``. Without names (or a count that
    does not match): ``feature_0``, ``feature_1``, ...
    """
    if len(names) != count:
        return [f"feature_{i}" for i in range(count)]
    keys: list[str] = []
    for i, name in enumerate(names):
        key = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or f"feature_{i}"
        key = f"f_{key}" if key[0].isdigit() else key
        base, n = key, 2
        while key in keys:
            key, n = f"{base}_{n}", n + 1
        keys.append(key)
    return keys


class _Inputs:
    """The raw input of one model and every other form a signature may take it in."""

    def __init__(self, model: Any, card: ModelCard) -> None:
        self.model, self.card = model, card
        self.spec = _raw_input_spec(model)
        self.shape = self.spec.shape.as_list()[1:]
        self.kind = card.data.get("inputs", "image" if len(self.shape) == 3 else "tabular")
        names = list(card.data.get("feature_names") or [])
        self.columns = int(self.shape[0]) if self.kind == "tabular" else 0
        self.keys = feature_keys(names, self.columns) if self.kind == "tabular" else []
        self.names = names if len(names) == self.columns else self.keys

    def raw_endpoint(self, head: Callable[[Any], dict[str, Any]]) -> Endpoint:
        """``head`` over the raw input tensor, described with the data's facts."""
        facts = {
            k: self.card.data[k] for k in ("value_range", "feature_names") if self.card.data.get(k)
        }
        return Endpoint(head, [self.spec], input_facts=(facts,), description="the raw input")

    def other_endpoints(self, head: Callable[[Any], dict[str, Any]]) -> dict[str, Endpoint]:
        """``serving_bytes`` (images) or ``serving_features`` (tabular) answering as ``head``."""
        if self.kind == "tabular":
            return {FEATURES_SIGNATURE: self._features_endpoint(head)}
        if self.kind != "image":  # sequences: the raw tensor and tf.Examples only
            return {}
        from kerasforge.serving.images import bytes_endpoint

        found = bytes_endpoint(self.shape, self.card.data.get("value_range"), head)
        return {BYTES_SIGNATURE: found} if found else {}

    def _features_endpoint(self, head: Callable[[Any], dict[str, Any]]) -> Endpoint:
        import tensorflow as tf

        specs = [tf.TensorSpec((None,), tf.float32, name=key) for key in self.keys]
        facts = tuple({"description": f"feature {name!r}"} for name in self.names)

        def serve(*columns: tf.Tensor) -> dict[str, tf.Tensor]:
            return head(tf.stack(columns, axis=-1))

        return Endpoint(serve, specs, input_facts=facts, description="one input per column")

    def examples_endpoint(
        self, head: Callable[[Any], dict[str, Any]], method: str
    ) -> dict[str, Endpoint]:
        """``head`` over serialized tf.Examples (one float feature per column, or the pixels).

        Named ``classify`` or ``regress`` after ``method``; none for an input of unknown size.
        A text model's tf.Example holds its string under ``text`` (one ``bytes_list`` value).
        """
        import tensorflow as tf

        if None in self.shape:
            return {}
        if self.kind == "tabular":
            features = {k: tf.io.FixedLenFeature([], tf.float32) for k in self.keys}
            described = tuple(ExampleFeature(key=k, dtype="float", shape=[1]) for k in self.keys)
        elif self.kind == "text":
            features = {TEXT_EXAMPLE_KEY: tf.io.FixedLenFeature([], tf.string)}
            described = (ExampleFeature(key=TEXT_EXAMPLE_KEY, dtype="bytes", shape=[1]),)
        else:
            size = math.prod(int(d) for d in self.shape)
            features = {IMAGE_EXAMPLE_KEY: tf.io.FixedLenFeature([size], tf.float32)}
            described = (ExampleFeature(key=IMAGE_EXAMPLE_KEY, dtype="float", shape=[size]),)

        def serve(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
            parsed = tf.io.parse_example(inputs, features)
            if self.kind == "tabular":
                x = tf.stack([parsed[k] for k in self.keys], axis=-1)
            elif self.kind == "text":
                x = parsed[TEXT_EXAMPLE_KEY]
            else:
                x = tf.reshape(parsed[IMAGE_EXAMPLE_KEY], [-1, *self.shape])
            return head(x)

        spec = tf.TensorSpec((None,), tf.string, name=EXAMPLES_INPUT)
        facts = ({"description": "serialized tf.Example protos (see example_features)"},)
        name = CLASSIFY_SIGNATURE if method == CLASSIFY_METHOD else REGRESS_SIGNATURE
        about = f"TF Serving's {name.capitalize()} API over tf.Examples"
        return {name: Endpoint(serve, [spec], method, facts, described, about)}


def classification(model: Any, card: ModelCard) -> dict[str, Endpoint]:
    """``serving_default``: raw input -> ``class_ids`` (int64), ``probabilities``, ``classes``.

    ``classes`` is the class name of ``class_ids``; ``classify`` answers every
    class name with its score, as TF Serving's Classify API expects.
    """
    import tensorflow as tf

    inputs = _Inputs(model, card)
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
    """Text models: the same answer over token ids (``serving.text``; what TFLite converts)."""
    from kerasforge.serving import text

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

    inputs = _Inputs(model, card)
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

    return {DEFAULT_SIGNATURE: _Inputs(model, card).raw_endpoint(serve)}


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

    return {DEFAULT_SIGNATURE: _Inputs(model, card).raw_endpoint(serve)}


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


CONTRACTS: dict[str, Callable[[Any, ModelCard], dict[str, Endpoint]]] = {
    "classification": classification,
    "regression": regression,
    "forecasting": forecasting,
    "anomaly_detection": anomaly_detection,
    "generation": generation,
}


def endpoints(card: ModelCard, model: Any) -> dict[str, Endpoint]:
    """The signatures ``card.task`` exports for ``model``.

    Raises:
        ServingError: no serving contract is known for the card's task.
    """
    if card.task not in CONTRACTS:
        raise ServingError(
            f"no serving contract for task {card.task!r}; known: {', '.join(sorted(CONTRACTS))}"
        )
    return CONTRACTS[card.task](model, card)


def request_inputs(
    info: SignatureInfo, x: np.ndarray, value_range: Sequence[float] | None = None
) -> dict[str, np.ndarray]:
    """Raw inputs ``x`` (a batch) as the named inputs of the signature ``info`` describes.

    The raw tensor as it is; one ``[N]`` array per column for ``serving_features``;
    PNG bytes for ``serving_bytes`` (pixels in ``value_range``, default 0-255,
    rounded to 8 bits); serialized tf.Examples for ``classify``/``regress``.
    Warm-up records and the tests speak each signature through this.
    """
    names = [t.name for t in info.inputs]
    if info.example_features:
        from kerasforge.serving import examples

        built = examples.build(x, info.example_features)
        return {EXAMPLES_INPUT: np.array([e.SerializeToString() for e in built], dtype=object)}
    if names == [IMAGE_BYTES_INPUT]:
        from kerasforge.serving.images import encode_png

        return {IMAGE_BYTES_INPUT: encode_png(x, value_range)}
    if len(names) > 1:
        columns = np.asarray(x, dtype="float32").reshape(len(x), -1)
        return {name: columns[:, i] for i, name in enumerate(names)}
    dtype = object if info.inputs[0].dtype == "string" else info.inputs[0].dtype
    return {names[0]: np.asarray(x, dtype=dtype)}


def write_method_names(saved_model_dir: Path, methods: dict[str, str]) -> None:
    """Set each named signature's ``method_name`` in ``saved_model.pb``.

    ``tf.saved_model.save`` (under ``keras.export.ExportArchive``) writes every
    signature as ``tensorflow/serving/predict`` and has no argument for
    another; TF Serving's Classify and Regress APIs (and the embedded server)
    look for ``tensorflow/serving/classify`` / ``regress``. Only the
    SignatureDef's method name changes; ``fingerprint.pb`` is rewritten to
    match the new file.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    path = saved_model_dir / "saved_model.pb"
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(path.read_bytes())
    defs = proto.meta_graphs[0].signature_def
    for name, method in methods.items():
        defs[name].method_name = method
    path.write_bytes(proto.SerializeToString())
    try:
        from tensorflow.python.saved_model import fingerprinting_utils
    except ImportError:  # a TensorFlow without fingerprints: nothing to keep in step
        return
    fingerprinting_utils.write_fingerprint(str(saved_model_dir))


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

    from kerasforge.models.seq2seq import text_decoder
    from kerasforge.serving.text import TOKENS_SIGNATURE

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


TEXT_INPUT, IDS_INPUT = "text", "source_ids"
CONTRACTS["seq2seq"] = seq2seq
