"""What watching the served model costs: throughput with request logging, and with drift
tracking, against without.

Two ``kerasforge serve`` processes serve the default model from one
``--model_config_file`` each; one has a ``logging_config`` sampling 10% of the
requests into TFRecord files (``LOGGED_RATE``), the other none. 8 client
threads, each on its own keep-alive HTTP connection, send batch-1 REST
predicts; rounds alternate between the two servers (warm-up round excluded),
bounded in requests and in time. Then the same with drift tracking: one server
with its default window (``--drift_window_size 1000``, a report every 5 s), the
other with ``--drift_window_size 0``; neither logs.

Figures (issue #25): ``logging_throughput_cost`` (requests/s with logging at a 10%
sample ÷ without, goal >= 0.95) and ``drift_tracking_cost`` (requests/s with drift
tracking on ÷ off, goal >= 0.95; only meaningful when the served version carries
``statistics.json``, which ``make train`` writes: the figure says whether it does).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, ensure_default_model, figure
from load import Target, measure, requests_per_s, running, start_server

CLIENTS = 8
PER_CLIENT = 50  # requests per client per round
ROUNDS = 6
TIME_LIMIT_S = 240.0
LOGGED_RATE = 0.1
MODEL = "digits_cnn"


def models_config(base_path: Path, logging: str = "") -> str:
    """A one-model ``ModelServerConfig``, with ``logging`` as its ``logging_config`` body."""
    logged = f"logging_config {{ {logging} }}" if logging else ""
    return (
        f'model_config_list {{ config {{ name: "{MODEL}" base_path: "{base_path}" '
        f'model_platform: "tensorflow" {logged} }} }}\n'
    )


def run(args: Any) -> dict[str, dict]:
    base = ensure_default_model(args.repository).resolve()
    x = np.random.default_rng(0).uniform(0, 1, (1, 8, 8, 1)).astype("float32")
    body = json.dumps({"instances": x.tolist()}).encode()
    return {**logging_cost(base, body), **drift_cost(base, body)}


def logging_cost(base: Path, body: bytes) -> dict[str, dict]:
    """``logging_throughput_cost``: a server logging 10% of requests against one logging none."""
    logging = (
        'log_collector_config { type: "tfrecord" filename_prefix: "logs/digits" } '
        f"sampling_config {{ sampling_rate: {LOGGED_RATE} }}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        configs = {"plain": Path(tmp) / "plain.config", "logged": Path(tmp) / "logged.config"}
        configs["plain"].write_text(models_config(base))
        configs["logged"].write_text(models_config(base, logging))
        with running() as servers:
            for name, config in configs.items():
                servers[name] = start_server(None, "--model_config_file", str(config))
            path = f"/v1/models/{MODEL}:predict"
            targets = {name: Target(port, path, body) for name, (_, port) in servers.items()}
            seconds = measure(targets, CLIENTS, PER_CLIENT, ROUNDS, TIME_LIMIT_S)
        written = sum(f.stat().st_size for f in (Path(tmp) / "logs").glob("digits-*.tfrecord"))
    rps = requests_per_s(seconds, CLIENTS, PER_CLIENT)
    cost = rps["logged"] / rps["plain"]
    return {
        "logging_throughput_cost": figure(
            cost,
            ">= 0.95",
            cost >= 0.95,
            plain_requests_per_s=round(rps["plain"], 1),
            logged_requests_per_s=round(rps["logged"], 1),
            sampling_rate=LOGGED_RATE,
            clients=CLIENTS,
            requests_per_side=CLIENTS * PER_CLIENT * len(seconds["plain"]),
            log_bytes_written=written,
        )
    }


def drift_cost(base: Path, body: bytes) -> dict[str, dict]:
    """``drift_tracking_cost``: a server tracking drift against one with it off."""
    newest = max((p for p in base.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    has_statistics = (newest / "statistics.json").is_file()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "models.config"
        config.write_text(models_config(base))
        with running() as servers:
            for name, window in (("off", "0"), ("tracked", "1000")):
                flags = ("--model_config_file", str(config), "--drift_window_size", window)
                servers[name] = start_server(None, *flags)
            path = f"/v1/models/{MODEL}:predict"
            targets = {name: Target(port, path, body) for name, (_, port) in servers.items()}
            seconds = measure(targets, CLIENTS, PER_CLIENT, ROUNDS, TIME_LIMIT_S)
    rps = requests_per_s(seconds, CLIENTS, PER_CLIENT)
    cost = rps["tracked"] / rps["off"]
    limit = "" if has_statistics else "the served version has no statistics.json: nothing tracked"
    return {
        "drift_tracking_cost": figure(
            cost,
            ">= 0.95",
            cost >= 0.95 if has_statistics else None,
            limit=limit,
            off_requests_per_s=round(rps["off"], 1),
            tracked_requests_per_s=round(rps["tracked"], 1),
            window_size=1000,
            clients=CLIENTS,
            requests_per_side=CLIENTS * PER_CLIENT * len(seconds["off"]),
            version_has_statistics=has_statistics,
        )
    }


if __name__ == "__main__":  # python bench/bench_monitoring.py [repository]
    from types import SimpleNamespace

    repo = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "artifacts" / "models"
    print(json.dumps(run(SimpleNamespace(repository=repo)), indent=2))
