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

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, ensure_default_model, figure
from load import Target, measure, requests_per_s, running, start_server

CLIENTS = 32
PER_CLIENT = 20  # requests per client per round
ROUNDS = 4
TIME_LIMIT_S = 240.0
BATCHING = "max_batch_size { value: 32 }\nbatch_timeout_micros { value: 2000 }\n"
BATCHING += "num_batch_threads { value: 2 }\nmax_enqueued_batches { value: 8 }\n"


def run(args: Any) -> dict[str, dict]:
    ensure_default_model(args.repository)
    x = np.random.default_rng(0).uniform(0, 1, (1, 8, 8, 1)).astype("float32")
    body = json.dumps({"instances": x.tolist()}).encode()
    with tempfile.TemporaryDirectory() as tmp:
        params = Path(tmp) / "batching.config"
        params.write_text(BATCHING)
        batching_flags = ("--enable_batching", "--batching_parameters_file", str(params))
        with running() as servers:
            servers["plain"] = start_server(args.repository)
            servers["batched"] = start_server(args.repository, *batching_flags)
            path = "/v1/models/digits_cnn:predict"
            targets = {name: Target(port, path, body) for name, (_, port) in servers.items()}
            seconds = measure(targets, CLIENTS, PER_CLIENT, ROUNDS, TIME_LIMIT_S)
    requests = CLIENTS * PER_CLIENT * len(seconds["plain"])
    rps = requests_per_s(seconds, CLIENTS, PER_CLIENT)
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


if __name__ == "__main__":  # python bench/bench_batching.py [repository]
    from types import SimpleNamespace

    repo = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "artifacts" / "models"
    print(json.dumps(run(SimpleNamespace(repository=repo)), indent=2))
