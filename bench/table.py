"""Render ``bench/results/latest.json`` as the README's Performance table.

``python bench/table.py`` rewrites the part of README.md between the
``<!-- bench:start -->`` and ``<!-- bench:end -->`` markers; ``bench/run.py``
calls it after a full run, so the table always comes from one ``make bench``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
VERDICT = {True: "met", False: "**not met**", None: "no goal"}
UNJUDGED = "not judged"
"""A figure with a goal whose bench could not tell (``met`` null; ``limit`` says why)."""


def verdict(fig: dict[str, Any]) -> str:
    """met, **not met**, no goal (a reported figure) or not judged (a goal the run could
    not resolve)."""
    if fig["met"] is None and not str(fig["goal"]).startswith("reported"):
        return UNJUDGED
    return VERDICT[fig["met"]]


def rows(results: dict[str, Any]) -> list[str]:
    """One Markdown row per figure: name, value, goal, met, what limits it."""
    lines = ["| figure | value | goal | met | what limits it |", "| --- | ---: | --- | --- | --- |"]
    for name, fig in sorted(results.items()):
        if name.startswith("_") or not isinstance(fig, dict) or "value" not in fig:
            continue
        limit = fig.get("limit", "") if fig["met"] is not True else ""
        lines.append(f"| `{name}` | {fig['value']:g} | {fig['goal']} | {verdict(fig)} | {limit} |")
    return lines


def server_rows(name: str, servers: dict[str, dict[str, Any]]) -> list[str]:
    """A figure's side-by-side servers: requests/s and p99 at each concurrency, or why skipped.

    ``servers`` maps a server to ``{"workers", "c<N>_requests_per_s", "c<N>_p99_ms", ...}``
    or ``{"workers", "skipped": why}``.
    """
    found = {
        int(m.group(1))
        for row in servers.values()
        for key in row
        if (m := re.fullmatch(r"c(\d+)_requests_per_s", key))
    }
    levels = sorted(found)
    head = ["server", "workers"]
    for n in levels:
        head += [f"req/s at {n} clients", f"p99 ms at {n}"]
    lines = [f"`{name}`, side by side:", "", f"| {' | '.join(head)} |"]
    lines.append("| --- | --- |" + " ---: | ---: |" * len(levels))
    for server, row in servers.items():
        cells = [f"{server}", str(row.get("workers", ""))]
        if "skipped" in row:
            cells += [f"skipped: {row['skipped']}"] + [""] * (2 * len(levels) - 1)
        else:
            for n in levels:
                cells += [f"{row[f'c{n}_requests_per_s']:g}", f"{row[f'c{n}_p99_ms']:g}"]
        lines.append(f"| {' | '.join(cells)} |")
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
    sections = [note, "", *rows(results)]
    for name, fig in sorted(results.items()):
        if isinstance(fig, dict) and isinstance(fig.get("servers"), dict):
            sections += ["", *server_rows(name, fig["servers"])]
    body = "\n".join(sections)
    return f"{head}{START}\n{body}\n{END}{tail}"


def main(results_path: Path = ROOT / "bench" / "results" / "latest.json") -> int:
    readme = ROOT / "README.md"
    readme.write_text(render(readme.read_text(), json.loads(results_path.read_text())))
    print(f"README.md Performance table updated from {results_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
