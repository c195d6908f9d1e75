"""How long ``make test`` and ``make test-fast`` take, recorded by the runs themselves.

As a pytest plugin (``-p tests.timings``, which the Makefile's test targets pass), it
records one whole-suite run in ``bench/results/test_times.json`` under the name in
``KERASFORGE_TEST_RECORD`` (``test`` or ``test-fast``; the Makefile sets it only when
``PYTEST_ARGS`` is empty, so a partial run records nothing): pytest's wall time, the
outcome of every test, the workers, the CPUs, the load average at the start and at the
end, and the commit. ``python -m tests.timings`` (``make test-timings`` runs it after
both suites) rewrites the README's test-time line, between the ``test-times:start``
and ``test-times:end`` markers, from that file: the figure is never typed by hand.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "bench" / "results" / "test_times.json"
ENV = "KERASFORGE_TEST_RECORD"
TARGETS = ("test", "test-fast")
START, END = "<!-- test-times:start -->", "<!-- test-times:end -->"

_started = time.monotonic()
_load_at_start = os.getloadavg()[0]
_outcomes: dict[str, str] = {}
_module_seconds: dict[str, float] = {}


def module_seconds() -> dict[str, float]:
    """Seconds each test module took (set-up, call and tear-down of its tests) in the last
    recorded ``make test``; empty without a record. ``tests/conftest.py`` hands the
    slowest heavy modules out first with it."""
    if not RECORDS.is_file():
        return {}
    return json.loads(RECORDS.read_text()).get("test", {}).get("modules", {})


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """One outcome per test: a failure in any phase fails it, a skip in setup skips it."""
    module = report.nodeid.split("::")[0]
    _module_seconds[module] = _module_seconds.get(module, 0.0) + report.duration
    if report.failed:
        _outcomes[report.nodeid] = "failed"
    elif report.skipped and _outcomes.get(report.nodeid) != "failed":
        _outcomes[report.nodeid] = "skipped"
    elif report.when == "call":
        _outcomes.setdefault(report.nodeid, "passed")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the record (the controller only, not each xdist worker)."""
    target = os.environ.get(ENV)
    if not target or hasattr(session.config, "workerinput"):
        return
    counts = {k: sum(v == k for v in _outcomes.values()) for k in ("passed", "failed", "skipped")}
    record = {
        "wall_s": round(time.monotonic() - _started, 1),
        "tests": len(_outcomes),
        **counts,
        "exit_status": int(exitstatus),
        "workers": session.config.getoption("numprocesses", None) or 0,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_1m_at_start": round(_load_at_start, 2),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "commit": _commit(),
        "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "modules": {k: round(v, 1) for k, v in sorted(_module_seconds.items())},
    }
    records = json.loads(RECORDS.read_text()) if RECORDS.is_file() else {}
    records[target] = record
    RECORDS.parent.mkdir(parents=True, exist_ok=True)
    RECORDS.write_text(json.dumps(records, indent=2, sort_keys=True) + "\n")


def _commit() -> str:
    """``git describe --always --dirty`` of the tree tested, or ``unknown`` outside git."""
    try:
        proc = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=30,
        )
    except OSError:
        return "unknown"
    return proc.stdout.strip() or "unknown"


def duration(seconds: float) -> str:
    """``642.3`` -> ``10 min 42 s``; under a minute, ``42 s``."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def line(records: dict[str, Any]) -> str:
    """The README's sentence for the ``test`` and ``test-fast`` records.

    Raises:
        ValueError: a record is missing, or its run had failures (only a green run of
            the whole suite is a figure worth showing).
    """
    missing = [t for t in TARGETS if t not in records]
    if missing:
        raise ValueError(f"no record of `make {missing[0]}` in {RECORDS}: run `make test-timings`")
    for target in TARGETS:
        rec = records[target]
        if rec["failed"] or rec["exit_status"] != 0:
            raise ValueError(
                f"the recorded `make {target}` did not pass ({rec['failed']} failed, exit "
                f"status {rec['exit_status']}): fix it, then run `make test-timings` again"
            )
    full = records["test"]
    figures = "; ".join(
        f"`make {t}`: {records[t]['tests']} tests in {duration(records[t]['wall_s'])}"
        for t in TARGETS
    )
    loads = ", ".join(
        f"{records[t]['load_average_1m_at_start']} to {records[t]['load_average_1m_at_end']} "
        f"during `make {t}`"
        for t in TARGETS
    )
    return (
        f"{figures}. Recorded by `make test-timings` (commit {full['commit']}) with "
        f"{full['workers']} workers on {full['cpus']} CPUs ({full['platform']}); "
        f"load average {loads}."
    )


def render(readme: str, records: dict[str, Any]) -> str:
    """``readme`` with the text between the markers replaced by ``line(records)``.

    Raises:
        ValueError: the markers are missing or out of order, or ``line`` refuses.
    """
    head, start, rest = readme.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"README.md needs the markers {START} and {END} around the line")
    return f"{head}{START}\n{line(records)}\n{END}{tail}"


def main() -> int:
    """Rewrite README.md's test-time line from ``bench/results/test_times.json``."""
    readme = ROOT / "README.md"
    if not RECORDS.is_file():
        print(f"no {RECORDS}: run `make test-timings`", file=sys.stderr)
        return 1
    try:
        readme.write_text(render(readme.read_text(), json.loads(RECORDS.read_text())))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"README.md test-time line updated from {RECORDS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
