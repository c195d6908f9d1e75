"""A tiny tracked training on the embedded store: everything MLflow must show,
the registry and the gate, and the MLflow -> TF Serving bridge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kerasforge.cli.main import main
from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.tracking import store as mlflow_store
from kerasforge.pipelines.training.summary import from_result
from kerasforge.pipelines.training.train import train
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


def _labels(repository: Path) -> dict[str, dict[str, int]]:
    from google.protobuf import text_format
    from tensorflow_serving.config.model_server_config_pb2 import ModelServerConfig

    config = text_format.Parse((repository / "models.config").read_text(), ModelServerConfig())
    served = {}
    for entry in config.model_config_list.config:
        versions = sorted(entry.model_version_policy.specific.versions)
        assert entry.model_version_policy.WhichOneof("policy_choice") == "specific", entry
        assert versions == sorted(entry.version_labels.values()), "only labelled versions"
        served[entry.name] = dict(entry.version_labels)
    return served


def _aliases(client) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model("digits_cnn").aliases.items()}


def test_a_passing_training_is_served_stable_with_its_baseline_recorded(tracked, capsys):
    from kerasforge.serving.card import read_card

    cfg, first, client = tracked
    assert _aliases(client) == {"champion": "1"}
    run = client.get_run(first.run_id)
    assert run.data.tags["gate"] == "passed"
    assert run.data.metrics["test_baseline_accuracy"] == pytest.approx(0.1037, abs=0.02)
    assert run.data.metrics["baseline_margin"] == 0.1
    assert first.outcome.served and first.outcome.labels == {"stable": 1}
    assert _labels(cfg.output_dir / "models") == {"digits_cnn": {"stable": 1}}
    assert first.published.path == cfg.output_dir / "models" / "digits_cnn" / "1"
    card = read_card(first.published.path)
    assert card.version == 1 and "test_baseline_accuracy" in card.metrics
    assert card.metrics["baseline_margin"] == 0.1
    report = Path(client.download_artifacts(first.run_id, "gate_report.json")).read_text()
    assert '"rule": "baseline"' in report and '"passed": true' in report


def _train_failing(cfg, *extra: str):
    strict = load_config(
        DEFAULT_CONFIG,
        [
            *QUICK_TINY,
            "train.epochs=1",
            f"output_dir={cfg.output_dir}",
            "tracking.registry.gate.min_improvement=0.5",
            *extra,
        ],
    )
    return train(strict)


def test_a_failing_training_is_never_stable_nor_served_by_default(tracked, capsys):
    cfg, _, client = tracked
    second = _train_failing(cfg)
    tags = client.get_run(second.run_id).data.tags
    assert tags["gate"] == "failed" and "misses champion" in tags["gate_reasons"]
    assert _aliases(client) == {"champion": "1", "challenger": "2"}
    out = capsys.readouterr().out
    assert "release gate failed for digits_cnn version 2" in out
    assert "digits_cnn version 2 is not published (challenger); serving stable=1" in out
    facts = from_result(second)
    assert facts.served is None
    assert facts.gate.startswith("failed: digits_cnn version 2 is not published")
    assert facts.headline.startswith("accuracy 0.")
    assert "the majority class baseline 0.1" in facts.headline
    assert not second.outcome.served
    assert _labels(cfg.output_dir / "models") == {"digits_cnn": {"stable": 1}}
    assert not (cfg.output_dir / "models" / "digits_cnn" / "2").exists(), "on_fail: skip"
    assert (second.published.path / "saved_model.pb").is_file(), "the run keeps its export"


def test_with_on_fail_canary_a_failing_training_is_the_canary_beside_stable(tracked):
    cfg, _, client = tracked
    third = _train_failing(cfg, "tracking.registry.gate.on_fail=canary")
    version = int(third.published.version)
    assert _aliases(client)["challenger"] == str(version) and _aliases(client)["champion"] == "1"
    assert third.outcome.labels == {"stable": 1, "canary": version}
    assert _labels(cfg.output_dir / "models") == {"digits_cnn": {"stable": 1, "canary": version}}
    served = f"digits_cnn version {version} (canary) at {third.published.path}"
    assert from_result(third).served == served


def test_publish_serves_the_champion_stable_and_a_named_challenger_canary(tracked, tmp_path):
    from kerasforge.serving.card import read_card

    cfg, _, client = tracked
    challenger = int(_aliases(client)["challenger"])
    repo = tmp_path / "repo"
    uri = f"sqlite:///{cfg.output_dir / 'mlflow.db'}"
    common = ["--model", "digits_cnn", "--repository", str(repo), "--uri", uri]
    assert main(["publish", *common]) == 0
    assert _labels(repo) == {"digits_cnn": {"stable": 1}}, "on_fail: skip (the config's)"
    assert not (repo / "digits_cnn" / str(challenger)).exists()
    assert main(["publish", *common, "--alias", "challenger"]) == 0
    assert (repo / "digits_cnn" / "1" / "saved_model.pb").is_file()
    assert read_card(repo / "digits_cnn" / str(challenger)).version == challenger
    assert _labels(repo) == {"digits_cnn": {"stable": 1, "canary": challenger}}


def test_publish_of_an_unknown_version_or_alias_is_one_line(tracked, tmp_path, capsys):
    cfg, _, _ = tracked
    uri = f"sqlite:///{cfg.output_dir / 'mlflow.db'}"
    common = ["--model", "digits_cnn", "--repository", str(tmp_path / "repo"), "--uri", uri]
    assert main(["publish", *common, "--version", "9"]) == 2
    assert "has no version 9" in capsys.readouterr().err
    assert main(["publish", *common, "--alias", "nope"]) == 2
    assert "has no alias 'nope'" in capsys.readouterr().err
