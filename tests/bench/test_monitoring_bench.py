"""The verdicts of ``bench/bench_monitoring.py`` and ``bench/bench_statistics.py``, from
made-up measurements: a figure is judged only when its noise (the A/A control, the spread of
the per-round ratios) is narrower than its distance from the goal. No server, no timing."""

from __future__ import annotations

import pytest

from tests.bench import bench_module

monitoring = bench_module("bench_monitoring")
stats_bench = bench_module("bench_statistics")


def _group(plain: float, aa: float, logged: float, tracked: float) -> object:
    """One group whose sides took these seconds per round (4 rounds of 100 requests)."""
    seconds = {"plain": plain, "plain_aa": aa, "logged": logged, "tracked": tracked}
    return monitoring.Sides(
        seconds={name: [s] * 4 for name, s in seconds.items()},
        cpu_s={name: s * 2 for name, s in seconds.items()},
        requests=dict.fromkeys(seconds, 400),
    )


def test_sides_ratios_are_throughput_and_cpu_per_request():
    sides = _group(1.0, 1.0, 1.25, 1.0)
    assert sides.throughput_ratio("logged", "plain") == pytest.approx(0.8)
    assert sides.cpu_ratio("logged", "plain") == pytest.approx(0.8)
    assert sides.throughput_ratio("plain_aa", "plain") == pytest.approx(1.0)


def test_cost_judged_when_aa_control_is_tight():
    groups = [_group(1.0, 1.01, 1.25, 1.0), _group(1.0, 0.99, 1.25, 1.0)]
    found = monitoring.cost_figure(groups, "logged")
    assert found["value"] == pytest.approx(0.8)
    assert found["met"] is False
    assert found["aa_spread"] == pytest.approx(0.0101, abs=1e-3)
    assert "limit" not in found


def test_cost_not_judged_when_aa_control_is_wider_than_the_margin():
    groups = [_group(1.0, 1.2, 1.02, 1.0), _group(1.0, 0.9, 1.02, 1.0)]
    found = monitoring.cost_figure(groups, "logged")
    assert found["met"] is None
    assert "A/A" in found["limit"]
    assert found["aa_ratios"] == [
        pytest.approx(1 / 1.2, abs=1e-4),
        pytest.approx(1 / 0.9, abs=1e-4),
    ]


def test_statistics_overhead_is_the_median_round_ratio():
    runs = {"with_statistics": [(10.0, 0.3)] * 3, "without": [(10.0, 0.0)] * 3}
    found = stats_bench.overhead_figure(runs, epochs=16)
    assert found["value"] == pytest.approx(1.03)
    assert found["met"] is True
    assert found["within_run_ratio"] == pytest.approx(1.03)


def test_statistics_overhead_not_judged_when_rounds_disagree():
    runs = {"with_statistics": [(10.0, 0.3), (7.0, 0.3)], "without": [(8.0, 0.0), (10.0, 0.0)]}
    found = stats_bench.overhead_figure(runs, epochs=16)
    assert found["met"] is None
    assert "within_run_ratio" in found["limit"]


def test_start_position_effect_follows_the_server_started_first():
    slow_first = []
    for shift in range(4):
        names = ["plain", "plain_aa", "logged", "tracked"]
        started = names[shift:] + names[:shift]
        group = _group(*(2.0 if started[0] == n else 1.0 for n in names))
        group.started = started
        slow_first.append(group)
    effect = monitoring.start_position_effect(slow_first)
    assert effect[0] < effect[1] == effect[2] == effect[3]
