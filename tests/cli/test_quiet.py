"""The quiet switch (``kerasforge.cli.quiet``, ``kerasforge.cli.stderr_filter``): libraries'
own log lines hidden from every command by default, back with ``--verbose``."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from kerasforge.cli.quiet import (
    FILTER_SCRIPT,
    QUIET_LOGGERS,
    VERBOSE_ENV,
    filtered_stderr,
    quiet_command,
)
from tests.conftest import ROOT, run_cli

# What a user saw before (#23), each a library's line; none may reach a quiet command's output.
LIBRARY_LINES = re.compile(
    r"absl::InitializeLog|oneDNN custom operations|cudart_stub|cpu_feature_guard|cuInit|"
    r"fully_quantize|XNNPACK delegate|JPEG library|INFO mlflow|^\[I \d{4}-|tf\.function retracing|"
    r"StarletteDeprecationWarning|Successfully registered model|^Created version '|"
    r"^[IWE]\d{4} \d\d:\d\d:\d+\.\d+",
    re.MULTILINE,
)
NATIVE_LOG_LINE = re.compile(r"^[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] ", re.MULTILINE)


def library_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [m.group(0) for m in LIBRARY_LINES.finditer(proc.stdout + proc.stderr)]


def quiet_env() -> dict[str, str]:
    """This environment without a verbose switch a developer may have set."""
    return {k: v for k, v in os.environ.items() if k != VERBOSE_ENV}


def test_the_filter_drops_library_lines_and_passes_everything_else():
    lines = [
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        b"I0000 00:00:1796674478.887316   20507 port.cc:153] oneDNN custom operations are on.",
        b"E0000 00:00:1796673587.383786    4234 cuda_platform.cc:52] failed call to cuInit: x",
        b"E0000 00:00:1796673587.383786    4234 saver.cc:10] a real error stays",
        b"fully_quantize: 0, inference_type: 6, input_inference_type: INT8",
        b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
        b"Improper call to JPEG library in state 201",
        b"[I 2026-01-01 10:00:00,123] Trial 0 finished with value: 0.9",
        b"WARNING:root:apitools not found, and bigquery client libraries are not available "
        b"despite the import not raising an ImportError.",
        b"WARNING:root:Resource module is not available for current platform, memory usage "
        b"cannot be fetched.",
        b"Registered model 'digits_cnn' already exists. Creating a new version of this model...",
        b"[MLflow] Security middleware enabled with default settings (localhost-only). To allow "
        b"connections from other hosts, use --host 0.0.0.0 and configure --allowed-hosts.",
        b"[MLflow] WARNING: Security middleware is DISABLED. Your MLflow server is vulnerable.",
        b"Traceback (most recent call last):",
        b"error: data checks failed",
    ]
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(FILTER_SCRIPT)],
        input=b"\n".join(lines) + b"\na partial line",
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout.decode().splitlines() == [
        "E0000 00:00:1796673587.383786    4234 saver.cc:10] a real error stays",
        "[MLflow] WARNING: Security middleware is DISABLED. Your MLflow server is vulnerable.",
        "Traceback (most recent call last):",
        "error: data checks failed",
        "a partial line",
    ]


def test_fd_2_is_filtered_in_the_block_and_restored_after_an_error(capfd):
    with pytest.raises(RuntimeError), filtered_stderr():
        os.write(2, b"I0000 00:00:1.5 7 port.cc:1] native chatter\nkept\n")
        raise RuntimeError("the command failed")
    os.write(2, b"I0000 00:00:1.5 7 port.cc:1] after the block: not filtered\n")
    assert capfd.readouterr().err == (
        "kept\nI0000 00:00:1.5 7 port.cc:1] after the block: not filtered\n"
    )


def test_a_quiet_block_gives_the_loggers_and_environment_back(monkeypatch):
    import logging

    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    name = next(iter(QUIET_LOGGERS))
    logger = logging.getLogger(name)
    monkeypatch.setattr(logger, "level", logging.DEBUG)  # a notebook's own choice
    monkeypatch.delenv("MLFLOW_LOGGING_LEVEL", raising=False)
    with quiet_command():
        assert logger.level == QUIET_LOGGERS[name]
        assert os.environ["MLFLOW_LOGGING_LEVEL"] == "WARNING"  # for the block's children
    assert logger.level == logging.DEBUG
    assert "MLFLOW_LOGGING_LEVEL" not in os.environ  # later commands of the session speak


@pytest.mark.heavy  # two TensorFlow start-ups, each decoding a corrupt JPEG
def test_the_wrapper_quiets_libjpeg_and_keeps_our_own_lines(tmp_path):
    from PIL import Image

    Image.new("RGB", (16, 16)).save(tmp_path / "ok.jpg")
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    script = (
        "import sys, tensorflow as tf\n"
        f"files = tf.data.Dataset.from_tensor_slices([{str(tmp_path / 'cut.jpg')!r}])\n"
        "decoded = files.map(lambda p: tf.io.decode_image(tf.io.read_file(p), channels=3,"
        " expand_animations=False)).ignore_errors()\n"
        "print('decoded', len(list(decoded)))\n"
        "print('a line of ours', file=sys.stderr)\n"
    )
    command = [sys.executable, "-m", "kerasforge.cli.quiet", sys.executable, "-c", script]
    quiet = subprocess.run(command, capture_output=True, text=True, timeout=300, env=quiet_env())
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == "decoded 0\n"
    assert quiet.stderr == "a line of ours\n", library_lines(quiet)
    loud = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**quiet_env(), VERBOSE_ENV: "1"}
    )
    assert "Improper call to JPEG library" in loud.stderr  # libjpeg's own line, for real


@pytest.mark.heavy  # exports a SavedModel and its TFLite variants, twice
def test_export_is_quiet_and_verbose_brings_tensorflow_s_lines_back(published, tmp_path):
    checkpoint = str(published.run_dir / "checkpoints" / "best.keras")
    args = ["export", "--checkpoint", checkpoint, "--name", "m"]
    quiet = run_cli(*args, "--repository", str(tmp_path / "q"), env=quiet_env())
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "" and not library_lines(quiet)
    loud = run_cli("--verbose", *args, "--repository", str(tmp_path / "v"), env=quiet_env())
    assert loud.returncode == 0, loud.stderr
    # TensorFlow's C++ lines (the converter reading the SavedModel, at least) come back.
    assert NATIVE_LOG_LINE.search(loud.stderr), loud.stderr[-2000:]


@pytest.mark.heavy  # TensorFlow and MLflow start-ups
def test_runs_gc_and_publish_are_quiet_and_mlflow_speaks_with_verbose(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"  # a new store: MLflow creates its tables
    gc = run_cli("runs", "gc", "--uri", uri, timeout=300, env=quiet_env())
    assert gc.returncode == 0, gc.stderr
    assert gc.stderr == "" and gc.stdout.endswith("orphaned run(s) in experiment 'kerasforge'\n")
    publish = run_cli("publish", "--model", "nope", "--uri", uri, "--repository",
                      str(tmp_path / "models"), timeout=300, env=quiet_env())  # fmt: skip
    assert publish.returncode == 2
    assert publish.stderr.startswith("error: ") and publish.stderr.count("\n") == 1
    loud = run_cli("runs", "gc", "--verbose", "--uri", f"sqlite:///{tmp_path / 'new.db'}",
                   timeout=300, env=quiet_env())  # fmt: skip
    assert "Creating initial MLflow database tables" in loud.stderr


@pytest.mark.heavy  # one short training under Optuna
def test_tune_prints_no_optuna_or_retracing_lines(tmp_path):
    proc = run_cli(
        "tune", "--config", str(ROOT / "configs" / "digits_cnn_tune.yaml"), "--trials", "1",
        "--set", f"output_dir={tmp_path}", "train.epochs=1", "model.options.filters=[4]",
        timeout=600, env=quiet_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "best " in proc.stdout
    assert not library_lines(proc), library_lines(proc)
