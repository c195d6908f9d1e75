"""Two-worker training through `kerasforge train`: by hand and by the local launcher.

Two workers each given a hand-built TF_CONFIG (as a cluster manager starts them) are
the reference: they train to identical weights, and the launcher's workers
(`--workers 2`, which build theirs from the environment, as Indexed Job pods do) must
match them. The launch has a worker killed mid-run and is resumed by the same command,
so it also shows the failure handling and that a resumed run ends where a straight one
does. Each two-worker run happens once per module and is shared by the tests that read
it (same tiny settings as tests/pipelines/training/test_multiworker.py).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from kerasforge.pipelines.training.multiworker import WORKERS_FOLDER
from tests.conftest import CLI, ROOT
from tests.pipelines.training.test_multiworker import (
    EPOCHS,
    SETTINGS,
    _best_weights,
    _runs,
    _start_workers,
)

pytestmark = pytest.mark.heavy

CONFIG = ROOT / "configs" / "digits_cnn.yaml"
ENV = {**os.environ, "MLFLOW_TRACKING_URI": "", "PYTHONUNBUFFERED": "1"}


def _train(out: Path, *extra: str) -> list[str]:
    return [*CLI, "train", *extra, "--config", str(CONFIG), "--set", *SETTINGS, f"output_dir={out}"]


def _launch(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        _train(out, "--workers", "2"), env=ENV, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def by_hand(tmp_path_factory) -> tuple[Path, list[subprocess.CompletedProcess]]:
    """Two workers started as a cluster manager would, each given its own TF_CONFIG:
    the reference the launcher's workers are held to."""
    out = tmp_path_factory.mktemp("by_hand")
    return out, _start_workers(_train(out), ROOT)


@dataclass
class Launched:
    """One `--workers 2` launch killed after the chief's first checkpoint, then resumed."""

    out: Path
    killed_log: str  # the launcher's output up to the kill
    killed_return_code: int
    epochs_at_kill: int
    resumed: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def launched(tmp_path_factory) -> Launched:
    """Worker 1 is SIGKILLed once the chief has checkpointed an epoch; the same command
    then resumes. Each launch of two workers costs tens of seconds, so the tests of a
    whole launch read the resumed one: it must end as a straight run would."""
    out = tmp_path_factory.mktemp("launched")
    log = out.parent / f"{out.name}-launcher.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            _train(out, "--workers", "2"), env=ENV, stdout=sink, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 600
        while _chief_epochs(out) < 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        pid = _worker_pid(log, 1)
        assert pid is not None, log.read_text()[-3000:]
        os.kill(pid, signal.SIGKILL)
        code = proc.wait(timeout=120)
    epochs = _chief_epochs(out)
    return Launched(out, log.read_text(), code, epochs, _launch(out))


def _chief_epochs(out: Path) -> int:
    states = list((out / "resume").glob("*/state.json"))
    try:
        return json.loads(states[0].read_text())["epochs_done"] if states else 0
    except (ValueError, KeyError):
        return 0  # caught between write and rename


def _worker_pid(log: Path, index: int) -> int | None:
    found = re.search(rf"^worker {index}: pid (\d+)", log.read_text(), re.M)
    return int(found.group(1)) if found else None


def test_a_worker_killed_mid_run_stops_the_run_with_one_line(launched):
    assert launched.killed_return_code == 1, launched.killed_log[-3000:]
    text = launched.killed_log
    assert "error: worker 1 of 2 was killed by SIGKILL; stopping the other workers" in text
    assert str(launched.out / WORKERS_FOLDER / "worker-1.log") in text
    assert 1 <= launched.epochs_at_kill < EPOCHS, (
        "killed after the first checkpoint, before the end"
    )


def test_the_same_command_resumes_and_shows_the_chief_and_keeps_every_worker_s_log(launched):
    out, done = launched.out, launched.resumed
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "worker 0 (chief)" in done.stdout and "test accuracy" in done.stdout
    logs = out / WORKERS_FOLDER
    assert "Epoch 1/" not in done.stdout, "the chief does not start over"
    assert "Epoch 1/" not in (logs / "worker-1.log").read_text()
    assert "test accuracy" in (logs / "worker-1.log").read_text()
    assert "test accuracy" in (logs / "worker-0.log").read_text()
    for a, b in zip(_best_weights(out), _best_weights(logs / "worker-1"), strict=True):
        np.testing.assert_array_equal(a, b)
    ((_, status),) = _runs(out / "mlflow.db")
    assert status == "FINISHED", "the resumed run continues the chief's one MLflow run"
    assert not list((out / "resume").glob("*/state.json")), "a finished run leaves no state"


def test_the_launcher_s_workers_match_two_workers_given_tf_config_by_hand(launched, by_hand):
    """Killed and resumed, the launcher's workers end where two straight workers given a
    TF_CONFIG by hand end. Same tolerance as the one-process resume test
    (test_run_control.py): the restored variables are exact, so this is float32 round-off
    at most; in practice it is equal."""
    reference_out, reference = by_hand
    assert all(r.returncode == 0 for r in reference), reference[0].stdout[-2000:]
    assert launched.resumed.returncode == 0, launched.resumed.stdout[-2000:]
    ours, theirs = _best_weights(launched.out), _best_weights(reference_out)
    assert len(ours) == len(theirs) > 0
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_two_workers_train_through_the_same_trainer_to_identical_weights(by_hand):
    tmp_path, (chief, worker) = by_hand
    assert chief.returncode == 0, chief.stdout[-3000:]
    assert worker.returncode == 0, worker.stdout[-3000:]
    scratch = tmp_path / WORKERS_FOLDER / "worker-1"

    chief_weights, worker_weights = _best_weights(tmp_path), _best_weights(scratch)
    assert len(chief_weights) == len(worker_weights) > 0
    for a, b in zip(chief_weights, worker_weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert "test accuracy" in chief.stdout and "test accuracy" in worker.stdout
    # One run and one published version where the user looks; the other worker's in its scratch.
    ((_, status),) = _runs(tmp_path / "mlflow.db")
    assert status == "FINISHED"
    assert [p.name for p in (tmp_path / "models" / "digits_cnn").iterdir() if p.is_dir()] == ["1"]
    assert len(_runs(scratch / "mlflow.db")) == 1
    assert not (scratch / WORKERS_FOLDER).exists()


def test_bad_worker_counts_and_a_set_tf_config_are_refused_in_one_line(tmp_path):
    zero = subprocess.run(_train(tmp_path, "--workers", "0"), env=ENV, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert zero.returncode == 2
    assert zero.stderr.strip() == (
        "error: --workers must be between 1 and 64 local processes; received 0"
    )
    env = {**ENV, "TF_CONFIG": '{"cluster": {"worker": ["h:1"]}}'}
    clash = subprocess.run(_train(tmp_path, "--workers", "2"), env=env, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    assert clash.returncode == 2 and "unset it, or drop --workers" in clash.stderr
    assert len(clash.stderr.strip().splitlines()) == 1
