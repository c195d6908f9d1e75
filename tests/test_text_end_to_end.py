"""Text classification as a user runs it: train -> publish -> REST with strings -> edge.

A tiny Transformer on the generated chase sentences, two epochs: the classes
served over REST for raw strings, and printed by the edge runtime for a text
file (tokenised in NumPy from the card's vocabulary), match the Keras model.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerasforge.serving.clients.rest_client import RestClient
from tests.e2e import cli_predict, edge_predict, serving, trained_fixture, write_inputs

pytestmark = pytest.mark.heavy

TINY = [
    "train.epochs=2",
    "model.options.embed_dim=16",
    "model.options.ff_dim=32",
    "export.tflite.variants=[float32,int8]",
    "data.augmentation.text.synonym_rate=0.1",
]

trained = trained_fixture("chase_transformer.yaml", TINY)


def test_the_card_describes_text_in_and_the_token_ids_tflite(trained):
    _, result = trained
    card = result.card
    assert card.signature().input().dtype == "string"
    assert card.signature().outputs and "serving_token_ids" in card.signatures
    tokenizer = card.preprocessing["tokenizer"]
    assert tokenizer["vocabulary"][:2] == ["", "[UNK]"] and "cat" in tokenizer["vocabulary"]
    assert "SELECT_TF_OPS" in tokenizer["tflite"]
    classify = card.signature("classify")
    assert classify.method_name == "tensorflow/serving/classify"
    assert [(f.key, f.dtype, f.shape) for f in classify.example_features] == [
        ("text", "bytes", [1])
    ]
    float32 = card.tflite["variants"]["float32"]
    assert not float32["select_tf_ops"] and float32["inputs"][0]["name"] == "token_ids"


def test_rest_with_strings_and_the_edge_on_a_text_file_answer_as_keras(trained, tmp_path):
    _, result = trained
    texts = [str(t) for t in result.splits.x_test[:10]]
    probabilities = result.model.predict(np.array(texts, dtype=object), verbose=0)
    names = [result.card.class_names[i] for i in probabilities.argmax(-1)]

    text_file = write_inputs(tmp_path / "texts.txt", texts)
    name = trained.model_name
    with serving(trained.models) as server:
        client = RestClient(server.url)
        predictions = client.predict(name, texts)
        classified = client.request(  # TF Serving's Classify API over tf.Examples
            "POST", f"{server.url}/v1/models/{name}:classify",
            {"signature_name": "classify", "examples": [{"text": t} for t in texts]},
        )  # fmt: skip
        command = cli_predict("--url", server.url, "--model", name, str(text_file))
    assert [p["classes"] for p in predictions] == names
    scores = [[score for _, score in result] for result in classified["results"]]
    np.testing.assert_allclose(scores, probabilities, atol=1e-5)
    assert all([c for c, _ in r] == result.card.class_names for r in classified["results"])
    np.testing.assert_allclose([p["probabilities"] for p in predictions], probabilities, atol=1e-5)
    assert command["predictions"] == predictions  # `kerasforge predict x.txt`

    float32 = result.published.path / "tflite" / "float32.tflite"  # int8 may be the edge model
    answer = edge_predict(float32, text_file)
    assert answer["class_names"] == names
    np.testing.assert_allclose(answer["probabilities"], probabilities, atol=1e-4)


def test_int8_takes_token_ids_as_integers_and_is_measured_on_the_edge(trained, tmp_path):
    """int8 calibrates on the training texts tokenised as the edge tokenises them; the ids
    stay int64 (no input quantization), the outputs are int8 with scale and zero-point."""
    _, result = trained
    int8 = result.card.tflite["variants"]["int8"]
    (ids,) = int8["inputs"]
    assert (ids["name"], ids["dtype"], ids["quantization"]) == ("token_ids", "int64", None)
    probabilities = next(o for o in int8["outputs"] if o["name"] == "probabilities")
    assert probabilities["dtype"] == "int8" and probabilities["quantization"]["scale"] > 0
    parity = json.loads((result.published.path / "parity.json").read_text())
    row = next(r for r in parity["rows"] if r["model"] == "int8")
    assert row["metric"] is not None and 0 <= row["agreement"] <= 1 and row["verdict"]

    texts = [str(t) for t in result.splits.x_test[:10]]
    text_file = write_inputs(tmp_path / "texts.txt", texts)
    answer = edge_predict(result.published.path / "tflite" / "int8.tflite", text_file)
    assert len(answer["class_ids"]) == len(texts)
    np.testing.assert_allclose(np.sum(answer["probabilities"], axis=1), 1.0, atol=0.05)
