"""TFLite variants, their JSON metadata, the parity report and the accuracy budget."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerasforge.serving.edge.compat import OLDEST_RUNTIME, runs_on
from kerasforge.serving.edge.runtime import EdgeModel
from kerasforge.serving.export import tflite
from kerasforge.serving.export.parity import ParityReport, Row, choose_edge_model
from tests.conftest import run_edge


@pytest.fixture(scope="module")
def version(published):
    return published.published.path


def test_every_variant_is_written_with_its_json(version, published):
    card = published.published.card
    for name in tflite.VARIANTS:
        path = version / "tflite" / f"{name}.tflite"
        assert path.stat().st_size > 1000, name
        sidecar = json.loads(path.with_suffix(".json").read_text())
        assert sidecar["variant"] == name and sidecar["task"] == "classification"
        assert sidecar["labels"] == [str(i) for i in range(10)]
        assert sidecar["select_tf_ops"] is False, "digits_cnn needs builtin ops only"
        assert [t["name"] for t in sidecar["inputs"]] == ["pixels"]
        assert {t["name"] for t in sidecar["outputs"]} == {"class_ids", "probabilities"}
        assert sidecar["preprocessing"]["value_range"] == [0.0, 255.0]
        assert card.tflite["variants"][name]["size_bytes"] == path.stat().st_size


def test_int8_has_int8_input_and_output_with_scale_and_zero_point(version, published):
    sidecar = json.loads((version / "tflite" / "int8.json").read_text())
    pixels = sidecar["inputs"][0]
    assert pixels["dtype"] == "int8"
    assert pixels["quantization"]["scale"] > 0
    assert -128 <= pixels["quantization"]["zero_point"] <= 127
    probabilities = next(t for t in sidecar["outputs"] if t["name"] == "probabilities")
    assert probabilities["dtype"] == "int8" and probabilities["quantization"]["scale"] > 0
    assert "zero_point" in sidecar["preprocessing"]["quantize_inputs"]
    on_card = published.published.card.tflite["variants"]["int8"]["inputs"][0]
    assert on_card["quantization"] == pixels["quantization"]
    float32 = json.loads((version / "tflite" / "float32.json").read_text())
    assert float32["inputs"][0]["dtype"] == "float32"
    assert float32["inputs"][0]["quantization"] is None


def test_the_edge_runtime_quantizes_and_dequantizes_transparently(version, published):
    x = published.splits.x_test[:64].astype("float32")
    keras_probs = published.model.predict(x, verbose=0)
    int8 = EdgeModel(version / "tflite" / "int8.tflite")
    out = int8.outputs(x)
    assert out["probabilities"].dtype == np.float32
    # int8 output steps are 1/256: dequantized probabilities sit within a few steps of Keras
    assert np.abs(out["probabilities"] - keras_probs).max() < 0.05
    float32 = EdgeModel(version / "tflite" / "float32.tflite").outputs(x)
    np.testing.assert_allclose(float32["probabilities"], keras_probs, atol=1e-5)
    np.save(version.parent / "batch.npy", x[:3])
    proc = run_edge(
        "predict", str(version / "tflite" / "int8.tflite"), str(version.parent / "batch.npy")
    )
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert len(answer["class_ids"]) == 3 and answer["class_names"][0] in int8.card.class_names
    assert all(isinstance(p, float) for p in answer["probabilities"][0])


def test_parity_report_is_written_returned_and_covers_every_model(version, published):
    report = published.published.parity
    assert report is not None and report.examples == len(published.splits.x_test)
    data = json.loads((version / "parity.json").read_text())
    assert data == report.to_dict()
    rows = {r["model"]: r for r in data["rows"]}
    assert list(rows) == ["saved_model", *tflite.VARIANTS]
    assert rows["saved_model"]["max_abs_diff"] <= 1e-5
    assert rows["saved_model"]["agreement"] == 1.0
    assert rows["float32"]["agreement"] == 1.0 and rows["float32"]["max_abs_diff"] <= 1e-5
    for row in rows.values():
        assert row["size_bytes"] > 0 and row["p50_ms"] > 0 and row["metric"] is not None
    assert rows["saved_model"]["metric"] == pytest.approx(data["keras_metric"], abs=1e-9)
    markdown = (version / "parity.md").read_text()
    assert "| int8 |" in markdown and "drop (points)" in markdown


def test_the_edge_model_is_the_smallest_within_budget_that_2_14_loads(version, published):
    report = published.published.parity
    chosen = [r for r in report.rows if r.verdict.startswith("edge model")]
    assert [r.model for r in chosen] == [report.edge_model]
    within = [r for r in report.rows[1:] if r.drop_points <= report.budget_points]
    loadable = [r for r in within if runs_on(r.min_runtime, OLDEST_RUNTIME)]
    assert chosen[0].size_bytes == min(r.size_bytes for r in loadable)
    for row in report.rows[1:]:
        if row is not chosen[0]:
            assert row.verdict.startswith("rejected: "), row
    edge = version / "model.tflite"
    assert edge.read_bytes() == (version / "tflite" / f"{report.edge_model}.tflite").read_bytes()
    assert json.loads(edge.with_suffix(".json").read_text())["variant"] == report.edge_model
    assert published.published.card.tflite["edge_model"] == report.edge_model


def _report(budget: float, metrics: dict[str, tuple[float, int]]) -> ParityReport:
    report = ParityReport("accuracy", "max", budget, 0.95, 100)
    report.rows = [Row("saved_model", metric=0.95, size_bytes=10_000)]
    report.rows += [Row(name, metric=m, size_bytes=s) for name, (m, s) in metrics.items()]
    return report


def test_budget_rejects_variants_that_lose_too_much():
    report = _report(1.0, {"float32": (0.95, 4000), "float16": (0.95, 2000), "int8": (0.93, 1000)})
    choose_edge_model(report, "max")
    verdicts = {r.model: r.verdict for r in report.rows}
    assert report.edge_model == "float16"
    assert verdicts["int8"] == "rejected: accuracy drops 2.00 points > budget 1.0"
    assert verdicts["float32"].startswith("rejected: within budget but larger than float16")
    loose = _report(5.0, {"float32": (0.95, 4000), "int8": (0.93, 1000)})
    choose_edge_model(loose, "max")
    assert loose.edge_model == "int8"
    nothing = _report(0.0, {"int8": (0.90, 1000)})
    choose_edge_model(nothing, "max")
    assert nothing.edge_model is None and nothing.rows[1].verdict.startswith("rejected")


@pytest.mark.heavy
def test_int8_without_enough_training_examples_is_refused_and_reported(published, tmp_path):
    from kerasforge.serving.export import publish as export

    few = tflite.ExportData(
        published.splits.x_train[:10], published.splits.x_test, published.splits.y_test
    )
    options = tflite.TFLiteOptions(("float32", "int8"), budget=1.0)
    result = export.publish(
        published.model, tmp_path, "d", card=published.published.card, tflite=options, data=few
    )
    rows = {r.model: r for r in result.parity.rows}
    assert "at least 100 training examples; received 10" in rows["int8"].verdict
    assert result.parity.edge_model == "float32"
    assert not (result.path / "tflite" / "int8.tflite").exists()
    assert "error" in result.card.tflite["variants"]["int8"]


def test_every_version_with_data_has_tf_serving_warmup_records(version, published):
    import tensorflow as tf

    from kerasforge.serving.export.warmup import (
        MAX_RECORDS,
        RECORDS_PER_SIGNATURE,
        WARMUP_FILE,
        read_warmup,
    )

    assert (version / WARMUP_FILE).is_file()
    requests = read_warmup(version)
    assert len(requests) == MAX_RECORDS + 2 * RECORDS_PER_SIGNATURE <= 1000
    default = [r.inputs for r in requests if r.signature == "serving_default"]
    assert len(default) == MAX_RECORDS
    x_train = published.splits.x_train
    np.testing.assert_array_equal(default[0]["pixels"], x_train[:1].astype("float32"))
    signatures = tf.saved_model.load(str(version)).signatures
    replayed = signatures["serving_default"](pixels=tf.constant(default[3]["pixels"]))
    expected = published.model.predict(x_train[3:4], verbose=0)
    np.testing.assert_allclose(replayed["probabilities"].numpy(), expected, atol=1e-5)
    # every other signature is warmed up too, in its own request format
    assert {r.signature for r in requests} == {"serving_default", "serving_bytes", "classify"}
    for signature, inputs in requests[MAX_RECORDS:]:
        outputs = signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
        assert all(v.shape[0] == 1 for v in outputs.values())


@pytest.mark.heavy
def test_the_gate_refuses_an_export_that_differs_and_publishes_nothing(
    published, tmp_path, monkeypatch
):
    import keras

    from kerasforge.serving.export import gate
    from kerasforge.serving.export import publish as export

    data = tflite.ExportData(
        published.splits.x_train[:100], published.splits.x_test, published.splits.y_test
    )
    card = published.published.card
    first = export.publish(published.model, tmp_path, "d", card=card, tflite=False, data=data)
    assert first.version == 1, "the real model passes the gate"
    # Compare the export with a model that answers differently: the gate must refuse.
    pixels = keras.Input((8, 8, 1), name="pixels")
    drifted = keras.Model(pixels, keras.layers.Rescaling(0.5)(published.model(pixels)))
    monkeypatch.setattr(export, "validate", lambda d, _m, c: gate.validate(d, drifted, c))
    with pytest.raises(gate.GateError, match="differs from the Keras model by"):
        export.publish(published.model, tmp_path, "d", card=card, tflite=False, data=data)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["1"], "no half-written version"
