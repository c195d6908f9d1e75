"""Throughput of the embedded server with dynamic batching against without it.

Two ``kerasforge serve`` processes hold the default model, one started with
``--enable_batching`` (``BATCHING``: up to 32 rows, 2 ms timeout, 2 batch
threads), one without. 32 client threads, each on its own keep-alive HTTP
connection, send batch-1 REST predicts; rounds alternate between the two
servers (warm-up round excluded), bounded in requests and in time.

Figure (issue #6): ``batching_throughput_gain`` (requests/s with batching ÷
without, goal >= 1.5).
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, ensure_default_model, figure

CLIENTS = 32
PER_CLIENT = 20  # requests per client per round
ROUNDS = 4
TIME_LIMIT_S = 240.0
BATCHING = "max_batch_size { value: 32 }\nbatch_timeout_micros { value: 2000 }\n"
BATCHING += "num_batch_threads { value: 2 }\nmax_enqueued_batches { value: 8 }\n"


def start_server(repository: Path, *flags: str) -> tuple[subprocess.Popen, int]:
    """A ``kerasforge serve`` process on a free REST port (no gRPC, no polling)."""
    cmd = [sys.executable, "-m", "kerasforge.cli", "serve", "--repository", str(repository)]
    cmd += ["--rest-port", "0", "--port", "0", "--poll-seconds", "0", *flags]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if match:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # drain the log
            return proc, int(match.group(1))
    raise RuntimeError(f"server did not start: exit {proc.wait()}")


def one_round(port: int, body: bytes) -> float:
    """Seconds for ``CLIENTS`` keep-alive clients to send ``PER_CLIENT`` requests each."""
    start = threading.Barrier(CLIENTS + 1)
    failures: list[int] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start.wait()
        for _ in range(PER_CLIENT):
            conn.request("POST", "/v1/models/digits_cnn:predict", body=body)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                failures.append(response.status)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed: {sorted(set(failures))}")
    return elapsed


def run(args: Any) -> dict[str, dict]:
    ensure_default_model(args.repository)
    x = np.random.default_rng(0).uniform(0, 1, (1, 8, 8, 1)).astype("float32")
    body = json.dumps({"instances": x.tolist()}).encode()
    with tempfile.TemporaryDirectory() as tmp:
        params = Path(tmp) / "batching.config"
        params.write_text(BATCHING)
        batching_flags = ("--enable_batching", "--batching_parameters_file", str(params))
        servers = {
            "plain": start_server(args.repository),
            "batched": start_server(args.repository, *batching_flags),
        }
        try:
            seconds = measure({name: port for name, (_, port) in servers.items()}, body)
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(timeout=60)
    requests = CLIENTS * PER_CLIENT * len(seconds["plain"])
    rps = {name: requests / sum(times) for name, times in seconds.items()}
    gain = rps["batched"] / rps["plain"]
    return {
        "batching_throughput_gain": figure(
            gain,
            ">= 1.5",
            gain >= 1.5,
            plain_requests_per_s=round(rps["plain"], 1),
            batched_requests_per_s=round(rps["batched"], 1),
            clients=CLIENTS,
            requests_per_side=requests,
        )
    }


def measure(ports: dict[str, int], body: bytes) -> dict[str, list[float]]:
    """Seconds per round of each server, rounds alternating; the warm-up round dropped."""
    for port in ports.values():
        one_round(port, body)
    seconds: dict[str, list[float]] = {name: [] for name in ports}
    deadline = time.monotonic() + TIME_LIMIT_S
    for _ in range(ROUNDS):
        for name, port in ports.items():
            seconds[name].append(one_round(port, body))
        if time.monotonic() > deadline:
            break
    return seconds


if __name__ == "__main__":  # python bench/bench_batching.py [repository]
    from types import SimpleNamespace

    repo = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "artifacts" / "models"
    print(json.dumps(run(SimpleNamespace(repository=repo)), indent=2))
