"""A tiny tracked training on the embedded store: everything MLflow must show,
the registry and the gate, and the MLflow -> TF Serving bridge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kerasforge.cli import main
from kerasforge.pipelines import mlflow_store
from kerasforge.pipelines.config import load_config
from kerasforge.pipelines.train import train
from tests.conftest import DEFAULT_CONFIG, TINY

pytestmark = pytest.mark.heavy

QUICK_TINY = [*TINY, "train.epochs=2", "export.tflite=false"]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    from mlflow.tracking import MlflowClient

    out = tmp_path_factory.mktemp("tracked")
    cfg = load_config(DEFAULT_CONFIG, [*QUICK_TINY, f"output_dir={out}"])
    result = train(cfg)
    return cfg, result, MlflowClient(f"sqlite:///{out / 'mlflow.db'}")


def test_run_shows_params_tags_epoch_metrics_and_test_metrics(tracked):
    cfg, result, client = tracked
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.options.dense_units"] == "8"
    assert run.data.params["data.source"] == "digits"
    tags = run.data.tags
    assert len(tags["git_commit"]) == 40 and tags["git_dirty"] in {"true", "false"}
    assert len(tags["dataset_fingerprint"]) == 64
    for key in ("kerasforge_version", "tensorflow_version", "keras_version", "host"):
        assert tags[key] and tags[key] != "not installed", key
    for name in ("loss", "val_loss", "accuracy", "val_accuracy", "learning_rate", "epoch_time_s"):
        history = client.get_metric_history(result.run_id, name)
        assert [m.step for m in history] == list(range(result.epochs_run)), name
    rate = client.get_metric_history(result.run_id, "learning_rate")[0].value
    assert rate == pytest.approx(cfg.train.learning_rate)
    assert run.data.metrics["test_accuracy"] == pytest.approx(result.test_metrics["test_accuracy"])


def test_run_artifacts_are_complete_and_written_once(tracked):
    _, result, client = tracked

    def listing(path: str | None = None) -> set[str]:
        return {a.path for a in client.list_artifacts(result.run_id, path)}

    assert {"config.yaml", "model_summary.txt", "plots", "evaluation", "gate_report.json"} <= (
        listing()
    )
    assert listing("plots") == {"plots/learning_curves.png", "plots/confusion_matrix.png"}
    assert {"evaluation/classification_report.json", "evaluation/confusion_matrix.csv"} <= (
        listing("evaluation")
    )
    local = Path(client.download_artifacts(result.run_id, "plots/confusion_matrix.png"))
    assert local.read_bytes()[:4] == b"\x89PNG"


def test_the_mlflow_model_loads_through_pyfunc_and_predicts_like_keras(tracked):
    import mlflow

    cfg, result, client = tracked
    version = client.get_model_version("digits_cnn", "1")
    assert version.run_id == result.run_id
    with mlflow_store.scoped_uris():
        mlflow.set_tracking_uri(f"sqlite:///{cfg.output_dir / 'mlflow.db'}")
        model = mlflow.pyfunc.load_model(f"models:/digits_cnn/{version.version}")
    assert model.metadata.signature is not None and model.input_example is not None
    x = result.splits.x_test[:5]
    np.testing.assert_allclose(model.predict(x), result.model.predict(x, verbose=0), atol=1e-5)


def test_gate_crowns_the_first_and_makes_a_worse_one_challenger(tracked, capsys):
    cfg, first, client = tracked
    assert str(client.get_model_version_by_alias("digits_cnn", "champion").version) == "1"
    assert client.get_run(first.run_id).data.tags["gate"] == "passed"
    strict = load_config(
        DEFAULT_CONFIG,
        [
            *QUICK_TINY,
            "train.epochs=1",
            f"output_dir={cfg.output_dir}",
            "tracking.registry.gate.min_improvement=0.5",
        ],
    )
    second = train(strict)
    tags = client.get_run(second.run_id).data.tags
    assert tags["gate"] == "failed" and "does not beat champion" in tags["gate_reasons"]
    aliases = client.get_registered_model("digits_cnn").aliases
    assert {k: str(v) for k, v in aliases.items()} == {"champion": "1", "challenger": "2"}
    assert "release gate failed for digits_cnn version 2" in capsys.readouterr().out


def test_publish_materialises_versions_with_labels(tracked, tmp_path, capsys):
    from google.protobuf import text_format
    from tensorflow_serving.config.model_server_config_pb2 import ModelServerConfig

    from kerasforge.serving.card import read_card

    cfg, _, _ = tracked
    repo = tmp_path / "repo"
    uri = f"sqlite:///{cfg.output_dir / 'mlflow.db'}"
    common = ["--model", "digits_cnn", "--repository", str(repo), "--uri", uri]
    assert main(["publish", *common]) == 0
    assert main(["publish", *common, "--alias", "challenger"]) == 0
    assert (repo / "digits_cnn" / "1" / "saved_model.pb").is_file()
    assert read_card(repo / "digits_cnn" / "2").version == 2
    config = text_format.Parse((repo / "models.config").read_text(), ModelServerConfig())
    (entry,) = config.model_config_list.config
    assert dict(entry.version_labels) == {"stable": 1, "canary": 2}
    assert main(["publish", *common, "--version", "9"]) == 2
    assert "has no version 9" in capsys.readouterr().err
