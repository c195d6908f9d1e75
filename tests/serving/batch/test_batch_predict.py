"""``kerasforge batch-predict`` on Beam's local runner, one input kind per test
(``serving/batch/``): a few hundred records each, scored as the in-process signature
call scores them, with corrupt records in the dead-letter file and the rest scored."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from kerasforge.serving.batch.pipeline import JobOptions, run_job
from kerasforge.serving.batch.plan import make_plan
from kerasforge.serving.card import read_card
from kerasforge.serving.export.images import encode_png
from kerasforge.serving.tf_example import build
from tests.conftest import ROOT, publish_untrained, run_cli

pytestmark = pytest.mark.heavy  # exports models and runs Beam jobs

RECORDS = 200
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def repository(published, tmp_path_factory) -> SimpleNamespace:
    """digits (images), breast cancer (tabular), chase (text), co2 (series): one repository."""
    import shutil

    root = tmp_path_factory.mktemp("batch")
    models = {"digits": published}
    tiny = {
        "cancer": ("breast_cancer_mlp", ["model.options.width=4"]),
        "chase": (
            "chase_transformer",
            ["model.options.embed_dim=8", "model.options.ff_dim=8", "model.options.num_heads=1"],
        ),
        "co2": ("co2_lstm", ["model.options.units=[4]", "data.series.stride=4"]),
    }
    for name, (config, overrides) in tiny.items():
        path = ROOT / "configs" / f"{config}.yaml"
        models[name] = publish_untrained(path, overrides, root / "build" / name, tflite=False)
    for name, built in models.items():
        shutil.copytree(built.published.path, root / "models" / name / "1")
    return SimpleNamespace(root=root / "models", models=models)


def score(repository, name: str, pattern: Path, out: Path, **options) -> dict:
    plan = make_plan(str(repository.root), name, None, None, str(pattern))
    return run_job(plan, JobOptions(output=str(out), batch_size=32, **options))


def in_process(repository, name: str, signature: str, inputs: dict) -> dict[str, np.ndarray]:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(repository.root / name / "1"))
    called = loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in called.items()}


def predictions(out: Path) -> dict[str, dict]:
    lines = [
        line for path in out.glob("predictions-*.jsonl") for line in path.read_text().splitlines()
    ]
    found = {row["source"]: row["outputs"] for row in map(json.loads, lines)}
    assert len(found) == len(lines), "a record was scored twice"
    return found


def dead_letters(out: Path) -> dict[str, str]:
    lines = (out / "dead_letter.jsonl").read_text().splitlines()
    return {row["source"]: row["reason"] for row in map(json.loads, lines)}


def agree(got: dict[str, dict], sources: list[str], expected: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(sources)
    for i, source in enumerate(sources):
        for name, values in expected.items():
            value = values[i]
            if values.dtype == object:
                assert got[source][name] == np.vectorize(bytes.decode)(value).tolist(), source
            else:
                np.testing.assert_allclose(got[source][name], value, rtol=TOLERANCE, atol=TOLERANCE)


def test_image_files_score_as_the_bytes_signature(repository, tmp_path):
    digits = repository.models["digits"]
    x = np.resize(digits.splits.x_test, (RECORDS, *digits.splits.x_test.shape[1:]))
    encoded = encode_png(x)
    (tmp_path / "in").mkdir()
    sources = []
    for i, data in enumerate(encoded):
        sources.append(str(tmp_path / "in" / f"{i:04d}.png"))
        Path(sources[-1]).write_bytes(data)
    (tmp_path / "in" / "truncated.png").write_bytes(encoded[0][:45])
    (tmp_path / "in" / "empty.png").write_bytes(b"")
    summary = score(repository, "digits", tmp_path / "in" / "*.png", tmp_path / "out")
    expected = in_process(repository, "digits", "serving_bytes", {"image_bytes": encoded})
    agree(predictions(tmp_path / "out"), sources, expected)
    dead = dead_letters(tmp_path / "out")
    assert set(dead) == {str(tmp_path / "in" / n) for n in ("truncated.png", "empty.png")}
    assert "PNG" in dead[str(tmp_path / "in" / "truncated.png")]
    assert (summary["count"], summary["scored"], summary["failed"]) == (RECORDS + 2, RECORDS, 2)
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == summary


def test_csv_rows_score_as_the_features_signature(repository, tmp_path):
    cancer = repository.models["cancer"]
    card = read_card(repository.root / "cancer" / "1")
    names = [t.name for t in card.signature("serving_features").inputs]
    x = np.resize(cancer.splits.x_test, (RECORDS, len(names))).astype("float32")
    path = tmp_path / "rows.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        writer.writerows([repr(float(v)) for v in row] for row in x[:100])
        writer.writerow(["1.0"] * (len(names) - 1))  # line 102: a column short
        writer.writerow(["oops", *["1.0"] * (len(names) - 1)])  # line 103: not a number
        writer.writerows([repr(float(v)) for v in row] for row in x[100:])
    summary = score(repository, "cancer", path, tmp_path / "out")
    sources = [f"{path}:{line}" for line in [*range(2, 102), *range(104, 104 + RECORDS - 100)]]
    columns = {name: x[:, i] for i, name in enumerate(names)}
    expected = in_process(repository, "cancer", "serving_features", columns)
    agree(predictions(tmp_path / "out"), sources, expected)
    dead = dead_letters(tmp_path / "out")
    assert set(dead) == {f"{path}:102", f"{path}:103"}
    assert f"received {len(names) - 1}" in dead[f"{path}:102"]
    assert "expected a number; received 'oops'" in dead[f"{path}:103"]
    assert summary["failed"] == 2


def test_tfrecords_of_examples_score_as_classify_and_write_tfrecords(repository, tmp_path):
    import tensorflow as tf

    digits = repository.models["digits"]
    card = read_card(repository.root / "digits" / "1")
    x = np.resize(digits.splits.x_test, (RECORDS, *digits.splits.x_test.shape[1:]))
    serialized = [
        e.SerializeToString() for e in build(x, card.signature("classify").example_features)
    ]
    path = tmp_path / "examples.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i, record in enumerate(serialized):
            writer.write(record)
            if i == 9:
                writer.write(b"\x0a\xff\xff\xff")  # record 10: a broken tf.Example
                writer.write(tf.train.Example().SerializeToString())  # 11: no pixels
    summary = score(repository, "digits", path, tmp_path / "out", format="tfrecord")
    expected = in_process(
        repository, "digits", "classify", {"inputs": np.array(serialized, dtype=object)}
    )
    got = {}
    shards = sorted(str(p) for p in (tmp_path / "out").glob("predictions-*.tfrecord"))
    for record in tf.data.TFRecordDataset(shards):
        example = tf.train.Example.FromString(record.numpy())
        feature = example.features.feature
        got[feature["source"].bytes_list.value[0].decode()] = list(
            feature["scores"].float_list.value
        )
    indices = [*range(10), *range(12, RECORDS + 2)]
    assert sorted(got) == sorted(f"{path}:{i}" for i in indices)
    for row, index in enumerate(indices):
        np.testing.assert_allclose(got[f"{path}:{index}"], expected["scores"][row], atol=TOLERANCE)
    dead = dead_letters(tmp_path / "out")
    assert set(dead) == {f"{path}:10", f"{path}:11"}
    assert "not a serialized tf.Example" in dead[f"{path}:10"]
    assert "no feature 'pixels'" in dead[f"{path}:11"]
    assert (summary["scored"], summary["failed"]) == (RECORDS, 2)


def test_tfrecords_of_tensors_score_as_the_raw_signature(repository, tmp_path):
    import tensorflow as tf

    co2 = repository.models["co2"]
    card = read_card(repository.root / "co2" / "1")
    raw = card.raw_signature()
    x = np.resize(co2.splits.x_test, (RECORDS, *co2.splits.x_test.shape[1:])).astype("float32")
    path = tmp_path / "windows.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(tf.make_tensor_proto(x[0][:-1]).SerializeToString())  # 0: a step short
        for window in x:
            writer.write(tf.make_tensor_proto(window).SerializeToString())
    truncated = tmp_path / "truncated.tfrecord"  # two records, the second cut short
    with tf.io.TFRecordWriter(str(truncated)) as writer:
        for window in x[:2]:
            writer.write(tf.make_tensor_proto(window).SerializeToString())
    truncated.write_bytes(truncated.read_bytes()[:-5])
    summary = score(repository, "co2", tmp_path / "*.tfrecord", tmp_path / "out")
    expected = in_process(repository, "co2", "serving_default", {raw.input().name: x})
    sources = [f"{path}:{i}" for i in range(1, RECORDS + 1)]
    got = predictions(tmp_path / "out")
    agree({k: v for k, v in got.items() if k.startswith(str(path))}, sources, expected)
    dead = dead_letters(tmp_path / "out")
    assert set(dead) == {f"{path}:0", f"{truncated}:1"}
    assert "expected one example of shape" in dead[f"{path}:0"]
    assert "corrupt TFRecord frame" in dead[f"{truncated}:1"]
    assert f"{truncated}:0" in got
    assert summary["scored"] == RECORDS + 1  # and the truncated file's first record


def test_text_lines_score_as_the_text_signature(repository, tmp_path):
    chase = repository.models["chase"]
    texts = [str(t) for t in np.resize(chase.splits.x_test, RECORDS)]
    path = tmp_path / "texts.txt"
    lines = [t.encode() for t in texts[:50]] + [b"\xff\xfe not utf-8"] + [b""]
    path.write_bytes(b"\n".join([*lines, *(t.encode() for t in texts[50:])]) + b"\n")
    summary = score(repository, "chase", path, tmp_path / "out")
    card = read_card(repository.root / "chase" / "1")
    name = card.signature().input().name
    expected = in_process(repository, "chase", "serving_default", {name: np.array(texts)})
    sources = [f"{path}:{n}" for n in [*range(1, 51), *range(53, 53 + RECORDS - 50)]]
    agree(predictions(tmp_path / "out"), sources, expected)
    assert list(dead_letters(tmp_path / "out")) == [f"{path}:51"]
    assert summary["failed"] == 1


def test_the_command_prints_a_summary(repository, tmp_path):
    digits = repository.models["digits"]
    (tmp_path / "in").mkdir()
    for i, data in enumerate(encode_png(digits.splits.x_test[:5])):
        (tmp_path / "in" / f"{i}.png").write_bytes(data)
    args = ["--model", "digits", "--repository", str(repository.root), "--output"]
    proc = run_cli(
        "batch-predict", *args, str(tmp_path / "out"), "--input", str(tmp_path / "in" / "*.png")
    )
    assert proc.returncode == 0, proc.stderr
    assert "scored 5 of 5 records from 5 file(s)" in proc.stdout
    # What is about to run, on stderr before the slow start: stdout stays the summary.
    assert proc.stderr.startswith("batch-predict: 5 file(s) with digits version 1 (serving_bytes)")
    assert len(predictions(tmp_path / "out")) == 5
