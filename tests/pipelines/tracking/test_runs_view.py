"""``kerasforge runs list`` and ``runs compare`` over a real SQLite MLflow store, whose runs
are written by the project's own tracker (``tracked_run``) and judged by its release gate
(``release.gate_version``), as a training writes and judges them; the CLI runs as a user's."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.tracking.release import GATE_METRIC_TAG, GATE_MODE_TAG, GateSpec
from kerasforge.pipelines.tracking.run import tracked_run
from tests.conftest import DEFAULT_CONFIG, TINY, run_cli

MODEL = "digits_cnn"


def _tracked(out: Path, accuracy: float, *overrides: str) -> str:
    """One run as a training leaves it: params, test metrics, a registered version judged by
    the gate (aliases and the ``gate`` tag), and the tags the release sets."""
    from mlflow.tracking import MlflowClient

    from kerasforge.pipelines.tracking.release import gate_version

    cfg = load_config(DEFAULT_CONFIG, [*TINY, f"output_dir={out}", *overrides])
    config_file = out / f"config-{accuracy}.yaml"
    config_file.write_text(cfg.to_yaml())
    spec = GateSpec("accuracy", "max", baseline=0.1037, baseline_name="majority class", margin=0.1)
    with tracked_run(cfg, config_file) as tracker:
        tracker.log_metrics({"loss": 1.0 - accuracy}, step=0)
        tracker.log_metrics({"test_accuracy": accuracy, "test_loss": 1.0 - accuracy})
        tracker.log_metrics(spec.metrics())
        client = MlflowClient(tracker.uri)
        if not client.search_registered_models(f"name='{MODEL}'"):
            client.create_registered_model(MODEL)
        version = client.create_model_version(MODEL, str(config_file), tracker.run_id).version
        gate_version(client, MODEL, str(version), spec, accuracy, out / "gate")
        tracker.set_tags(
            {
                "model_name": MODEL,
                "model_version": version,
                GATE_METRIC_TAG: spec.metric,
                GATE_MODE_TAG: spec.mode,
            }
        )
    return str(tracker.run_id)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> SimpleNamespace:
    """Three runs: v1 passes (champion), v2 beats it (champion, v1 previous), v3 does not
    (challenger) and differs from v2 in two params."""
    out = tmp_path_factory.mktemp("runs")
    first = _tracked(out, 0.90)
    second = _tracked(out, 0.95)
    third = _tracked(out, 0.93, "train.epochs=3", "data.batch_size=16")
    uri = f"sqlite:///{out / 'mlflow.db'}"
    return SimpleNamespace(out=out, uri=uri, ids=[first, second, third])


def _runs(store, *args: str):
    return run_cli("runs", *args, "--uri", store.uri, timeout=120)


def test_list_shows_newest_first_with_metric_baseline_gate_and_version(store):
    proc = _runs(store, "list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["run", "started", "config", "status"]
    rows = lines[1:]
    assert [row.split()[0] for row in rows] == [i[:8] for i in reversed(store.ids)]
    newest, middle, oldest = rows
    assert "accuracy 0.9300" in newest and "0.1037" in newest
    assert "failed" in newest and f"{MODEL} v3 (challenger)" in newest
    assert "passed" in middle and f"{MODEL} v2 (champion)" in middle
    assert "passed" in oldest and f"{MODEL} v1 (previous)" in oldest
    assert all("FINISHED" in row and "digits_cnn" in row for row in rows)
    assert "Traceback" not in proc.stderr


def test_list_json_and_limit(store):
    proc = _runs(store, "list", "--json", "--limit", "2")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["run_id"] for r in rows] == store.ids[:0:-1]
    assert rows[0]["value"] == 0.93 and rows[0]["baseline"] == pytest.approx(0.1037)
    assert rows[0]["gate"] == "failed" and rows[0]["aliases"] == ["challenger"]
    assert rows[1]["version"] == "2" and rows[1]["metric"] == "accuracy"
    assert rows[1]["mode"] == "max" and rows[1]["name"] == "digits_cnn"


def test_compare_shows_only_differing_params_metrics_and_the_winner(store):
    proc = _runs(store, "compare", store.ids[1][:6], "latest")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "params that differ (2 of" in out
    params = out.split("params that differ")[1].split("metrics")[0]
    assert "train.epochs" in params and "data.batch_size" in params
    assert "model.name" not in params
    test_accuracy = next(line for line in out.splitlines() if "test_accuracy" in line).split()
    assert test_accuracy[1:] == ["0.9500", "0.9300", "-0.0200"]
    assert "gate" in out and "passed" in out and "failed" in out
    assert f"{MODEL} v2 (champion)" in out and f"{MODEL} v3 (challenger)" in out
    assert f"better: A {store.ids[1][:8]}" in out


def test_compare_of_one_run_with_itself_says_so_in_one_line(store):
    proc = _runs(store, "compare", "latest", store.ids[2][:8])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines() == [
        f"latest and {store.ids[2][:8]} are the same run, {store.ids[2][:8]}: nothing to "
        "compare; train again for a second run, or name another (`kerasforge runs list`)"
    ]


def test_compare_all_best_and_json(store):
    proc = _runs(store, "compare", "best", store.ids[0], "--all", "--json")
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found["a"]["run_id"] == store.ids[1], "best: the highest test accuracy"
    assert found["b"]["run_id"] == store.ids[0]
    assert found["params"]["model.name"] == ["digits_cnn", "digits_cnn"], "--all: every param"
    assert found["metrics"]["test_accuracy"] == [0.95, 0.9, pytest.approx(-0.05)]
    assert found["better"].startswith(f"A {store.ids[1][:8]}")


@pytest.mark.parametrize(
    ("refs", "message"),
    [
        (("nosuchrun", "latest"), "no run 'nosuchrun' in this experiment"),
        (("abc", "latest"), "run 'abc' is too short"),
    ],
)
def test_an_unknown_run_is_one_line(store, refs, message):
    proc = _runs(store, "compare", *refs)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: {proc.stderr.strip()[7:]}"]
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_an_unknown_experiment_names_those_there(store):
    proc = _runs(store, "list", "--experiment", "nope")
    assert proc.returncode == 2
    assert "no experiment 'nope'" in proc.stderr and "kerasforge" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_an_empty_or_missing_store_is_one_line(tmp_path):
    from kerasforge.pipelines.tracking import store as mlflow_store

    missing = run_cli("runs", "list", "--uri", f"sqlite:///{tmp_path / 'none.db'}")
    assert missing.returncode == 2 and "no tracking store at" in missing.stderr
    assert not (tmp_path / "none.db").exists(), "listing creates no store"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with mlflow_store.scoped_uris():
        mlflow_store.prepare(uri, "kerasforge", tmp_path / "art")
    for args in (["list"], ["compare", "latest", "best"]):
        proc = run_cli("runs", *args, "--uri", uri)
        assert proc.returncode == 2, proc.stdout
        assert proc.stderr.strip().startswith("error: no runs in"), proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
