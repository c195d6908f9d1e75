"""``kerasforge serve``, ``predict`` and ``export`` (``kerasforge.serving.cli``)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from argparse import Namespace

import numpy as np
import pytest

from kerasforge.cli.main import SIDES, main
from kerasforge.serving.card import ModelCard, write_card
from kerasforge.serving.errors import ServingError
from kerasforge.serving.export.publish import run_model_name
from tests.conftest import CLI_PROBE, ROOT, loaded_modules, run_cli, run_cli_probe

# the parsers' own modules and the packages that hold them (their __init__ is a docstring)
PARSERS = {".".join(side.split(".")[:n]) for side in SIDES for n in range(2, side.count(".") + 2)}


def training_modules(modules: set[str]) -> list[str]:
    """Loaded modules that are training code or MLflow (the parsers' own modules aside)."""
    return sorted(
        m
        for m in modules
        if m.split(".")[0] == "mlflow"
        or (m.startswith("kerasforge.pipelines.") and m not in PARSERS)
        or m.startswith("kerasforge.models")
    )


def test_predict_of_a_missing_file_fails_clearly(tmp_path, capsys):
    assert main(["predict", "--input", str(tmp_path / "nope.json")]) == 2
    assert capsys.readouterr().err.startswith("error: input file ")


def test_predict_with_a_bad_url_fails_clearly(tmp_path, capsys):
    path = tmp_path / "one.json"
    path.write_text("[[1]]")
    assert main(["predict", "--input", str(path), "--url", "127.0.0.1:8501"]) == 2
    assert "bad server URL" in capsys.readouterr().err


@pytest.mark.heavy
def test_export_republishes_a_checkpoint(published, tmp_path):
    checkpoint = published.run_dir / "checkpoints" / "best.keras"
    proc = run_cli(
        "export",
        "--checkpoint",
        str(checkpoint),
        "--repository",
        str(tmp_path),
        timeout=300,
    )  # no --name: the run's export.model_name
    assert proc.returncode == 0, proc.stderr
    assert "published digits_cnn version 1" in proc.stdout
    assert (tmp_path / "digits_cnn" / "1" / "model.tflite").is_file()
    card = (tmp_path / "digits_cnn" / "1" / "kerasforge.json").read_text()
    assert '"class_names"' in card
    assert proc.stderr.strip() == "", "native start-up chatter must stay hidden"


def test_export_names_the_model_from_its_run_or_asks_for_a_name(tmp_path):
    run = tmp_path / "runs" / "r1"
    (run / "checkpoints").mkdir(parents=True)
    checkpoint = run / "checkpoints" / "best.keras"
    card = ModelCard(task="generation", architecture="dcgan", model_name="digits_dcgan")
    write_card(run, card)
    assert run_model_name(checkpoint) == "digits_dcgan"
    write_card(run, card.model_copy(update={"model_name": None}))
    with pytest.raises(ServingError, match="pass --name NAME"):
        run_model_name(checkpoint)
    (run / "kerasforge.json").write_text("{not json")
    with pytest.raises(ServingError, match="pass --name NAME"):
        run_model_name(checkpoint)
    (run / "kerasforge.json").unlink()
    proc = run_cli("export", "--checkpoint", str(checkpoint), "--repository", str(tmp_path))
    assert proc.returncode == 2 and "pass --name NAME" in proc.stderr, proc.stderr


@pytest.mark.heavy
def test_export_of_a_file_that_is_no_model_fails_clearly(tmp_path):
    bogus = tmp_path / "best.keras"
    bogus.write_text("not a model")
    repo = str(tmp_path / "repo")
    proc = run_cli(
        "export", "--checkpoint", str(bogus), "--repository", repo, "--name", "digits_cnn"
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert not (tmp_path / "repo" / "digits_cnn" / "1").exists()


@pytest.mark.heavy
def test_serve_on_an_empty_repository_fails_clearly(tmp_path):
    proc = run_cli(
        "serve", "--repository", str(tmp_path), "--rest-port", "0", "--port", "0", timeout=120
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: no model to serve")


def start_serve_probe(repository) -> tuple[subprocess.Popen, str]:
    """``kerasforge serve`` in a ``CLI_PROBE`` interpreter; returns it and its URL."""
    args = ["serve", "--repository", str(repository), "--rest-port", "0", "--port", "0"]
    args += ["--poll-seconds", "0"]
    proc = subprocess.Popen(
        [*CLI_PROBE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # ends when the server exits
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if match:
            return proc, match.group(1)
    proc.kill()
    raise AssertionError(f"serve did not start: {proc.communicate()[1]}")


@pytest.mark.heavy
def test_serve_and_predict_load_only_what_they_need(published, tmp_path):
    """serve answers without training code or MLflow; predict loads no TensorFlow."""
    server, url = start_serve_probe(published.published.path.parents[1])
    try:
        np.save(tmp_path / "two.npy", np.zeros((2, 8, 8, 1), "float32"))
        proc, predict_modules = run_cli_probe(
            "predict", "--input", str(tmp_path / "two.npy"), "--url", url, "--model", "digits_cnn"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=60)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout.splitlines()[0])
    assert len(answer["predictions"]) == 2
    assert not {m.split(".")[0] for m in predict_modules} & {"tensorflow", "keras", "mlflow"}
    assert training_modules(predict_modules) == []

    assert server.returncode == 0, err
    serve_modules = loaded_modules(out)
    assert "tensorflow" in serve_modules, "the probe must see what serve really loaded"
    assert "keras" not in {m.split(".")[0] for m in serve_modules}, "serving needs no Keras"
    assert training_modules(serve_modules) == []


@pytest.mark.parametrize(
    ("flags", "threads"),
    [
        ({}, (0, 0)),
        ({"session": 3}, (3, 3)),
        ({"session": 3, "intra_op": 1}, (1, 0)),  # the pair wins where either is set
        ({"inter_op": 2}, (0, 2)),
    ],
)
def test_tensorflow_thread_flags_read_as_tf_serving_reads_them(flags, threads):
    from kerasforge.serving.cli import tensorflow_threads

    args = Namespace(
        **{
            f"tensorflow_{k}_parallelism": flags.get(k, 0)
            for k in ("session", "intra_op", "inter_op")
        }
    )
    assert tensorflow_threads(args) == threads


@pytest.mark.parametrize(
    "flag",
    ["--tensorflow_intra_op_parallelism", "--rest_api_num_threads", "--grpc_max_threads"],
)
def test_a_negative_thread_count_is_a_usage_error(capsys, flag):
    with pytest.raises(SystemExit) as info:
        main(["serve", flag, "-2"])
    assert info.value.code == 2
    assert "expected a whole number >= 0; received '-2'" in capsys.readouterr().err


def test_request_threads_default_to_tf_serving_s_four_per_cpu():
    from kerasforge.serving.cli import request_limits
    from kerasforge.serving.server.grpc_api import request_threads
    from kerasforge.serving.server.workers import default_threads

    cpus = len(os.sched_getaffinity(0))
    assert default_threads() == 4 * cpus
    flags = {"rest_api_timeout_in_ms": 30_000}
    assert request_limits(Namespace(rest_api_num_threads=0, **flags)).workers == 4 * cpus
    assert request_limits(Namespace(rest_api_num_threads=3, **flags)).workers == 3
    assert request_threads(0, 64, None) == 4 * cpus
    assert request_threads(5, 64, None) == 5
