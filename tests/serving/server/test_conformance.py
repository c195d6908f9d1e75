"""Conformance sweep: for every signature of every family's published model, the REST
API (row and columnar formats), the gRPC API (official stubs over a real channel) and
the SavedModel called in-process give the same answer.

One repository holds an untrained model of each family, published as ``kerasforge
train`` publishes (gate and warm-up records included, TFLite skipped); one ``kerasforge
serve`` process serves it. The requests are the version's own warm-up records: real
raw inputs for every signature, in that signature's request format.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import numpy as np
import pytest
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from kerasforge.serving.card import ModelCard, TensorInfo, read_card
from kerasforge.serving.clients.rest_client import RestClient
from kerasforge.serving.edge.text import tokenizer_for
from kerasforge.serving.export.signatures import DEFAULT_SIGNATURE, EXAMPLES_INPUT
from kerasforge.serving.export.warmup import WarmupRequest, read_warmup
from tests.conftest import ROOT, TINY, ServerProcess, publish_untrained

pytestmark = pytest.mark.heavy

FAMILIES = {  # model name in the repository: (config, tiny overrides)
    "digits_cnn": ("digits_cnn", TINY),
    "breast_cancer_mlp": ("breast_cancer_mlp", ["model.options.width=4"]),
    "diabetes_mlp": ("diabetes_mlp", ["model.options.width=4"]),
    "co2_lstm": ("co2_lstm", ["model.options.units=[4]", "data.series.stride=4"]),
    "digits_dense_autoencoder": (
        "digits_dense_autoencoder",
        ["model.options.widths=[8]", "model.options.latent_dim=2"],
    ),
    "digits_vae": ("digits_vae", ["model.options.widths=[8]", "model.options.latent_dim=2"]),
    "digits_dcgan": ("digits_dcgan", ["model.options.filters=[4]", "model.options.latent_dim=3"]),
    "chase_transformer": (
        "chase_transformer",
        ["model.options.embed_dim=8", "model.options.ff_dim=8", "model.options.num_heads=1"],
    ),
    "dates_seq2seq_bahdanau": (
        "dates_seq2seq_bahdanau",
        ["model.options.embedding_dim=4", "model.options.units=8"],
    ),
}
PER_SIGNATURE = 2
"""Warm-up requests replayed per signature (the default signature has 100)."""


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("conformance")
    (out / "repository").mkdir()
    for name, (config, overrides) in FAMILIES.items():
        overrides = [*overrides, f"export.model_name={name}"]
        publish_untrained(ROOT / "configs" / f"{config}.yaml", overrides, out / name, tflite=False)
        (out / name / "models" / name).rename(out / "repository" / name)
    return out / "repository"


@pytest.fixture(scope="module")
def served(repository: Path) -> Iterator[SimpleNamespace]:
    server = ServerProcess(repository)
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    try:
        yield SimpleNamespace(rest=RestClient(server.url), grpc=stub)
    finally:
        channel.close()
        server.stop()


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_signature_answers_alike_over_rest_grpc_and_in_process(name, repository, served):
    import tensorflow as tf

    version_dir = repository / name / "1"
    card = read_card(version_dir)
    loaded = tf.saved_model.load(str(version_dir))
    assert set(card.signatures) == set(loaded.signatures)
    requests = _requests(version_dir, card)
    assert {r.signature for r in requests} == set(card.signatures), "a signature went untested"
    for request in requests:
        method = card.signatures[request.signature].method_name
        called = loaded.signatures[request.signature](
            **{k: tf.constant(v) for k, v in request.inputs.items()}
        )
        expected = {k: v.numpy() for k, v in called.items()}
        where = f"{name} {request.signature}"
        if method.endswith("/predict"):
            _check_predict(served, name, request, expected, where)
        else:
            _check_examples(served, name, request, method, expected, where)


def _requests(version_dir: Path, card: ModelCard) -> list[WarmupRequest]:
    """The version's warm-up requests, ``PER_SIGNATURE`` of each signature, and made-up
    ones for the signatures that get no record (latent vectors, seeds, token ids)."""
    chosen: list[WarmupRequest] = []
    for request in read_warmup(version_dir):
        if sum(r.signature == request.signature for r in chosen) < PER_SIGNATURE:
            chosen.append(request)
    texts = next((r.inputs for r in chosen if r.signature == DEFAULT_SIGNATURE), {})
    for signature in sorted(set(card.signatures) - {r.signature for r in chosen}):
        info = card.signatures[signature]
        (tensor,) = info.inputs
        chosen.append(WarmupRequest(signature, {tensor.name: _made_up(tensor, card, texts)}))
    return chosen


def _made_up(tensor: TensorInfo, card: ModelCard, texts: dict[str, np.ndarray]) -> np.ndarray:
    """Two rows for a signature no warm-up record calls."""
    tokenizer = tokenizer_for(card)
    if tokenizer is not None and tensor.dtype.startswith("int") and len(tensor.shape) == 2:
        (strings,) = texts.values()  # the string signature's inputs, tokenised as the edge does
        return np.asarray(tokenizer(list(strings)), dtype=tensor.dtype)
    shape = [2, *(d or 1 for d in tensor.shape[1:])]
    if tensor.dtype.startswith("int"):  # seeds
        return np.arange(2 * int(np.prod(shape[1:]))).reshape(shape).astype(tensor.dtype)
    return np.random.default_rng(0).standard_normal(shape).astype(tensor.dtype)


def _check_predict(served, name, request, expected, where) -> None:
    """gRPC Predict, REST columnar ``inputs`` and REST row ``instances``."""
    import tensorflow as tf

    grpc_request = predict_pb2.PredictRequest()
    grpc_request.model_spec.name = name
    grpc_request.model_spec.signature_name = request.signature
    for key, value in request.inputs.items():
        grpc_request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    reply = served.grpc.Predict(grpc_request, timeout=60)
    assert set(reply.outputs) == set(expected), where
    for key, proto in reply.outputs.items():
        got = tf.make_ndarray(proto)
        assert got.dtype == expected[key].dtype and got.shape == expected[key].shape, where
        _same(got.tolist(), expected[key], key, f"{where} gRPC")

    url = f"{served.rest.base_url}/v1/models/{name}:predict"
    body = {k: _to_json(k, v) for k, v in request.inputs.items()}
    columnar = served.rest.request(
        "POST", url, {"signature_name": request.signature, "inputs": body}
    )["outputs"]
    columns = columnar if len(expected) > 1 else {next(iter(expected)): columnar}
    for key, value in expected.items():
        _same(columns[key], value, key, f"{where} REST columnar")

    rows = [{k: v[i] for k, v in body.items()} for i in range(len(next(iter(body.values()))))]
    instances = rows if len(body) > 1 else [row[next(iter(body))] for row in rows]
    predictions = served.rest.request(
        "POST", url, {"signature_name": request.signature, "instances": instances}
    )["predictions"]
    for key, value in expected.items():
        got = [p[key] for p in predictions] if len(expected) > 1 else predictions
        _same(got, value, key, f"{where} REST rows")


def _check_examples(served, name, request, method, expected, where) -> None:
    """gRPC Classify / Regress and REST ``:classify`` / ``:regress`` over the same tf.Examples."""
    examples = [example_pb2.Example.FromString(s) for s in request.inputs[EXAMPLES_INPUT]]
    classify = method.endswith("/classify")
    proto = (
        classification_pb2.ClassificationRequest if classify else regression_pb2.RegressionRequest
    )
    grpc_request = proto()
    grpc_request.model_spec.name = name
    grpc_request.model_spec.signature_name = request.signature
    grpc_request.input.example_list.examples.extend(examples)
    call = served.grpc.Classify if classify else served.grpc.Regress
    result = call(grpc_request, timeout=60).result
    url = f"{served.rest.base_url}/v1/models/{name}:{'classify' if classify else 'regress'}"
    body = {"signature_name": request.signature, "examples": [_example_json(e) for e in examples]}
    rest = served.rest.request("POST", url, body)["results"]
    if classify:
        labels = [[c.label for c in r.classes] for r in result.classifications]
        scores = [[c.score for c in r.classes] for r in result.classifications]
        _same(labels, expected["classes"], "classes", f"{where} gRPC")
        _same(scores, expected["scores"], "scores", f"{where} gRPC")
        _same([[pair[0] for pair in r] for r in rest], expected["classes"], "classes", where)
        _same([[pair[1] for pair in r] for r in rest], expected["scores"], "scores", where)
    else:
        (values,) = expected.values()
        flat = values.reshape(len(examples))
        _same([r.value for r in result.regressions], flat, "outputs", f"{where} gRPC")
        _same(rest, flat, "outputs", f"{where} REST")


def _to_json(name: str, array: np.ndarray) -> list[Any]:
    """A request value as TF Serving's JSON: UTF-8 text, or ``{"b64"}`` for ``*_bytes``."""
    if array.dtype != object:
        return array.tolist()
    return np.vectorize(lambda v: _string_json(name, v), otypes=[object])(array).tolist()


def _string_json(name: str, value: bytes) -> Any:
    if name.endswith("_bytes"):
        return {"b64": base64.b64encode(value).decode()}
    return value.decode()


def _example_json(example: Any) -> dict[str, list[Any]]:
    """A tf.Example as REST's ``examples`` entry: float features as numbers, bytes features
    (a text model's string) as UTF-8 text."""
    return {
        k: [v.decode() for v in f.bytes_list.value]
        if f.WhichOneof("kind") == "bytes_list"
        else list(f.float_list.value)
        for k, f in example.features.feature.items()
    }


def _same(got: Any, expected: np.ndarray, name: str, where: str) -> None:
    """``got`` (JSON values or a list) equals ``expected`` (the in-process answer)."""
    if expected.dtype == object:
        want = _to_json(name, expected)
        if not name.endswith("_bytes"):
            got = np.vectorize(
                lambda v: v.decode() if isinstance(v, bytes) else v, otypes=[object]
            )(np.asarray(got, dtype=object)).tolist()
        assert got == want, f"{where}: {name} differs"
        return
    np.testing.assert_allclose(
        np.asarray(got, dtype="float64"), expected, rtol=1e-6, atol=1e-6, err_msg=f"{where}: {name}"
    )
