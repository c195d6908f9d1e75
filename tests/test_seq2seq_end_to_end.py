"""Sequence to sequence as a user runs it: train -> publish -> REST server -> edge runtime.

A tiny Bahdanau encoder-decoder, one epoch on the generated dates: the strings
decoded over REST (string in, string out) and by the edge runtime (a .txt file,
tokenised with the card) must be the ones the Keras model decodes.
"""

from __future__ import annotations

import json

import pytest

from kerasforge.serving.clients.rest_client import RestClient
from tests.conftest import ROOT, ServerProcess, run_edge

pytestmark = pytest.mark.heavy

TINY = [
    "train.epochs=1",
    "data.batch_size=256",
    "model.options.embedding_dim=8",
    "model.options.units=16",
    "export.tflite.variants=[float32]",
    # one epoch does not beat the baseline (tests/pipelines/test_release.py tests the
    # floor); this file tests the serving path of what is published
    "tracking.registry.gate.baseline_floor=false",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from kerasforge.pipelines.config.experiment import load_config
    from kerasforge.pipelines.training.train import train

    out = tmp_path_factory.mktemp("seq2seq_e2e")
    cfg = load_config(
        ROOT / "configs" / "dates_seq2seq_bahdanau.yaml", [*TINY, f"output_dir={out}"]
    )
    return cfg, train(cfg)


def test_training_reports_exact_match_attention_map_and_signatures(trained):
    _, result = trained
    assert result.headline[0] == "exact_match" and 0.0 <= result.headline[1] <= 1.0
    evaluation = {p.name for p in (result.run_dir / "evaluation").iterdir()}
    assert {"seq2seq_report.json", "attention.png"} <= evaluation
    card = result.card
    assert set(card.signatures) == {"serving_default", "serving_token_ids"}
    assert card.signature().input().dtype == "string"
    assert {"output", "attention"} <= {t.name for t in card.signature().outputs}
    assert card.tflite["variants"]["float32"]["select_tf_ops"] is False


def test_rest_and_edge_decode_what_keras_decodes(trained, tmp_path):
    from kerasforge.pipelines.tasks.seq2seq.training import decode

    cfg, result = trained
    sources = [str(s) for s in result.splits.x_test[:6]] + ["Wednesday, March 3, 2021"]
    task = result.task
    expected, _ = decode(result.model, task.target_length, task.start_id, sources)

    server = ServerProcess(cfg.output_dir / "models")
    try:
        predictions = RestClient(server.url).predict(cfg.export.model_name, sources)
    finally:
        server.stop()
    assert [p["output"] for p in predictions] == expected.tolist()
    assert len(predictions[0]["attention"]) == task.target_length
    assert len(predictions[0]["attention"][0]) == task.source_length

    (tmp_path / "dates.txt").write_text("\n".join(sources) + "\n")
    edge = run_edge(
        "predict", str(result.published.path / "model.tflite"), str(tmp_path / "dates.txt")
    )
    assert edge.returncode == 0, edge.stderr
    assert json.loads(edge.stdout)["output"] == expected.tolist()
