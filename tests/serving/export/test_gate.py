"""The validation gate's worker: one per publishing process, each export loaded afresh,
TensorFlow without Keras, a failure refused and the worker replaced."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from kerasforge.serving.export import gate
from tests.conftest import ROOT

pytestmark = pytest.mark.heavy  # each test starts a gate worker (a TensorFlow process)


@pytest.fixture(scope="module")
def export(published):
    return published.published.path


def test_one_worker_judges_every_export_of_a_process(published, export):
    first = gate.validate(export, published.model, published.published.card)
    worker = gate._current_worker().proc.pid
    second = gate.validate(export, published.model, published.published.card)
    assert first == second <= gate.TOLERANCE
    assert gate._current_worker().proc.pid == worker, "the worker is reused, not respawned"


def test_a_relative_path_is_read_from_this_process_s_folder(published, export, monkeypatch):
    # The worker keeps the folder it started in; a publish after a chdir (a notebook in
    # another folder, output_dir=artifacts) must still be judged on its own export.
    gate.prepare()
    worker = gate._current_worker().proc.pid
    monkeypatch.chdir(export.parent)
    relative = export.relative_to(export.parent)
    assert gate.validate(relative, published.model, published.published.card) <= gate.TOLERANCE
    assert gate._current_worker().proc.pid == worker


def test_an_export_that_does_not_load_is_refused_and_the_worker_replaced(
    published, export, tmp_path
):
    broken = tmp_path / "broken"
    shutil.copytree(export, broken)
    (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
    gate.prepare()
    before = gate._current_worker().proc.pid
    with pytest.raises(gate.GateError, match="does not load and serve in a fresh process"):
        gate.validate(broken, published.model, published.published.card)
    assert gate._current_worker().proc.pid != before, "a failed worker is not reused"
    assert gate.validate(export, published.model, published.published.card) <= gate.TOLERANCE


def test_a_worker_that_dies_fails_the_gate_with_its_last_words(published, export):
    gate.prepare()
    gate._current_worker().proc.kill()
    gate._current_worker().proc.wait()
    worker = gate._Worker()  # a fresh one, killed while it works
    worker.proc.kill()
    assert worker.ask(export, export / "unused.npz") is not None
    assert gate.validate(export, published.model, published.published.card) <= gate.TOLERANCE


def test_the_one_shot_command_serves_an_export_with_tensorflow_alone(export, tmp_path):
    """``python -m kerasforge.serving.export.gate SAVED_MODEL OUT.npz`` still runs, and the
    worker's TensorFlow never loads Keras: the export must load from its files alone."""
    probe = (
        "import json, runpy, sys\n"
        "sys.argv = ['gate', sys.argv[1], sys.argv[2]]\n"
        "runpy.run_module('kerasforge.serving.export.gate', run_name='__main__')\n"
        "print(json.dumps(sorted(m for m, v in sys.modules.items() if v is not None)))\n"
    )
    out = tmp_path / "served.npz"
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(export), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "tensorflow" in loaded
    assert not [m for m in loaded if m.split(".")[0] in ("keras", "tf_keras")]
    served = np.load(out)
    assert {"0/probabilities", "0/class_ids"} <= set(served)
