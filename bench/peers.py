"""The peer model servers of ``bench_peers.py``: each in its own venv, installed on first use.

Every peer (KServe's Python ModelServer, BentoML, LitServe) gets a venv under
``.bench-peers/<name>/`` (git-ignored) with no system site-packages, holding the
peer's package and the same TensorFlow version as the project's venv: one
resolver run per peer, so the peer's pins and TensorFlow's agree (a ``.pth``
onto the project's site-packages would mix two dependency sets). The server
scripts are ``bench/peer_servers/<name>_server.py``; each loads the SavedModel
with ``tf.saved_model.load`` and calls its ``serving_default`` signature, and
is started as its docs start it, on a free loopback port given by the harness.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from load import stop

BENCH = Path(__file__).resolve().parent
# outside bench/: the boundary tests read every .py file under bench/
CACHE = BENCH.parent / ".bench-peers"
SCRIPTS = BENCH / "peer_servers"
INSTALL_TIMEOUT_S = 1800.0
START_TIMEOUT_S = 240.0


@dataclass(frozen=True)
class Peer:
    """One peer server: its PyPI requirement, its predict route, the body it takes."""

    name: str
    requirement: str
    path: str
    native_body: bool  # True: the peer's own body format; False: TF Serving's {"instances"}
    ready_path: str


PEERS = (
    Peer(
        "kserve", "kserve==0.21.0", "/v1/models/digits_cnn:predict", False, "/v1/models/digits_cnn"
    ),
    Peer("bentoml", "bentoml==1.4.40", "/predict", True, "/readyz"),
    Peer("litserve", "litserve==0.2.19", "/predict", True, "/health"),
)


def venv_python(peer: Peer) -> Path:
    return CACHE / peer.name / "bin" / "python"


def tensorflow_requirement() -> str:
    """The project venv's TensorFlow, pinned, so both sides run the same kernels."""
    import importlib.metadata

    return f"tensorflow=={importlib.metadata.version('tensorflow')}"


def ensure_installed(peer: Peer) -> str:
    """Install ``peer`` into its venv unless done; ``""`` when ready, else why it is not.

    The install log is kept at ``.bench-peers/<name>.log``; a failed install is
    retried on the next run (its venv is removed).
    """
    folder, stamp = CACHE / peer.name, CACHE / peer.name / ".installed"
    if stamp.is_file():
        return ""
    CACHE.mkdir(parents=True, exist_ok=True)
    log = CACHE / f"{peer.name}.log"
    print(
        f"bench_peers: installing {peer.requirement} and {tensorflow_requirement()} into "
        f"{folder} (first use; TensorFlow is large, this takes minutes; log: {log})",
        flush=True,
    )
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base, "-m", "venv", "--clear", str(folder)],
        [str(venv_python(peer)), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [
            str(venv_python(peer)),
            "-m",
            "pip",
            "install",
            peer.requirement,
            tensorflow_requirement(),
        ],
    ]
    start = time.monotonic()
    with log.open("w") as out:
        for cmd in steps:
            try:
                done = subprocess.run(
                    cmd, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S
                )
            except subprocess.TimeoutExpired:
                return f"install timed out after {INSTALL_TIMEOUT_S:.0f} s (see {log})"
            if done.returncode != 0:
                tail = log.read_text().strip().splitlines()[-1:] or ["?"]
                return f"`{' '.join(cmd[-3:])}` failed: {tail[0][:200]} (see {log})"
    seconds = time.monotonic() - start
    stamp.write_text(json.dumps({"install_seconds": round(seconds)}))
    print(f"bench_peers: {peer.name} installed in {seconds:.0f} s", flush=True)
    return ""


def install_seconds(peer: Peer) -> float | None:
    stamp = CACHE / peer.name / ".installed"
    return json.loads(stamp.read_text()).get("install_seconds") if stamp.is_file() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(peer: Peer, saved_model: Path, log: Path) -> tuple[subprocess.Popen, int]:
    """The peer's server on a free loopback port, once ``ready_path`` answers 200."""
    port = free_port()
    cmd = [str(venv_python(peer)), str(SCRIPTS / f"{peer.name}_server.py")]
    cmd += ["--model-dir", str(saved_model), "--port", str(port)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)
    with log.open("w") as out:
        # a session of its own: its workers are stopped with it (load.stop)
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=SCRIPTS, start_new_session=True
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stop(proc)
            raise RuntimeError(f"{peer.name} exited {proc.returncode}: see {log}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", peer.ready_path)
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(1)
    stop(proc)
    raise RuntimeError(f"{peer.name} did not answer {peer.ready_path} in {START_TIMEOUT_S:.0f} s")
