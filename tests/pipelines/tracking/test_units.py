"""Tracking pieces without training: the Keras-flavor workaround,
models.config, run endings on exceptions, orphan collection, provenance, plots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.tracking import plots, provenance
from kerasforge.pipelines.tracking import store as mlflow_store
from kerasforge.pipelines.tracking.model_registry import write_models_config
from kerasforge.pipelines.tracking.run import tracked_run
from tests.conftest import DEFAULT_CONFIG, TINY


def _tiny_keras():
    import keras

    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])


def test_upstream_keras_log_model_with_input_example_still_fails(tmp_path):
    """MLflow's own path writes input_example.json before creating the model folder.

    When this starts passing through, MLflow fixed it: drop the flavor shim in
    pipelines/tracking/mlflow_model.py.
    """
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'm.db'}")
    example = np.zeros((2, 8, 8, 1), "float32")
    with mlflow.start_run(), pytest.raises(FileNotFoundError, match=r"input_example\.json"):
        mlflow.keras.log_model(_tiny_keras(), name="model", input_example=example)
    mlflow.set_tracking_uri(None)


def test_workaround_logs_a_pyfunc_loadable_model_with_signature_and_example(tmp_path):
    import mlflow

    from kerasforge.pipelines.tracking.mlflow_model import log_keras_model

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'm.db'}")
    model = _tiny_keras()
    example = np.random.default_rng(0).random((3, 8, 8, 1)).astype("float32")
    with mlflow.start_run():
        info = log_keras_model(model, example, registered_model_name="tiny")
    assert info.registered_model_version == 1
    assert tuple(info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == (-1, 8, 8, 1)
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    assert loaded.input_example is not None and np.allclose(loaded.input_example, example)
    np.testing.assert_allclose(loaded.predict(example), model.predict(example, verbose=0), 1e-5)
    mlflow.set_tracking_uri(None)


def test_models_config_keeps_other_models_and_sets_labels(tmp_path):
    from google.protobuf import text_format
    from tensorflow_serving.config.model_server_config_pb2 import ModelServerConfig

    write_models_config(tmp_path, "other", {})
    path = write_models_config(tmp_path, "digits", {"stable": 2, "canary": 3})
    write_models_config(tmp_path, "digits", {"stable": 3})
    config = text_format.Parse(path.read_text(), ModelServerConfig())
    entries = {e.name: e for e in config.model_config_list.config}
    assert set(entries) == {"other", "digits"}
    assert dict(entries["digits"].version_labels) == {"stable": 3}
    assert list(entries["digits"].model_version_policy.specific.versions) == [3]
    assert entries["other"].model_version_policy.latest.num_versions == 1
    assert entries["digits"].base_path == str((tmp_path / "digits").resolve())


def _cfg(out: Path, *extra: str):
    return load_config(DEFAULT_CONFIG, [*TINY, f"output_dir={out}", *extra])


def test_an_exception_ends_the_run_failed_with_what_was_logged(tmp_path):
    from mlflow.tracking import MlflowClient

    cfg = _cfg(tmp_path)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(cfg.to_yaml())
    with pytest.raises(ValueError, match="boom"), tracked_run(cfg, config_file) as tracker:
        tracker.log_metrics({"loss": 1.5}, step=0)
        raise ValueError("boom")
    run = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").get_run(tracker.run_id)
    assert run.info.status == "FAILED"
    assert run.data.metrics["loss"] == 1.5
    assert run.data.params["model.name"] == "digits_cnn"
    assert run.data.tags["git_commit"] != ""
    assert run.data.tags[mlflow_store.PID_TAG] == str(os.getpid())


def test_gc_marks_runs_of_dead_processes_killed_and_leaves_live_ones(tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with mlflow_store.scoped_uris():
        experiment = mlflow_store.prepare(uri, "exp", tmp_path / "art")
    client = MlflowClient(uri)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    ).stdout.strip()
    host = {"host": __import__("socket").gethostname()}
    orphan = client.create_run(experiment, tags={**host, mlflow_store.PID_TAG: dead}).info.run_id
    alive = client.create_run(experiment, tags={**host, mlflow_store.PID_TAG: str(os.getpid())})
    assert mlflow_store.collect_orphans(uri, "exp", dry_run=True) == [orphan]
    assert client.get_run(orphan).info.status == "RUNNING"
    assert mlflow_store.collect_orphans(uri, "exp") == [orphan]
    assert client.get_run(orphan).info.status == "KILLED"
    assert client.get_run(alive.info.run_id).info.status == "RUNNING"


def test_an_unreachable_server_is_noticed_in_seconds():
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    started = time.monotonic()
    problem = mlflow_store.probe(f"http://127.0.0.1:{port}")
    assert problem and f"127.0.0.1:{port}/health" in problem
    assert time.monotonic() - started < 10


def test_dataset_fingerprint_follows_the_split(tmp_path):
    from kerasforge.pipelines.tasks import get_task
    from kerasforge.pipelines.training.train import load_splits

    def fingerprint(*extra: str) -> str:
        cfg = _cfg(tmp_path, *extra)
        return provenance.dataset_fingerprint(
            cfg.data.source, load_splits(cfg, get_task(cfg.task.name, cfg.task.options))
        )

    assert fingerprint() == fingerprint()
    assert fingerprint() != fingerprint("seed=7")
    tags = provenance.run_tags("digits", None)
    assert {"git_commit", "git_dirty", "tensorflow_version", "keras_version", "host"} <= set(tags)
    assert tags["kerasforge_version"] != "not installed"


def test_plots_are_pngs(tmp_path):
    history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8]}
    curve = plots.learning_curves(history, tmp_path / "curves.png")
    csv = tmp_path / "cm.csv"
    csv.write_text("true\\predicted,a,b\na,3,1\nb,0,4\n")
    matrix = plots.confusion_matrix(csv, tmp_path / "cm.png")
    for path in (curve, matrix):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plots.learning_curves({"loss": []}, tmp_path / "none.png") is None
