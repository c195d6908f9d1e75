"""What watching the served model costs: throughput with request logging, and with drift
tracking, against without, each beside an A/A control that says how far the bench can see.

Each group of fresh ``kerasforge serve`` processes holds the default model from a
``--model_config_file``: ``plain`` (no logging, ``--drift_window_size 0``), ``plain_aa``
(configured the same: the A/A control), ``logged`` (a ``logging_config`` sampling 10% of
the requests into TFRecord files, ``LOGGED_RATE``; drift off) and ``tracked`` (drift
tracking with its defaults: a window of 1000, a report every 5 s; no logging). 8 client
threads, each on its own keep-alive HTTP connection, send batch-1 REST predicts in rounds
of about a second over the four, the order rotating every round (``load.compare``), 2
warm-up rounds per server dropped, for at least ``MIN_S`` (several drift reports).
``GROUPS`` groups are started afresh, the start order rotating so that every server takes
every start position once (``start_position_effect`` reports it). A group's ratio is its
requests/s over all its rounds (a periodic cost weighs as often as it happens); the value is
the median over groups.

Where the A/A spread comes from: the client, the four servers and the machine's other load
share 2 cores, and a burst of other work lands in whichever server's round is running. With
the machine at load 12, per-round A/A ratios of 0.25-s rounds ran from 0.26 to 4.4 and whole
groups' from 0.86 to 1.11, while server CPU per request stayed within 2.4% of its A/A. So the
throughput ratio's noise shrinks only with measured time and groups: rounds are now 4x
longer (their ragged ends and connection set-up, which the sides share and which pull every
ratio toward 1, weigh 4x less), a group measures 32 s, and the verdict uses the noise of the
median itself (``noise``: a ~95% interval from the groups' scatter, the A/A ratios' distance
from 1 or the side's own scatter, whichever is wider; see ``median_noise``), not the largest
single-group A/A (``aa_spread``, still reported), which grew with every group added. The
figure is judged only when the goal lies outside value ± ``noise``; else ``met`` is ``None``
and ``limit`` says so.

``cpu_per_request_ratio`` (plain's server CPU seconds per request ÷ the side's, from
``/proc``, background threads included) is a second, clearly separate estimator with its own
``cpu_noise`` and ``cpu_met``: on a CPU-bound 2-core box CPU per request is what throughput
costs, the machine's other load moves it much less, and it charges a server's background work
(a drift report, a log flush) to that server even when it runs during another's round, where
the throughput ratio lets it slow the other side and so understates the cost. The value stays
the issue's throughput ratio.

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
PER_CLIENT = 100  # requests per client per round: about 1 s on a quiet machine
ROUNDS = 8  # rounds per group at least: every server in every round position twice
MIN_S = 32.0  # measured seconds per group at least: six drift reports
GROUPS = 4  # every server takes every start position once
WARMUP_ROUNDS = 2  # 1,600 requests per server
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
        drift.update(
            met=None,
            cpu_met=None,
            limit="the served version has no statistics.json: nothing tracked",
        )
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


T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179)
"""Student's t, 97.5th percentile, for 1 to 12 degrees of freedom (2.1 beyond)."""


def median_noise(ratios: list[float], aa: list[float]) -> float:
    """The half-width of a ~95% interval around the median of ``ratios`` (one per group):
    1.2533 (a median's standard error over a mean's) * t * the groups' scatter / sqrt(groups), the
    scatter being the A/A ratios' root-mean-square distance from 1 (``groups`` degrees of
    freedom) or the side's own standard deviation (``groups - 1``), whichever is wider."""
    groups = len(ratios)

    def t(df: int) -> float:
        return T_975[df - 1] if df <= len(T_975) else 2.1

    from_aa = t(len(aa)) * statistics.fmean((a - 1) ** 2 for a in aa) ** 0.5
    from_side = t(groups - 1) * statistics.stdev(ratios) if groups > 1 else float("inf")
    return 1.2533 * max(from_aa, from_side) / groups**0.5


def verdict(value: float, noise: float) -> tuple[bool | None, str]:
    """``met`` and the ``limit`` text: judged only when the goal lies outside value ± noise."""
    if abs(value - GOAL) > noise:
        return value >= GOAL, ""
    return None, (
        f"not judged: {value:.3f} ± {noise:.3f} (the groups' scatter, A/A control included) "
        f"holds the goal {GOAL}; the machine was too noisy to resolve it"
    )


def cost_figure(groups: list[Sides], side: str, **extra: Any) -> dict[str, Any]:
    """``side``'s requests/s ÷ plain's (median over the groups), judged against its noise;
    server CPU per request, the second estimator, beside it with its own."""
    ratios = [g.throughput_ratio(side, "plain") for g in groups]
    aa = [g.throughput_ratio("plain_aa", "plain") for g in groups]
    cpu = [g.cpu_ratio(side, "plain") for g in groups]
    cpu_aa = [g.cpu_ratio("plain_aa", "plain") for g in groups]
    value, noise = statistics.median(ratios), median_noise(ratios, aa)
    met, limit = verdict(value, noise)
    cpu_value, cpu_noise = statistics.median(cpu), median_noise(cpu, cpu_aa)
    if limit:
        limit += f"; server CPU per request (second estimator): {cpu_value:.3f} ± {cpu_noise:.3f}"
    rps = {
        name: sum(g.requests[name] for g in groups) / sum(sum(g.seconds[name]) for g in groups)
        for name in ("plain", side)
    }
    return figure(
        value,
        f">= {GOAL}",
        met,
        limit=limit,
        noise=round(noise, 4),
        group_ratios=[round(r, 4) for r in ratios],
        aa_ratios=[round(r, 4) for r in aa],
        aa_spread=round(max(abs(r - 1) for r in aa), 4),
        aa_median=round(statistics.median(aa), 4),
        cpu_per_request_ratio=round(cpu_value, 4),
        cpu_noise=round(cpu_noise, 4),
        cpu_met=verdict(cpu_value, cpu_noise)[0],
        cpu_group_ratios=[round(r, 4) for r in cpu],
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
