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


def test_noise_of_the_median_shrinks_as_groups_are_added():
    """The old rule (the largest single-group A/A) could only grow with more groups."""
    four = monitoring.median_noise([0.97, 0.96, 0.98, 0.97], [0.98, 1.02, 0.99, 1.01])
    eight = monitoring.median_noise([0.97, 0.96, 0.98, 0.97] * 2, [0.98, 1.02, 0.99, 1.01] * 2)
    assert eight < four


def test_noise_takes_the_sides_own_scatter_when_wider_than_the_aa_control():
    tight_aa = [1.0, 1.0, 1.0, 1.0]
    assert monitoring.median_noise([0.9, 1.0, 0.9, 1.0], tight_aa) > 0.05
    assert monitoring.median_noise([0.9, 0.9, 0.9, 0.9], tight_aa) == 0


def test_cpu_estimator_judged_on_its_own_noise():
    """Wall time swung (A/A 0.9 and 1.1), server CPU per request did not: the throughput
    figure is not judged, the CPU estimator beside it is."""
    groups = []
    for aa in (1.1, 0.9, 1.1, 0.9):
        group = _group(1.0, aa, 1.01, 1.0)
        group.cpu_s.update(plain_aa=group.cpu_s["plain"], logged=group.cpu_s["plain"] * 1.1)
        groups.append(group)
    found = monitoring.cost_figure(groups, "logged")
    assert found["met"] is None
    assert found["cpu_per_request_ratio"] == pytest.approx(1 / 1.1, abs=1e-4)
    assert found["cpu_met"] is False


def _trainings(fits: list[float], step: float = 0.0, epochs: int = 16) -> list:
    """Trainings of these seconds (CPU seconds the same), each with a step of ``step``."""
    return [stats_bench.Timing(f, f, step, step, epochs_run=epochs) for f in fits]


def test_statistics_overhead_is_the_step_over_its_round_trainings():
    runs = {"with_statistics": _trainings([10.0] * 3, 0.3), "without": _trainings([10.0] * 3)}
    found = stats_bench.overhead_figure(runs, epochs=16)
    assert found["value"] == pytest.approx(1.03)
    assert found["met"] is True
    assert found["cpu_ratio"] == pytest.approx(1.03)
    assert found["paired_ratios"] == [pytest.approx(1.03)] * 3


def test_statistics_overhead_ignores_the_difference_of_identical_trainings():
    """The with side's training ran 30% slower in one round: the paired ratio swings, the
    step over its round's trainings does not."""
    runs = {
        "with_statistics": _trainings([13.0, 10.0, 10.0], 0.23),
        "without": _trainings([10.0, 10.0, 13.0]),
    }
    found = stats_bench.overhead_figure(runs, epochs=16)
    assert found["paired_spread"] > 0.1
    assert found["round_spread"] < 0.01
    assert found["met"] is True


def test_statistics_overhead_not_judged_when_rounds_disagree():
    runs = {"with_statistics": _trainings([5.0, 5.0], 0.5), "without": _trainings([5.0, 5.0])}
    runs["with_statistics"][1] = stats_bench.Timing(5.0, 5.0, 0.05, 0.05, epochs_run=16)
    found = stats_bench.overhead_figure(runs, epochs=16)
    assert found["met"] is None
    assert "spread" in found["limit"]


def test_statistics_overhead_not_judged_when_trainings_ran_other_epochs():
    runs = {"with_statistics": _trainings([10.0], 0.1), "without": _trainings([10.0], epochs=12)}
    found = stats_bench.overhead_figure(runs, epochs=16)
    assert found["met"] is None
    assert found["epochs_run"] == [12, 16]


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
