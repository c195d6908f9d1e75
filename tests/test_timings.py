"""The README's test-time line is rendered from the runs' own records (tests/timings.py)."""

from __future__ import annotations

import pytest

from tests import timings
from tests.conftest import ROOT


def _record(tests: int, wall_s: float, **extra) -> dict:
    return {
        "wall_s": wall_s,
        "tests": tests,
        "passed": tests,
        "failed": 0,
        "skipped": 0,
        "exit_status": 0,
        "workers": 2,
        "cpus": 2,
        "platform": "Linux",
        "load_average_1m_at_start": 0.1,
        "load_average_1m_at_end": 1.9,
        "commit": "abc1234",
        **extra,
    }


RECORDS = {"test": _record(1381, 642.4), "test-fast": _record(1098, 84.0)}


def test_durations_read_as_minutes_and_seconds():
    assert timings.duration(642.4) == "10 min 42 s"
    assert timings.duration(59.6) == "1 min 0 s"
    assert timings.duration(42) == "42 s"


def test_the_line_gives_both_suites_with_the_machine_and_the_commit():
    line = timings.line(RECORDS)
    assert line.startswith(
        "`make test`: 1381 tests in 10 min 42 s; `make test-fast`: 1098 tests in 1 min 24 s."
    )
    assert "commit abc1234" in line and "2 workers on 2 CPUs (Linux)" in line
    assert "0.1 to 1.9 during `make test`" in line


def test_a_missing_or_failed_record_is_refused():
    with pytest.raises(ValueError, match="no record of `make test-fast`"):
        timings.line({"test": RECORDS["test"]})
    failed = {**RECORDS, "test": _record(1381, 600, failed=1, exit_status=1)}
    with pytest.raises(ValueError, match="did not pass"):
        timings.line(failed)


def test_render_replaces_only_the_marked_line():
    readme = f"# x\n{timings.START}\nold\n{timings.END}\nafter\n"
    out = timings.render(readme, RECORDS)
    assert out == f"# x\n{timings.START}\n{timings.line(RECORDS)}\n{timings.END}\nafter\n"
    with pytest.raises(ValueError, match="needs the markers"):
        timings.render("# no markers\n", RECORDS)


def test_the_readme_has_the_markers():
    text = (ROOT / "README.md").read_text()
    assert text.index(timings.START) < text.index(timings.END)
