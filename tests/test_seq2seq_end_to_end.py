"""Sequence to sequence as a user runs it: train -> publish -> REST server -> edge runtime.

A tiny Bahdanau encoder-decoder, one epoch on the generated dates: the strings
decoded over REST (string in, string out) and by the edge runtime (a .txt file,
tokenised with the card) must be the ones the Keras model decodes.
"""

from __future__ import annotations

import pytest

from tests.e2e import edge_predict, rest_predict, trained_fixture, write_inputs

pytestmark = pytest.mark.heavy

TINY = [
    "train.epochs=1",
    "data.batch_size=256",
    "model.options.embedding_dim=8",
    "model.options.units=16",
    "export.tflite.variants=[float32]",
    # one epoch does not beat the baseline (tests/pipelines/tracking/test_release.py tests the
    # floor); this file tests the serving path of what is published
    "tracking.registry.gate.baseline_floor=false",
]

trained = trained_fixture("dates_seq2seq_bahdanau.yaml", TINY)


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

    _, result = trained
    sources = [str(s) for s in result.splits.x_test[:6]] + ["Wednesday, March 3, 2021"]
    task = result.task
    expected, _ = decode(result.model, task.target_length, task.start_id, sources)

    predictions = rest_predict(trained.models, trained.model_name, sources)
    assert [p["output"] for p in predictions] == expected.tolist()
    assert len(predictions[0]["attention"]) == task.target_length
    assert len(predictions[0]["attention"][0]) == task.source_length

    dates = write_inputs(tmp_path / "dates.txt", sources)
    answer = edge_predict(result.published.path / "model.tflite", dates)
    assert answer["output"] == expected.tolist()
