"""Render ``bench/results/latest.json`` as the README's Performance table.

``python bench/table.py`` rewrites the part of README.md between the
``<!-- bench:start -->`` and ``<!-- bench:end -->`` markers; ``bench/run.py``
calls it after a full run, so the table always comes from one ``make bench``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
VERDICT = {True: "met", False: "**not met**", None: "no goal"}


def rows(results: dict[str, Any]) -> list[str]:
    """One Markdown row per figure: name, value, goal, met, what limits it."""
    lines = ["| figure | value | goal | met | what limits it |", "| --- | ---: | --- | --- | --- |"]
    for name, fig in sorted(results.items()):
        if name.startswith("_") or not isinstance(fig, dict) or "value" not in fig:
            continue
        limit = fig.get("limit", "") if fig["met"] is False else ""
        lines.append(
            f"| `{name}` | {fig['value']:g} | {fig['goal']} | {VERDICT[fig['met']]} | {limit} |"
        )
    return lines


def render(readme: str, results: dict[str, Any]) -> str:
    """``readme`` with the table between the markers replaced.

    Raises:
        ValueError: the markers are missing or out of order.
    """
    head, start, rest = readme.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"README.md needs the markers {START} and {END} around the table")
    machine = results.get("_machine", {})
    cpus, platform = machine.get("cpus", "?"), machine.get("platform", "?")
    load = machine.get("load_average_1m_at_end", "?")
    note = f"Measured by `make bench` on {cpus} CPUs ({platform}; load average {load} at the end)."
    body = "\n".join([note, "", *rows(results)])
    return f"{head}{START}\n{body}\n{END}{tail}"


def main(results_path: Path = ROOT / "bench" / "results" / "latest.json") -> int:
    readme = ROOT / "README.md"
    readme.write_text(render(readme.read_text(), json.loads(results_path.read_text())))
    print(f"README.md Performance table updated from {results_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
