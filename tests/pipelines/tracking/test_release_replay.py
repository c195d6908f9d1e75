"""The gate and the release at the two entry points a tracking server is involved in:
training against a real ``mlflow server``, and ``kerasforge runs replay`` of a training
that could not reach it (judged against the registry as it is at replay time, and two
replays racing)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from kerasforge.cli.main import main
from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.training.train import train
from tests.conftest import CLI, DEFAULT_CONFIG, ROOT, TINY
from tests.pipelines.mlflow_servers import free_port

pytestmark = pytest.mark.heavy

SHORT = [*TINY, "export.tflite=false", "data.cache=false"]


def _train(uri: str, out: Path, name: str, *extra: str):
    overrides = [*SHORT, f"output_dir={out}", f"tracking.uri={uri}", f"export.model_name={name}"]
    return train(load_config(DEFAULT_CONFIG, [*overrides, *extra]))


def _served(repository: Path, name: str) -> dict[str, int]:
    """The labels ``models.config`` serves for ``name``, checking the policy serves only them."""
    from kerasforge.serving.server.model_config import Specific, read_config

    (entry,) = [e for e in read_config(repository / "models.config") if e.name == name]
    assert isinstance(entry.policy, Specific) and entry.policy.versions == set(
        entry.labels.values()
    )
    return dict(entry.labels)


def _aliases(client, name: str) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}


def test_over_http_a_worse_retraining_fails_its_gate_and_stays_off_stable(server, tmp_path):
    """The issue's reproduction: train, then train again for fewer epochs."""
    from mlflow.tracking import MlflowClient

    good = _train(server.uri, tmp_path, "http_gate", "train.epochs=3")
    worse = _train(server.uri, tmp_path, "http_gate", "train.epochs=1")
    assert worse.headline[1] < good.headline[1]
    client = MlflowClient(server.uri)
    assert _aliases(client, "http_gate") == {"champion": "1", "challenger": "2"}
    assert client.get_model_version("http_gate", "2").tags["gate"] == "failed"
    assert _served(tmp_path / "models", "http_gate") == {"stable": 1}
    assert not (tmp_path / "models" / "http_gate" / "2").exists()
    assert not worse.outcome.served and worse.outcome.passed is False


def _offline(out: Path, name: str, *extra: str) -> Path:
    """Train with the tracking server down; the journal folder it leaves."""
    before = (
        set((out / "mlflow-fallback").glob("*")) if (out / "mlflow-fallback").exists() else set()
    )
    result = _train(f"http://127.0.0.1:{free_port()}", out, name, *extra)
    assert result.outcome is not None and not result.outcome.served
    assert "not published yet" in result.outcome.note
    (journal,) = set((out / "mlflow-fallback").glob("*")) - before
    meta = json.loads((journal / "meta.json").read_text())
    assert meta["gate"]["metric"] == "accuracy" and meta["gate"]["baseline"] is not None
    return journal


def test_a_replay_judges_and_publishes_like_an_online_run(server, tmp_path):
    from mlflow.tracking import MlflowClient

    out, name = tmp_path / "out", "replayed"
    passing = _offline(out, name, "train.epochs=3")
    failing = _offline(out, name, "train.epochs=1", "tracking.registry.gate.min_improvement=0.5")
    assert not (out / "models" / "models.config").exists(), "nothing served before the replay"
    client = MlflowClient(server.uri)

    assert main(["runs", "replay", str(passing), "--uri", server.uri]) == 0
    assert _aliases(client, name) == {"champion": "1"}
    version = client.get_model_version(name, "1")
    assert version.tags["gate"] == "passed"
    run = client.get_run(version.run_id)
    assert run.data.tags["gate"] == "passed" and "test_baseline_accuracy" in run.data.metrics
    assert "gate_report.json" in {a.path for a in client.list_artifacts(version.run_id)}
    assert _served(out / "models", name) == {"stable": 1}
    assert (out / "models" / name / "1" / "saved_model.pb").is_file()
    published = ["publish", "--model", name, "--uri", server.uri]
    assert main([*published, "--repository", str(tmp_path / "other")]) == 0, "has a champion"

    assert main(["runs", "replay", str(failing), "--uri", server.uri]) == 0
    assert _aliases(client, name) == {"champion": "1", "challenger": "2"}
    assert client.get_model_version(name, "2").tags["gate"] == "failed"
    assert _served(out / "models", name) == {"stable": 1}
    assert not (out / "models" / name / "2").exists()


def test_two_replays_racing_end_in_one_consistent_state(server, tmp_path):
    from mlflow.tracking import MlflowClient

    out, name = tmp_path / "out", "raced"
    journals = [_offline(out, name, f"train.epochs={n}") for n in (3, 1)]
    procs = [
        subprocess.Popen(
            [*CLI, "runs", "replay", str(j), "--uri", server.uri],
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for j in journals
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    client = MlflowClient(server.uri)
    versions = client.search_model_versions(f"name = '{name}'")
    accuracy = {
        str(v.version): client.get_run(v.run_id).data.metrics["test_accuracy"] for v in versions
    }
    verdicts = {str(v.version): v.tags["gate"] for v in versions}
    aliases = _aliases(client, name)
    best = max(accuracy, key=accuracy.get)
    other = next(v for v in accuracy if v != best)
    assert aliases["champion"] == best and verdicts[best] == "passed"
    assert aliases.get("previous") == other or aliases.get("challenger") == other
    assert verdicts[other] == ("passed" if aliases.get("previous") == other else "failed")
    assert _served(out / "models", name) == {"stable": int(best)}
