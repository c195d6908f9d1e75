"""``kerasforge monitor`` on a tabular and a text version: ``--data`` with CSV files (the
``csv_table`` / ``csv_text`` sources), and ``--to-dataset`` of logged text requests, read
back by the trainer's data loading beside the original source."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.heavy  # publishes models

DIABETES = ROOT / "configs" / "diabetes_mlp.yaml"
CHASE = ROOT / "configs" / "chase_transformer.yaml"
UNKNOWN_WORDS = "zebra quokka axolotl narwhal okapi"


@pytest.fixture(scope="module")
def tabular(monitored_once):
    return monitored_once(DIABETES)


@pytest.fixture(scope="module")
def text(monitored_once):
    return monitored_once(CHASE)


def run_cli(version, *args: str) -> int:
    from kerasforge.cli.main import main

    common = ["--model", version.name, "--repository", str(version.repository), "--no-mlflow"]
    return main(["monitor", *common, *args])


def report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())["report"]


def write_table(path: Path, names: list[str], x: np.ndarray) -> Path:
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow([*names, "label"])
        out.writerows([*row.tolist(), "0"] for row in x)
    return path


def test_a_csv_table_of_held_out_rows_is_quiet(tabular, tmp_path):
    # The test split (89 rows training never saw); the false-alarm rate over many such
    # windows is measured in tests/serving/monitoring/test_drift_calibration.py
    names = list(tabular.splits.info.feature_names)
    x = tabular.splits.x_test
    write_table(tmp_path / "same.csv", names, x)
    assert run_cli(tabular, "--data", str(tmp_path / "same.csv"), "--out", str(tmp_path / "a")) == 0
    quiet = report(tmp_path / "a")
    assert quiet["live_rows"] == len(x) and set(quiet["inputs"]) == set(names)
    assert {quiet["inputs"][n]["verdict"] for n in names} == {"ok"}
    assert all(quiet["inputs"][n]["psi"] < 0.1 for n in names)  # drift.py's psi_warn


def test_a_csv_table_with_one_column_shifted_alerts_on_that_column(tabular, tmp_path):
    names = list(tabular.splits.info.feature_names)
    shifted = tabular.splits.x_test.copy()
    bmi = names.index("bmi")
    shifted[:, bmi] += 3 * tabular.splits.x_train[:, bmi].std()  # three std heavier
    write_table(tmp_path / "heavier.csv", names, shifted)
    assert run_cli(tabular, "--data", str(tmp_path / "h*.csv"), "--out", str(tmp_path / "b")) == 3
    loud = report(tmp_path / "b")
    assert loud["inputs"]["bmi"]["verdict"] == "alert"
    assert [n for n in names if loud["inputs"][n]["verdict"] == "alert"] == ["bmi"]


def write_texts(path: Path, texts: list[str]) -> Path:
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["text", "label"])
        out.writerows([t, "cat"] for t in texts)
    return path


def held_out_texts(version) -> list[str]:
    """The test split's texts (never trained on)."""
    return [str(t) for t in version.splits.x_test]


def test_a_csv_of_held_out_texts_is_quiet_and_unknown_words_alert(text, tmp_path):
    texts = held_out_texts(text)
    write_texts(tmp_path / "same.csv", texts)
    write_texts(tmp_path / "new.csv", [f"{t} {UNKNOWN_WORDS}" for t in texts])
    assert run_cli(text, "--data", str(tmp_path / "same.csv"), "--out", str(tmp_path / "a")) == 0
    quiet = report(tmp_path / "a")
    assert quiet["live_rows"] == len(texts) and quiet["inputs"]["text"]["verdict"] == "ok"
    assert run_cli(text, "--data", str(tmp_path / "new.csv"), "--out", str(tmp_path / "b")) == 3
    loud = report(tmp_path / "b")
    assert loud["inputs"]["text"]["verdict"] == "alert"
    assert loud["inputs"]["text"]["oov_rate_difference"] >= 0.10  # drift.py's oov_alert


def write_text_logs(version, folder: Path, texts: list[str]) -> Path:
    """``texts`` logged as REST predict requests of 50, answered by the version, with the
    server's own request-log writer."""
    from kerasforge.serving.server.model_config import ModelEntry, RequestLogConfig
    from kerasforge.serving.server.observers import Exchange
    from kerasforge.serving.server.request_log import RequestLog
    from kerasforge.serving.server.store import ModelStore

    store = ModelStore()
    config = RequestLogConfig(f"{folder}/", 1.0)
    store.configure([ModelEntry(version.name, version.repository / version.name, logging=config)])
    log = RequestLog(store)
    key = version.loaded.card.signature("serving_default").inputs[0].name
    for start in range(0, len(texts), 50):
        batch = np.array(texts[start : start + 50], dtype=object)
        outputs = version.loaded.predict(batch, "serving_default")
        log.observe(Exchange(version.name, version.loaded.version, "serving_default", "predict",
                             "rest", inputs={key: batch}, outputs=outputs))  # fmt: skip
    log.close()
    return folder


def test_to_dataset_of_logged_texts_is_read_back_beside_the_original_source(text, tmp_path, capsys):
    from kerasforge.pipelines.config.experiment import load_config
    from kerasforge.pipelines.tasks import get_task
    from kerasforge.pipelines.training.train import load_splits

    texts = held_out_texts(text)
    logs = write_text_logs(text, tmp_path / "logs", texts)
    folder = tmp_path / "live"
    assert run_cli(text, "--logs", str(logs), "--to-dataset", str(folder)) == 0
    assert "source: csv_text" in capsys.readouterr().out
    with (folder / "requests.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["text"] for r in rows] == texts and {r["label"] for r in rows} == {""}
    assert {r["predicted"] for r in rows} <= set(text.splits.info.class_names)
    truth = [text.splits.info.class_names[i] for i in text.splits.y_test]
    with (folder / "requests.csv").open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["id", "text", "predicted", "label"])
        out.writerows([r["id"], r["text"], r["predicted"], truth[i] if i % 3 else ""]
                      for i, r in enumerate(rows))  # fmt: skip
    config = tmp_path / "merged.yaml"
    config.write_text(
        (folder / "data.yaml").read_text().replace("  # source: ...", "  source: chase  #")
        + "model: {name: transformer_classifier}\ntask: {name: classification}\n"
    )
    cfg = load_config(config, [f"output_dir={tmp_path}"])
    splits = load_splits(cfg, get_task(cfg.task.name, cfg.task.options))
    labelled = sum(1 for i in range(len(rows)) if i % 3)
    assert sum(splits.sizes.values()) == sum(text.splits.sizes.values()) + labelled
    assert splits.info.class_names == text.splits.info.class_names
