"""``kerasforge train --workers N``: N local workers of one ``MultiWorkerMirroredStrategy``
cluster on loopback ports.

The launcher writes no ``TF_CONFIG``: it gives each worker the same variables a
Kubernetes Indexed Job gives its pods (``KERASFORGE_WORKERS``, the worker's index,
``KERASFORGE_PORTS``), and each worker turns them into ``TF_CONFIG`` through
:func:`kerasforge.pipelines.training.cluster.export_tf_config`, as a pod does.
Worker 0 (the chief) prints to this terminal; every worker's output is also kept
in ``<output_dir>/workers/worker-<i>.log``. When one worker fails, the others are
stopped (their collectives would wait for it) and the launcher fails, naming the
worker and its log; Ctrl-C stops them all. Run the same command again to resume
from the last epoch's checkpoint.

Imports the standard library only: TensorFlow starts in the workers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from ..errors import ConfigError
from .cluster import PORTS, WORKER_INDEX, WORKERS
from .multiworker import WORKERS_FOLDER

MAX_WORKERS = 64
STOP_GRACE_S = 10.0
POLL_S = 0.2
_TEES: list[threading.Thread] = []  # the thread copying the chief's output


def worker_command(config: str, overrides: list[str]) -> list[str]:
    """The ``kerasforge train`` command every worker runs (strategy set to multi_worker)."""
    sets = [*overrides, "train.scale.strategy=multi_worker"]
    main = [sys.executable, "-m", "kerasforge.cli.main"]
    return [*main, "train", "--config", config, "--set", *sets]


def launch(command: list[str], workers: int, output_dir: Path) -> int:
    """Run ``command`` as ``workers`` local workers of one cluster and wait for them.

    Args:
        command: what each worker runs (:func:`worker_command`).
        workers: how many workers, 1 to 64.
        output_dir: the experiment's output folder; logs go to its ``workers/`` folder.

    Returns:
        0 when every worker finished; 1 when one failed (the others are stopped).

    Raises:
        ConfigError: a worker count out of range, or ``TF_CONFIG`` already set.
    """
    if not 1 <= workers <= MAX_WORKERS:
        raise ConfigError(
            f"--workers must be between 1 and {MAX_WORKERS} local processes; received {workers}"
        )
    if os.environ.get("TF_CONFIG"):
        raise ConfigError(
            "--workers starts its own cluster on loopback ports, but TF_CONFIG is set "
            f"({os.environ['TF_CONFIG'][:60]!r}); unset it, or drop --workers to join that cluster"
        )
    logs = output_dir / WORKERS_FOLDER
    logs.mkdir(parents=True, exist_ok=True)
    ports = ",".join(str(p) for p in free_ports(workers))
    procs: list[subprocess.Popen] = []
    try:
        for index in range(workers):
            procs.append(_start(command, index, workers, ports, logs / f"worker-{index}.log"))
        status = _wait(procs, logs)
        if procs[0].stdout is not None:
            _TEES.pop().join(timeout=STOP_GRACE_S)  # the chief's last lines reach the terminal
        return status
    except BaseException:  # Ctrl-C included: leave no worker behind
        stop(procs)
        raise


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def stop(procs: list[subprocess.Popen]) -> None:
    """Terminate every running worker; kill those still alive after a grace period."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _start(command: list[str], index: int, workers: int, ports: str, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update({WORKERS: str(workers), WORKER_INDEX: str(index), PORTS: ports})
    env["PYTHONUNBUFFERED"] = "1"
    sink = log.open("w")
    if index == 0:
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        tee = threading.Thread(target=_tee, args=(proc.stdout, sink), daemon=True)
        tee.start()
        _TEES.append(tee)
        print(f"worker 0 (chief): pid {proc.pid}, output below and in {log}", flush=True)
    else:
        proc = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
        sink.close()  # the child holds its own copy
        print(f"worker {index}: pid {proc.pid}, output in {log}", flush=True)
    return proc


def _tee(stream: IO[str], sink: IO[str]) -> None:
    """Copy the chief's output to this terminal and to its log."""
    with sink:
        for line in stream:
            sys.stdout.write(line)
            sys.stdout.flush()
            sink.write(line)
            sink.flush()


def _wait(procs: list[subprocess.Popen], logs: Path) -> int:
    """Wait for every worker; on the first failure stop the rest and say which failed."""
    while True:
        codes = [proc.poll() for proc in procs]
        for index, code in enumerate(codes):
            if code not in (None, 0):
                log = logs / f"worker-{index}.log"
                print(
                    f"error: worker {index} of {len(procs)} {_exit_text(code)}; stopping the "
                    f"other workers. Its log: {log} (last line: {_last_line(log)!r}). "
                    "Run the same command again to resume from the last epoch's checkpoint.",
                    file=sys.stderr,
                    flush=True,
                )
                stop(procs)
                return 1
        if all(code == 0 for code in codes):
            return 0
        time.sleep(POLL_S)


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][-200:] if lines else ""
