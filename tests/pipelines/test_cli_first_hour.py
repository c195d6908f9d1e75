"""``kerasforge train`` of two tasks in a row in one folder, as a new user runs them, then
``kerasforge predict`` with no model and no input (#23): each run ends with its summary
(at most twelve lines), export reports each step, and predict asks the model trained
last with its own sample request, over a real ``kerasforge serve``."""

from __future__ import annotations

import json
import subprocess

import pytest

from kerasforge.pipelines.training.summary import MAX_LINES
from tests.conftest import CLI, ROOT, TINY, ServerProcess

pytestmark = pytest.mark.heavy

# Short runs; the baseline floor is off so that two epochs of regression are served too
# (the headline is then the test metric alone).
FAST = ["train.epochs=2", "tracking.registry.gate.baseline_floor=false"]


def cli_in(folder, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``kerasforge ARGS`` run from ``folder`` (its ``artifacts/`` is the default output)."""
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=folder
    )


def train_in(folder, config: str, *overrides: str) -> subprocess.CompletedProcess:
    proc = cli_in(folder, "train", "--config", str(ROOT / "configs" / config), "--set", *FAST,
                  *overrides, "output_dir=artifacts")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """digits_cnn (classification) trained, then diabetes_mlp (regression), in one folder."""
    folder = tmp_path_factory.mktemp("first-hour")
    digits = train_in(folder, "digits_cnn.yaml", *TINY, "export.tflite.variants=[float32,int8]")
    diabetes = train_in(folder, "diabetes_mlp.yaml", "export.tflite.enabled=false")
    return folder, digits, diabetes


@pytest.fixture(scope="module")
def server(two_runs):
    folder, _, _ = two_runs
    running = ServerProcess(folder / "artifacts" / "models")
    yield running
    running.stop()


def summary_lines(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("result: ")]
    assert len(starts) == 1, stdout
    return lines[starts[0] :]


def test_train_ends_with_a_summary_of_at_most_twelve_lines(two_runs):
    _, digits, _ = two_runs
    lines = summary_lines(digits.stdout)
    assert len(lines) <= MAX_LINES, lines
    prefixes = ["result: test accuracy ", "epochs: ", "time: ", "model: digits_cnn version 1 ",
                "release gate: passed", "card: artifacts/models/digits_cnn/1/kerasforge.json",
                "run folder: artifacts/runs/", "plots: artifacts/runs/", "mlflow: run ",
                "sample request: artifacts/samples/digits_cnn.json",
                "next: make serve, then make predict (asks digits_cnn); make mlflow-ui",
                ]  # fmt: skip
    assert [line[: len(p)] for line, p in zip(lines, prefixes, strict=True)] == prefixes
    assert "epoch limit (2)" in lines[1] or "early stopping kept epoch" in lines[1]
    for stage in ("data ", "training ", "evaluation ", "export ", "TFLite ", "publish "):
        assert stage in lines[2], lines[2]


def test_export_reports_each_step_as_it_finishes(two_runs):
    _, digits, diabetes = two_runs
    steps = [line for line in digits.stdout.splitlines() if line.startswith("export: ")]
    assert [s.split(" (")[0].split(":")[1].strip() for s in steps] == [
        "SavedModel written",
        "validation gate passed",
        "TFLite float32",
        "TFLite int8",
        "parity report on 270 test examples",
    ]
    assert all(line.endswith(" s") or line.endswith(" s)") for line in steps), steps
    assert "export: TFLite" not in diabetes.stdout, "export.tflite.enabled: false"


def test_predict_asks_the_model_trained_last_with_its_own_sample(two_runs, server):
    folder, _, _ = two_runs
    assert json.loads((folder / "artifacts" / "last_trained.json").read_text())["model"] == (
        "diabetes_mlp"
    )
    proc = cli_in(folder, "predict", "--url", server.url, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "predict: asking diabetes_mlp (trained last, version 1) with "
        "artifacts/samples/diabetes_mlp.json"
    )
    assert len(json.loads(proc.stdout)["predictions"]) == 4


def test_predict_model_still_picks_another_model_and_its_sample(two_runs, server):
    folder, _, _ = two_runs
    proc = cli_in(folder, "predict", "--url", server.url, "--model", "digits_cnn", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "asking digits_cnn (--model) with artifacts/samples/digits_cnn.json" in proc.stderr
    predictions = json.loads(proc.stdout)["predictions"]
    assert len(predictions) == 4 and {"class_ids", "probabilities"} <= set(predictions[0])
