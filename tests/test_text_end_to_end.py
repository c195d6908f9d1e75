"""Text classification as a user runs it: train -> publish -> REST with strings -> edge.

A tiny Transformer on the generated chase sentences, two epochs: the classes
served over REST for raw strings, and printed by the edge runtime for a text
file (tokenised in NumPy from the card's vocabulary), match the Keras model.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerasforge.serving.client import RestClient
from tests.conftest import ROOT, ServerProcess, run_cli, run_edge

pytestmark = pytest.mark.heavy

TINY = [
    "train.epochs=2",
    "model.options.embed_dim=16",
    "model.options.ff_dim=32",
    "export.tflite.variants=[float32]",
    "data.augmentation.text.synonym_rate=0.1",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from kerasforge.pipelines.config import load_config
    from kerasforge.pipelines.train import train

    out = tmp_path_factory.mktemp("text_e2e")
    cfg = load_config(ROOT / "configs" / "chase_transformer.yaml", [*TINY, f"output_dir={out}"])
    return cfg, train(cfg)


def test_the_card_describes_text_in_and_the_token_ids_tflite(trained):
    _, result = trained
    card = result.card
    assert card.signature().input().dtype == "string"
    assert card.signature().outputs and "serving_token_ids" in card.signatures
    tokenizer = card.preprocessing["tokenizer"]
    assert tokenizer["vocabulary"][:2] == ["", "[UNK]"] and "cat" in tokenizer["vocabulary"]
    assert "SELECT_TF_OPS" in tokenizer["tflite"]
    float32 = card.tflite["variants"]["float32"]
    assert not float32["select_tf_ops"] and float32["inputs"][0]["name"] == "token_ids"


def test_rest_with_strings_and_the_edge_on_a_text_file_answer_as_keras(trained, tmp_path):
    cfg, result = trained
    texts = [str(t) for t in result.splits.x_test[:10]]
    probabilities = result.model.predict(np.array(texts, dtype=object), verbose=0)
    names = [result.card.class_names[i] for i in probabilities.argmax(-1)]

    (tmp_path / "texts.txt").write_text("\n".join(texts) + "\n")
    server = ServerProcess(cfg.output_dir / "models")
    try:
        predictions = RestClient(server.url).predict(cfg.export.model_name, texts)
        name = cfg.export.model_name
        command = run_cli(
            "predict", "--url", server.url, "--model", name, str(tmp_path / "texts.txt")
        )
    finally:
        server.stop()
    assert [p["classes"] for p in predictions] == names
    np.testing.assert_allclose([p["probabilities"] for p in predictions], probabilities, atol=1e-5)
    assert command.returncode == 0, command.stderr
    assert json.loads(command.stdout)["predictions"] == predictions  # `kerasforge predict x.txt`

    edge = run_edge(
        "predict", str(result.published.path / "model.tflite"), str(tmp_path / "texts.txt")
    )
    assert edge.returncode == 0, edge.stderr
    answer = json.loads(edge.stdout)
    assert answer["class_names"] == names
    np.testing.assert_allclose(answer["probabilities"], probabilities, atol=1e-4)
