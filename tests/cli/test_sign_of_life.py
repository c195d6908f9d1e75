"""Every command that imports TensorFlow says what it is doing first (#23): its first line
comes before TensorFlow's import, which takes seconds (a minute or more on a busy machine).

Each command runs in a fresh interpreter that ends at its first import of TensorFlow and
says so on stdout (:data:`STOP_AT_TENSORFLOW`): every line that comes back was written
before that import, and the stop line shows that the import was reached. Nothing is timed,
and TensorFlow is never loaded.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kerasforge.cli.console import sign_of_life
from tests.conftest import ROOT

STOPPED = "-- stopped at the first import of tensorflow --"

# `kerasforge ARGS` whose first `import tensorflow` (not a look-up such as find_spec) prints
# STOPPED on stdout and ends the process before any of TensorFlow runs. Not on stderr: the
# command hides what is written there during TensorFlow's start (native log lines).
STOP_AT_TENSORFLOW = [
    sys.executable,
    "-c",
    "import importlib.abc, importlib.machinery, os, sys\n"
    "class Stop(importlib.abc.Loader):\n"
    "    def create_module(self, spec): return None\n"
    "    def exec_module(self, module):\n"
    f"        print({STOPPED!r}, flush=True)\n"
    "        os._exit(0)\n"
    "class Finder(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'tensorflow':\n"
    "            return importlib.machinery.ModuleSpec(name, Stop())\n"
    "sys.meta_path.insert(0, Finder())\n"
    "from kerasforge.cli.main import main\n"
    "sys.exit(main(sys.argv[1:]))\n",
]


def first_lines(*args: str, stream: str = "stdout") -> list[str]:
    """The lines ``kerasforge ARGS`` wrote to ``stream`` until it imported TensorFlow."""
    proc = subprocess.run(
        [*STOP_AT_TENSORFLOW, *args], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    out = proc.stdout.splitlines()
    assert STOPPED in out, f"never imported TensorFlow:\n{proc.stdout}\n{proc.stderr}"
    return out[: out.index(STOPPED)] if stream == "stdout" else proc.stderr.splitlines()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository folder with a model's folder, request logs, a batch and a checkpoint file
    (the commands stop before they read them)."""
    root = tmp_path_factory.mktemp("sign_of_life")
    (root / "models" / "digits_cnn").mkdir(parents=True)
    (root / "logs").mkdir()
    np.save(root / "batch.npy", np.zeros((1, 8, 8, 1), "float32"))
    (root / "best.keras").write_bytes(b"")
    return root


def test_train_names_its_config_before_tensorflow_loads():
    lines = first_lines("train", "--config", "configs/digits_cnn.yaml")
    assert lines == ["training configs/digits_cnn.yaml (loading TensorFlow) ..."]


def test_tune_names_its_config_before_tensorflow_loads():
    lines = first_lines("tune", "--config", "configs/digits_cnn_tune.yaml")
    assert lines == ["tuning configs/digits_cnn_tune.yaml (loading TensorFlow) ..."]


def test_monitor_names_the_traffic_and_the_model_before_tensorflow_loads(files: Path):
    logs, repository = str(files / "logs"), str(files / "models")
    lines = first_lines("monitor", "--model", "digits_cnn", "--repository", repository,
                        "--logs", logs)  # fmt: skip
    assert lines == [
        f"monitor: the request logs in {logs} against digits_cnn's training data "
        "(loading TensorFlow) ..."
    ]


def test_predict_over_grpc_says_what_it_asks_on_stderr_before_tensorflow_loads(files: Path):
    batch = files / "batch.npy"
    args = ("predict", "--grpc", "--model", "digits_cnn", "--grpc-address", "127.0.0.1:1", batch)
    lines = first_lines(*map(str, args), stream="stderr")
    assert lines == [
        f"predict: asking digits_cnn (--model) with {batch} over gRPC at 127.0.0.1:1 "
        "(loading TensorFlow) ..."
    ]
    assert first_lines(*map(str, args)) == [], "stdout is the JSON answer alone"


def test_serve_names_what_it_serves_before_tensorflow_loads(files: Path):
    repository = files / "models"
    lines = first_lines("serve", "--repository", str(repository), "--port", "0",
                        "--rest_api_port", "0")  # fmt: skip
    assert lines == [f"serve: the models of {repository} (loading TensorFlow) ..."]


def test_export_names_the_checkpoint_before_tensorflow_loads(files: Path):
    checkpoint = files / "best.keras"
    lines = first_lines("export", "--checkpoint", str(checkpoint), "--name", "digits_cnn",
                        "--repository", str(files / "models"))  # fmt: skip
    assert lines == [f"export: publishing {checkpoint} as digits_cnn (loading TensorFlow) ..."]


def test_backbone_names_the_checkpoint_before_tensorflow_loads(files: Path):
    checkpoint = files / "best.keras"
    lines = first_lines("backbone", str(checkpoint), str(files / "backbone.weights.h5"))
    assert lines == [f"backbone: reading {checkpoint} (loading TensorFlow) ..."]


def test_models_says_how_many_match_before_tensorflow_loads():
    lines = first_lines("models", "digits*")
    assert lines == ["1 model(s) matching 'digits*' (loading TensorFlow) ..."]


def test_the_line_leaves_out_loading_where_tensorflow_is_loaded_already(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", sys.modules.get("tensorflow", sys))
    sign_of_life("training x.yaml")
    assert capsys.readouterr().out == "training x.yaml\n"
