"""``kerasforge monitor`` on a real published version: request logs written by the server's
own ``RequestLog`` writer and data files, verdicts, report files, exit codes, MLflow, and
``--to-dataset`` read back by the trainer."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import DEFAULT_CONFIG, TINY

pytestmark = pytest.mark.heavy


def bright(x: np.ndarray) -> np.ndarray:
    """A shift of known size: brighter, less contrast (the recipe's new scanner)."""
    return np.clip(x * 0.6 + 100.0, 0.0, 255.0).astype("float32")


@pytest.fixture(scope="module")
def version(monitored_once) -> SimpleNamespace:
    """A tiny untrained digits classifier published with its training statistics (shared
    with the other monitoring tests: ``monitored_once``)."""
    return monitored_once(DEFAULT_CONFIG, TINY)


def write_logs(version: SimpleNamespace, folder: Path, x: np.ndarray) -> Path:
    """Log ``x`` as REST predict requests of 50 rows, answered by the version, with the
    server's own request-log writer."""
    from kerasforge.serving.server.model_config import ModelEntry, RequestLogConfig
    from kerasforge.serving.server.observers import Exchange
    from kerasforge.serving.server.request_log import RequestLog
    from kerasforge.serving.server.store import ModelStore

    store = ModelStore()
    config = RequestLogConfig(f"{folder}/", 1.0)
    store.configure([ModelEntry("digits_cnn", version.repository / "digits_cnn", logging=config)])
    log = RequestLog(store)
    for start in range(0, len(x), 50):
        batch = x[start : start + 50]
        outputs = version.loaded.predict(batch, "serving_default")
        log.observe(Exchange("digits_cnn", version.loaded.version, "serving_default", "predict",
                             "rest", inputs={"pixels": batch}, outputs=outputs))  # fmt: skip
    log.close()
    return folder


@pytest.fixture(scope="module")
def logs(version: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Logs of held-out digits (in distribution) and of the same digits brightened.

    Held out: the test split, never trained on (the version's statistics summarise the
    training split's inputs and the validation split's outputs)."""
    root = tmp_path_factory.mktemp("logs")
    x = version.splits.x_test
    return SimpleNamespace(
        same=write_logs(version, root / "same", x),
        shifted=write_logs(version, root / "bright", bright(x)),
    )


def run_cli(*args: str) -> int:
    from kerasforge.cli.main import main

    return main(["monitor", *args])


def test_logged_in_distribution_traffic_is_quiet_and_shifted_traffic_alerts(
    version, logs, tmp_path
):
    from kerasforge.pipelines.monitoring.monitor import monitor
    from kerasforge.pipelines.monitoring.traffic import read_logs

    quiet = monitor(version.loaded, read_logs(logs.same, version.loaded), out=tmp_path / "q")
    loud = monitor(version.loaded, read_logs(logs.shifted, version.loaded), out=tmp_path / "l")
    assert quiet.monitored.report.live_rows == len(version.splits.x_test)
    assert quiet.monitored.report.alerts() == []
    assert quiet.monitored.report.inputs["channel_0"].verdict in ("ok", "warn")
    shifted = loud.monitored.report.inputs["channel_0"]
    assert shifted.verdict == "alert" and shifted.psi >= 0.25
    assert "inputs/channel_0" in loud.monitored.report.alerts()
    assert loud.monitored.report.outputs  # the logged responses are monitored too


def test_the_cli_exits_0_without_an_alert_and_3_with_one_and_logs_to_mlflow(
    version, logs, tmp_path, capsys
):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    common = [
        "--model",
        "digits_cnn",
        "--repository",
        str(version.repository),
        "--tracking-uri",
        uri,
    ]
    assert run_cli(*common, "--logs", str(logs.same), "--out", str(tmp_path / "same")) == 0
    assert run_cli(*common, "--logs", str(logs.shifted), "--out", str(tmp_path / "shifted")) == 3
    printed = capsys.readouterr().out.splitlines()
    assert any(line.split()[:2] == ["alert", "inputs/channel_0:"] for line in printed)
    assert len(printed) <= 2 * 17
    report = json.loads((tmp_path / "shifted" / "report.json").read_text())
    assert report["report"]["inputs"]["channel_0"]["verdict"] == "alert"
    assert report["version"] == version.loaded.version
    text = (tmp_path / "shifted" / "report.md").read_text()
    assert "| [channel_0](plots/inputs-channel_0.png) |" in text and "**alert**" in text
    assert (tmp_path / "shifted" / "plots" / "inputs-channel_0.png").stat().st_size > 1000
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("digits_cnn-monitoring")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    assert [r.data.tags["kerasforge.verdict"] for r in runs][-1] == "alert"
    assert runs[-1].data.tags["kerasforge.version"] == str(version.loaded.version)
    assert runs[-1].data.metrics["psi.inputs.channel_0"] == pytest.approx(
        report["report"]["inputs"]["channel_0"]["psi"]
    )
    listed = [a.path for a in client.list_artifacts(runs[-1].info.run_id, "drift")]
    assert "drift/report.json" in listed and "drift/report.md" in listed


def test_a_numpy_data_file_is_read_by_the_training_source_and_run_through_the_model(
    version, tmp_path
):
    x, y = version.splits.x_test, version.splits.y_test
    for name, images in (("same", x), ("bright", bright(x))):
        np.save(tmp_path / f"{name}.npy", np.c_[images.reshape(len(x), -1), y].astype("float32"))
    common = ["--model", "digits_cnn", "--repository", str(version.repository), "--no-mlflow"]
    assert run_cli(*common, "--data", str(tmp_path / "same.npy"), "--out", str(tmp_path / "a")) == 0
    assert run_cli(*common, "--data", str(tmp_path / "b*.npy"), "--out", str(tmp_path / "b")) == 3
    report = json.loads((tmp_path / "b" / "report.json").read_text())["report"]
    assert set(report["outputs"]) == {"class_ids", "probabilities"}  # the model's answers
    assert report["live_rows"] == len(x)


def write_image_folder(root: Path, x: np.ndarray, y: np.ndarray) -> Path:
    """``x`` as 8-bit grey PNGs in one folder per class, as the ``image_folder`` source reads."""
    from PIL import Image

    for i, (image, label) in enumerate(zip(x, y, strict=True)):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        pixels = np.clip(np.round(image[..., 0]), 0, 255).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(root / str(label) / f"{i}.png")
    return root


def test_an_image_folder_is_read_by_the_training_source_and_run_through_the_model(
    version, tmp_path
):
    x, y = version.splits.x_test, version.splits.y_test
    same = write_image_folder(tmp_path / "same", x, y)
    brighter = write_image_folder(tmp_path / "bright", bright(x), y)
    common = ["--model", "digits_cnn", "--repository", str(version.repository), "--no-mlflow"]
    # PNGs hold 8-bit pixels, digits' are multiples of 255/16: their rounding is a tiny
    # shift, which a KS test counting 17,280 pixels as samples called significant; counted
    # in images (drift.py), the re-encoded held-out digits are quiet
    assert run_cli(*common, "--data", str(same), "--out", str(tmp_path / "a")) == 0
    quiet = json.loads((tmp_path / "a" / "report.json").read_text())["report"]
    assert quiet["live_rows"] == len(x) and quiet["verdict"] != "alert"
    assert quiet["inputs"]["channel_0"]["live_count"] == len(x)
    assert quiet["inputs"]["channel_0"]["ks_p_value"] > 0.01
    assert quiet["inputs"]["channel_0"]["psi"] < 0.05
    assert quiet["inputs"]["image_size"]["verdict"] == "ok"
    assert quiet["outputs"]["class_ids"]["verdict"] == "ok"
    assert run_cli(*common, "--data", str(brighter), "--out", str(tmp_path / "b")) == 3
    loud = json.loads((tmp_path / "b" / "report.json").read_text())["report"]
    assert loud["inputs"]["channel_0"]["verdict"] == "alert" and loud["live_rows"] == len(x)
    assert loud["inputs"]["channel_0.mean"]["verdict"] == "alert"


def test_usage_errors_exit_2_with_one_line(version, logs, tmp_path, capsys):
    common = ["--model", "digits_cnn", "--repository", str(version.repository), "--no-mlflow"]
    assert run_cli(*common, "--data", str(tmp_path / "x.npy"), "--to-dataset", "d") == 2
    assert (
        run_cli(
            "--model", "nope", "--repository", str(version.repository), "--logs", str(logs.same)
        )
        == 2
    )
    assert run_cli(*common, "--version", "9", "--logs", str(logs.same)) == 2
    assert run_cli(*common, "--data", str(tmp_path / "missing.npy")) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 4 and all(line.startswith("error: monitor: ") for line in errors)
    assert "--to-dataset" in errors[0] and "'nope'" in errors[1] and "version 9" in errors[2]


def test_to_dataset_is_read_by_the_tfrecord_source_and_trains_with_the_original(
    version, logs, tmp_path, capsys
):
    from kerasforge.pipelines.config.experiment import load_config
    from kerasforge.pipelines.training.train import train

    folder = tmp_path / "live"
    args = ["--model", "digits_cnn", "--repository", str(version.repository), "--no-mlflow"]
    assert run_cli(*args, "--logs", str(logs.shifted), "--to-dataset", str(folder)) == 3
    assert "extra:" in capsys.readouterr().out
    with (folder / "labels.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(version.splits.x_test) and rows[0]["label"] == ""
    assert {r["predicted"] for r in rows} <= {str(c) for c in range(10)}
    truth = version.splits.y_test  # the logs hold the test split in order
    with (folder / "labels.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "predicted", "label"])
        writer.writerows([r["id"], r["predicted"], str(truth[i]) if i % 3 else ""]
                         for i, r in enumerate(rows))  # fmt: skip
    config = tmp_path / "merged.yaml"
    config.write_text(
        (folder / "data.yaml").read_text().replace("  # source: ...", "  source: digits  #")
        + "model: {name: digits_cnn}\n"
    )
    cfg = load_config(config, [*TINY, "train.epochs=1", "export.enabled=false",
                               "tracking.enabled=false", f"output_dir={tmp_path}"])  # fmt: skip
    result = train(cfg)
    labelled = sum(1 for i in range(len(rows)) if i % 3)
    assert sum(result.splits.sizes.values()) == 1797 + labelled
    assert result.splits.info.class_names == tuple(str(c) for c in range(10))
    live_pixels = bright(version.splits.x_test)[1]
    assert any(np.array_equal(live_pixels, row) for part in (result.splits.x_train,
               result.splits.x_val, result.splits.x_test) for row in part)  # fmt: skip
