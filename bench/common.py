"""Shared pieces of the benchmarks: one figure's record, interleaved timing, the default model.

Every figure is a ratio (or a difference) of two things measured in the same
run, interleaved, with warm-up excluded. A benchmark module ``bench/bench_*.py``
exposes ``run(args) -> dict[str, dict]``: one entry per figure, built by
``figure``; ``bench/run.py`` collects them into ``bench/results/latest.json``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def figure(
    value: float, goal: str, met: bool | None, *, limit: str = "", **raw: Any
) -> dict[str, Any]:
    """One figure: its value, the goal as text (``"<= 2"``), whether it is met, both raw sides.

    ``met`` is ``None`` for a figure reported without a goal. ``limit`` says what
    holds the figure back; the README's table shows it when the goal is not met.
    """
    record = {"value": round(float(value), 4), "goal": goal, "met": met, **raw}
    return {**record, "limit": limit} if limit else record


def interleaved(
    sides: dict[str, Callable[[], Any]], repeats: int, warmup: int = 5
) -> dict[str, list[float]]:
    """Seconds per call of each side, calls alternating A, B, A, B, ...; warm-up calls dropped."""
    for _ in range(warmup):
        for fn in sides.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, fn in sides.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def p50_ms(times: list[float]) -> float:
    return statistics.median(times) * 1e3


def ensure_default_model(repository: Path, name: str = "digits_cnn") -> Path:
    """The default experiment's model folder, trained and published first if absent."""
    model_dir = repository / name
    if not any(p.name.isdigit() for p in model_dir.glob("*")):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "kerasforge.cli.main",
                "train",
                "--set",
                f"output_dir={repository.parent}",
            ],
            check=True,
            cwd=ROOT,
        )
    return model_dir
