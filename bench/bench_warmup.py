"""First-request latency against steady state, with and without the warm-up records replayed.

TF Serving replays ``assets.extra/tf_serving_warmup_requests`` when it loads a
version so that the first client request does not pay for tracing and memory
allocation. Here ``kerasforge serve`` is started fresh ``STARTS`` times with
``--enable_model_warmup=true`` and as often with ``=false``, alternating; in
each, the first batch-1 REST predict after the server says it listens is
timed, then ``STEADY`` more on the same keep-alive connection (the first
``WARM`` of those dropped) give the steady-state p50.

Figures (issue #6, reported without a goal): ``first_request_over_p50_warmup``
and ``first_request_over_p50_no_warmup`` (median first-request latency ÷ median
steady-state p50 of the same servers).
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, ensure_default_model, figure
from load import running, start_server

STARTS = 3
STEADY = 60
WARM = 10


def latencies(port: int, body: bytes) -> tuple[float, float]:
    """(first request, steady-state p50) in milliseconds on one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    times = []
    for _ in range(1 + STEADY):
        start = time.perf_counter()
        conn.request("POST", "/v1/models/digits_cnn:predict", body=body)
        response = conn.getresponse()
        response.read()
        times.append((time.perf_counter() - start) * 1e3)
        if response.status != 200:
            raise RuntimeError(f"predict answered {response.status}")
    conn.close()
    return times[0], statistics.median(times[1 + WARM :])


def run(args: Any) -> dict[str, dict]:
    ensure_default_model(args.repository)
    x = np.random.default_rng(0).uniform(0, 255, (1, 8, 8, 1)).round().astype("float32")
    body = json.dumps({"instances": x.tolist()}).encode()
    sides = {"warmup": "true", "no_warmup": "false"}
    seen: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
    for _ in range(STARTS):
        for side, flag in sides.items():
            with running() as servers:
                servers[side] = start_server(args.repository, f"--enable_model_warmup={flag}")
                seen[side].append(latencies(servers[side][1], body))
    figures = {}
    for side, pairs in seen.items():
        first = statistics.median(p[0] for p in pairs)
        steady = statistics.median(p[1] for p in pairs)
        figures[f"first_request_over_p50_{side}"] = figure(
            first / steady,
            "reported, no goal",
            None,
            first_request_ms=round(first, 2),
            steady_p50_ms=round(steady, 3),
            server_starts=STARTS,
        )
    return figures


if __name__ == "__main__":  # python bench/bench_warmup.py [repository]
    from types import SimpleNamespace

    repo = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "artifacts" / "models"
    print(json.dumps(run(SimpleNamespace(repository=repo)), indent=2))
