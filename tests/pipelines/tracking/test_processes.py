"""Real training processes: signals end runs KILLED, SIGKILL leftovers are collected,
and trainings started at once on a fresh output folder all succeed."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from kerasforge.cli.main import main
from tests.conftest import CLI, ROOT, TINY

pytestmark = pytest.mark.heavy

TINY_RUN = [*TINY, "export.enabled=false", "data.cache=false"]


def _start(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, "train", "--set", *TINY_RUN, f"output_dir={out}", *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A shell's background job (`make test &`, CI runners) starts with SIGINT ignored,
        # which children inherit; the training must see Ctrl-C as a terminal would send it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _logged_epochs(db: Path) -> int:
    """Epochs whose val_loss reached the store (read-only: creates nothing)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute("select count(*) from metrics where key = 'val_loss'").fetchone()
    except sqlite3.OperationalError:  # tables not created yet, or locked for a moment
        return 0
    return row[0]


def _run_statuses(db: Path) -> list[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return [r[0] for r in conn.execute("select status from runs")]


def test_signals_end_runs_killed_and_gc_collects_a_sigkilled_one(tmp_path):
    long = ["train.epochs=300", "train.early_stopping_patience=300"]
    procs = {
        sig: _start(tmp_path / sig.name, *long)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL)
    }
    deadline = time.monotonic() + 240
    pending = dict(procs)
    while pending and time.monotonic() < deadline:
        for sig, proc in list(pending.items()):
            if _logged_epochs(tmp_path / sig.name / "mlflow.db") >= 1:
                proc.send_signal(sig)
                del pending[sig]
        time.sleep(0.5)
    assert not pending, "no epoch was logged in time"
    outputs = {sig: proc.communicate(timeout=120)[0] for sig, proc in procs.items()}
    assert procs[signal.SIGTERM].returncode == 143, outputs[signal.SIGTERM][-2000:]
    assert procs[signal.SIGINT].returncode == 130, outputs[signal.SIGINT][-2000:]
    assert procs[signal.SIGKILL].returncode == -signal.SIGKILL
    for sig in (signal.SIGTERM, signal.SIGINT):
        db = tmp_path / sig.name / "mlflow.db"
        assert _run_statuses(db) == ["KILLED"], sig.name
        assert _logged_epochs(db) >= 1, "what was logged stays"
        assert "Traceback" not in outputs[sig], outputs[sig][-2000:]
    killed = tmp_path / "SIGKILL"
    assert _run_statuses(killed / "mlflow.db") == ["RUNNING"]
    uri = f"sqlite:///{killed / 'mlflow.db'}"
    assert main(["runs", "gc", "--uri", uri]) == 0
    assert _run_statuses(killed / "mlflow.db") == ["KILLED"]


def test_trainings_started_at_once_on_a_fresh_store_all_succeed(tmp_path):
    procs = [_start(tmp_path, "train.epochs=1", f"seed={i}") for i in range(3)]
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output[-3000:]
    assert sorted(_run_statuses(tmp_path / "mlflow.db")) == ["FINISHED"] * 3
