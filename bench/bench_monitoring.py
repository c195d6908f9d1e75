"""What watching the served model costs: throughput with request logging, and with drift
tracking, against without, each beside an A/A control that says how far the bench can see.

Each group of fresh ``kerasforge serve`` processes holds the default model from a
``--model_config_file``: ``plain`` (no logging, ``--drift_window_size 0``), ``plain_aa``
(configured the same: the A/A control), ``logged`` (a ``logging_config`` sampling 10% of
the requests into TFRecord files, ``LOGGED_RATE``; drift off) and ``tracked`` (drift
tracking with its defaults: a window of 1000, a report every 5 s; no logging). 8 client
threads, each on its own keep-alive HTTP connection, send batch-1 REST predicts in short
rounds over the four, the order rotating every round (``load.compare``), 6 warm-up rounds
per server dropped, for at least ``MIN_S`` (several drift reports). ``GROUPS`` groups are
started afresh, the start order rotating so that every server takes every start position
once: the server started last ran about 12% faster than the others in a loaded run
(``start_position_effect``), which one group cannot separate from a real cost.

Why the old two-server bench could not resolve 5% (A/A 0.79-1.09): both of its logging
servers tracked drift by default, whose report every 5 s is a burst in one process that
landed in whichever side's round ran (A/A rounds 2-5x apart in streaks); 6 rounds of one
fixed order on a machine whose other load moves by the second; one warm-up round (the
server started second was slower over its first ~6 rounds); one pair of processes, whose
start order alone moves a server's throughput. Per-round ratios of wall time still swing
with the machine's load, so each figure carries ``aa_ratios`` (plain_aa ÷ plain, measured the same
way) and ``aa_spread`` (the largest distance of an A/A ratio from 1), and is judged only
when its distance from the goal exceeds that spread; else ``met`` is ``None`` and ``limit``
says so. ``cpu_per_request_ratio`` (plain's server CPU seconds per request ÷ the side's,
background threads included, from ``/proc``) is a second estimator that the machine's other
load moves much less; it has its own A/A (``cpu_aa_spread``).

Figures (issue #25): ``logging_throughput_cost`` (requests/s with logging at a 10% sample ÷
without, goal >= 0.95) and ``drift_tracking_cost`` (requests/s with drift tracking on ÷
off, goal >= 0.95; only meaningful when the served version carries ``statistics.json``,
which ``make train`` writes: the figure says whether it does).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, ensure_default_model, figure
from load import Sides, Target, compare, running, start_server

CLIENTS = 8
PER_CLIENT = 25  # requests per client per round
ROUNDS = 12  # rounds per group at least
MIN_S = 20.0  # measured seconds per group at least: four drift reports
GROUPS = 4  # every server takes every start position once
WARMUP_ROUNDS = 6
TIME_LIMIT_S = 120.0  # per group
LOGGED_RATE = 0.1
GOAL = 0.95
MODEL = "digits_cnn"
LOGGING = (
    'log_collector_config { type: "tfrecord" filename_prefix: "logs/digits" } '
    f"sampling_config {{ sampling_rate: {LOGGED_RATE} }}"
)


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
    newest = max((p for p in base.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    with tempfile.TemporaryDirectory() as tmp:
        groups = [measure_group(base, body, Path(tmp), g) for g in range(GROUPS)]
        written = sum(f.stat().st_size for f in Path(tmp).glob("logs/digits-*.tfrecord"))
    has_statistics = (newest / "statistics.json").is_file()
    positions = start_position_effect(groups)
    logging = cost_figure(groups, "logged", written_log_bytes=written, sampling_rate=LOGGED_RATE)
    drift = cost_figure(groups, "tracked", window_size=1000, version_has_statistics=has_statistics)
    if not has_statistics:
        drift.update(met=None, limit="the served version has no statistics.json: nothing tracked")
    for found in (logging, drift):
        found["start_position_effect"] = positions
    return {"logging_throughput_cost": logging, "drift_tracking_cost": drift}


def start_position_effect(groups: list[Sides]) -> list[float]:
    """Per start position (first started, second, ...): the median over groups of that
    server's requests/s ÷ its group's geometric mean (a diagnostic of the A/A spread)."""
    effects: list[list[float]] = [[] for _ in groups[0].started]
    for g in groups:
        rps = {n: g.requests[n] / sum(g.seconds[n]) for n in g.started}
        mean = float(np.exp(np.mean(np.log(list(rps.values())))))
        for position, name in enumerate(g.started):
            effects[position].append(rps[name] / mean)
    return [round(statistics.median(e), 4) for e in effects]


def measure_group(base: Path, body: bytes, tmp: Path, group: int) -> Sides:
    """One group of fresh servers (started in an order rotated by ``group``), compared."""
    plain, logged = tmp / "plain.config", tmp / "logged.config"
    plain.write_text(models_config(base))
    logged.write_text(models_config(base, LOGGING))
    flags = {
        "plain": ("--model_config_file", str(plain), "--drift_window_size", "0"),
        "plain_aa": ("--model_config_file", str(plain), "--drift_window_size", "0"),
        "logged": ("--model_config_file", str(logged), "--drift_window_size", "0"),
        "tracked": ("--model_config_file", str(plain), "--drift_window_size", "1000"),
    }
    names = list(flags)
    order = names[group % len(names) :] + names[: group % len(names)]
    path = f"/v1/models/{MODEL}:predict"
    with running() as servers:
        for name in order:
            servers[name] = start_server(None, *flags[name])
        targets = {n: (servers[n][0], Target(servers[n][1], path, body)) for n in names}
        sides = compare(
            targets,
            CLIENTS,
            PER_CLIENT,
            ROUNDS,
            warmup_rounds=WARMUP_ROUNDS,
            min_s=MIN_S,
            time_limit_s=TIME_LIMIT_S,
        )
    sides.started = order
    return sides


def cost_figure(groups: list[Sides], side: str, **extra: Any) -> dict[str, Any]:
    """``side``'s requests/s ÷ plain's (median over the groups), beside the A/A control."""
    ratios = [g.throughput_ratio(side, "plain") for g in groups]
    aa = [g.throughput_ratio("plain_aa", "plain") for g in groups]
    cpu = [g.cpu_ratio(side, "plain") for g in groups]
    cpu_aa = [g.cpu_ratio("plain_aa", "plain") for g in groups]
    value = statistics.median(ratios)
    spread = max(abs(r - 1) for r in aa)
    resolved = abs(value - GOAL) > spread
    limit = (
        ""
        if resolved
        else (
            f"not judged: the A/A control (two identical servers measured the same way) is "
            f"{spread:.3f} from 1, more than this figure's distance from the goal "
            f"({abs(value - GOAL):.3f}); the machine was too noisy to resolve it"
        )
    )
    rps = {
        name: sum(g.requests[name] for g in groups) / sum(sum(g.seconds[name]) for g in groups)
        for name in ("plain", side)
    }
    return figure(
        value,
        f">= {GOAL}",
        value >= GOAL if resolved else None,
        limit=limit,
        group_ratios=[round(r, 4) for r in ratios],
        aa_ratios=[round(r, 4) for r in aa],
        aa_spread=round(spread, 4),
        aa_median=round(statistics.median(aa), 4),
        cpu_per_request_ratio=round(statistics.median(cpu), 4),
        cpu_aa_ratios=[round(r, 4) for r in cpu_aa],
        cpu_aa_spread=round(max(abs(r - 1) for r in cpu_aa), 4),
        plain_requests_per_s=round(rps["plain"], 1),
        **{f"{side}_requests_per_s": round(rps[side], 1)},
        clients=CLIENTS,
        groups=len(groups),
        requests_per_side=sum(g.requests[side] for g in groups),
        **extra,
    )


if __name__ == "__main__":  # python bench/bench_monitoring.py [repository]
    from types import SimpleNamespace

    repo = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "artifacts" / "models"
    print(json.dumps(run(SimpleNamespace(repository=repo)), indent=2))
