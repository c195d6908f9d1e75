"""A bounded loopback load generator and ``kerasforge serve`` processes, for the serving benches.

Every client thread holds one keep-alive HTTP connection (as ``requests.Session``,
gRPC channels and load balancers do) and sends a fixed number of requests per
round; rounds alternate between the servers compared, the first (warm-up) round
of each is dropped, and the whole measurement stops at a time limit.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Target:
    """Where one side's requests go: ``POST http://127.0.0.1:<port><path>`` with ``body``."""

    port: int
    path: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)


def start_server(repository: Path | None, *flags: str) -> tuple[subprocess.Popen, int]:
    """A ``kerasforge serve`` process on a free REST port (no polling); its log is drained."""
    proc, rest_port, _ = start_server_with_grpc(repository, *flags)
    return proc, rest_port


def start_server_with_grpc(
    repository: Path | None, *flags: str
) -> tuple[subprocess.Popen, int, int]:
    """``start_server``, also returning the free gRPC port it listens on (``repository``
    ``None``: ``flags`` name the models, e.g. ``--model_config_file``)."""
    source = ["--repository", str(repository)] if repository is not None else []
    cmd = [sys.executable, "-m", "kerasforge.cli.main", "serve", *source]
    cmd += ["--rest-port", "0", "--port", "0", "--poll-seconds", "0", *flags]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    grpc_port = 0
    for line in proc.stdout:
        grpc = re.search(r"gRPC API listening on 127\.0\.0\.1:(\d+)", line)
        grpc_port = int(grpc.group(1)) if grpc else grpc_port
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if match:
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, int(match.group(1)), grpc_port
    raise RuntimeError(f"server did not start: exit {proc.wait()}")


def peak_rss_mb(proc: subprocess.Popen) -> float:
    """A running process's peak resident memory (``VmHWM``), in MiB."""
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {proc.pid}")


@contextmanager
def running() -> Iterator[dict[str, tuple[subprocess.Popen, int]]]:
    """A dict the caller fills with ``name: (process, port)``; every process is stopped on exit,
    also when a later one failed to start."""
    servers: dict[str, tuple[subprocess.Popen, int]] = {}
    try:
        yield servers
    finally:
        for proc, _ in servers.values():
            stop(proc)


def stop(proc: subprocess.Popen, timeout_s: float = 60) -> None:
    """Stop a server; one started in a session of its own (a peer and its worker processes)
    is stopped with its whole process group, killed if it outlives ``timeout_s``."""
    try:
        leads = os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:
        leads = False
    send = (lambda sig: os.killpg(proc.pid, sig)) if leads else proc.send_signal
    send(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        proc.wait(timeout=timeout_s)
    if leads:
        with suppress(ProcessLookupError):  # workers the leader left behind
            os.killpg(proc.pid, signal.SIGKILL)


def one_round(
    target: Target, clients: int, per_client: int, latencies: list[float] | None = None
) -> float:
    """Seconds for ``clients`` keep-alive clients to send ``per_client`` requests each.

    Each request's round trip, in seconds, is appended to ``latencies`` when given.
    """
    start = threading.Barrier(clients + 1)
    failures: list[int] = []
    record = latencies.append if latencies is not None else None

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=120)
        start.wait()
        for _ in range(per_client):
            sent = time.perf_counter()
            conn.request("POST", target.path, body=target.body, headers=dict(target.headers))
            response = conn.getresponse()
            response.read()
            if record is not None:
                record(time.perf_counter() - sent)
            if response.status != 200:
                failures.append(response.status)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
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


def measure(
    targets: dict[str, Target],
    clients: int,
    per_client: int,
    rounds: int,
    time_limit_s: float,
    latencies: dict[str, list[float]] | None = None,
) -> dict[str, list[float]]:
    """Seconds per round of each target, rounds alternating; the warm-up round dropped.

    With ``latencies`` (``{target name: []}``), each measured request's round trip is
    appended to its target's list.
    """
    for target in targets.values():
        one_round(target, clients, per_client)
    seconds: dict[str, list[float]] = {name: [] for name in targets}
    deadline = time.monotonic() + time_limit_s
    for _ in range(rounds):
        for name, target in targets.items():
            kept = latencies[name] if latencies is not None else None
            seconds[name].append(one_round(target, clients, per_client, kept))
        if time.monotonic() > deadline:
            break
    return seconds


def requests_per_s(seconds: dict[str, list[float]], clients: int, per_client: int) -> dict:
    """Requests/s of each side over its measured rounds."""
    return {name: clients * per_client * len(times) / sum(times) for name, times in seconds.items()}


def cpu_seconds(proc: subprocess.Popen) -> float:
    """CPU time (user + system, all threads) a running process has used so far."""
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Sides:
    """What :func:`compare` measured of each side: seconds per round and the server's CPU."""

    seconds: dict[str, list[float]]
    cpu_s: dict[str, float]
    """CPU seconds each server used over the measured span (background work included)."""
    requests: dict[str, int]
    started: list[str] = field(default_factory=list)
    """The order the servers were started in, where the caller records it."""

    def throughput_ratio(self, side: str, base: str) -> float:
        """``side``'s requests/s ÷ ``base``'s, over all measured rounds (every round's
        seconds count, so a periodic burst weighs as often as it happens)."""
        return sum(self.seconds[base]) / sum(self.seconds[side])

    def cpu_ratio(self, side: str, base: str) -> float:
        """``base``'s CPU seconds per request ÷ ``side``'s (1: same cost per request)."""
        per_request = {n: self.cpu_s[n] / self.requests[n] for n in (side, base)}
        return per_request[base] / per_request[side]


def compare(
    servers: dict[str, tuple[subprocess.Popen, Target]],
    clients: int,
    per_client: int,
    rounds: int,
    *,
    warmup_rounds: int = 3,
    min_s: float = 0.0,
    time_limit_s: float = 120.0,
) -> Sides:
    """Short rounds over every server, the order rotating each round (each side is first,
    second, ... equally often, so a slow stretch of the machine lands on all sides alike).

    ``warmup_rounds`` per server are dropped (a fresh server's first requests are slower).
    The rounds go on until ``rounds`` are done and ``min_s`` has passed (a periodic cost
    needs several of its periods), or ``time_limit_s`` passed.
    """
    names = list(servers)
    for _ in range(warmup_rounds):
        for name in names:
            one_round(servers[name][1], clients, per_client)
    cpu0 = {name: cpu_seconds(proc) for name, (proc, _) in servers.items()}
    seconds: dict[str, list[float]] = {name: [] for name in names}
    began = time.monotonic()
    done = 0
    while done < rounds or time.monotonic() - began < min_s:
        shift = done % len(names)
        for name in names[shift:] + names[:shift]:
            seconds[name].append(one_round(servers[name][1], clients, per_client))
        done += 1
        if time.monotonic() - began > time_limit_s:
            break
    cpu = {name: cpu_seconds(proc) - cpu0[name] for name, (proc, _) in servers.items()}
    requests = {name: clients * per_client * len(seconds[name]) for name in names}
    return Sides(seconds, cpu, requests)
