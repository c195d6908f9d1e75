"""Multi-worker training figure (issue 24): ``multiworker_scaling``.

``multiworker_scaling``: examples per second of ``kerasforge train --workers 2``
÷ ``kerasforge train --workers 1`` on the default experiment (same global batch,
so the ratio of seconds per step), each worker a local process on loopback. The
step time is Keras' own per-step figure for the epochs after the first (its
graph tracing and the cluster's start excluded); the two cluster sizes alternate.
Reported without a goal: on one machine the workers share its cores.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import figure

EPOCHS = 3
STEP = re.compile(r"^\d+/\d+ - \S+ - (\d+(?:\.\d+)?)(ms|s)/step", re.M)


def _seconds_per_step(workers: int, out: Path) -> float:
    command = [sys.executable, "-m", "kerasforge.cli.main", "train", "--workers", str(workers),
               "--config", "configs/digits_cnn.yaml", "--set", f"train.epochs={EPOCHS}",
               "train.early_stopping_patience=100", "tracking.enabled=false",
               "export.enabled=false", f"output_dir={out}"]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": ""}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        raise RuntimeError(f"--workers {workers} failed: {done.stderr[-1000:]}")
    steps = [float(v) / (1000 if unit == "ms" else 1) for v, unit in STEP.findall(done.stdout)]
    return statistics.median(steps[1:])  # the first epoch traces the graph


def run(args: Any, repeats: int = 2) -> dict[str, dict]:
    times: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            for workers in (1, 2):
                times[workers].append(_seconds_per_step(workers, Path(tmp) / f"{workers}-{i}"))
    one, two = statistics.median(times[1]), statistics.median(times[2])
    return {
        "multiworker_scaling": figure(
            one / two,
            "reported, no goal",
            None,
            limit="both workers share this machine's cores (2 here), so a second worker adds "
            "no compute, only a gradient all-reduce over loopback gRPC each step; a digits "
            "step is a few milliseconds of compute, so that fixed cost dominates. On separate "
            "hosts each worker has its own cores and the ratio measures the network instead",
            one_worker_s_per_step=one,
            two_workers_s_per_step=two,
            cpus=os.cpu_count(),
        )
    }
