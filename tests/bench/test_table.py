"""The README's Performance table is rendered from ``bench/results/latest.json``."""

from __future__ import annotations

import pytest

from tests.bench import bench_module
from tests.conftest import ROOT


def _table():
    return bench_module("table")


RESULTS = {
    "_machine": {"cpus": 2, "platform": "Linux"},
    "b_ratio": {"value": 1.41, "goal": "<= 1.10", "met": False, "limit": "per-epoch save"},
    "a_ratio": {"value": 0.29, "goal": "<= 0.30", "met": True, "float32": 1, "int8": 0.29},
    "c_report": {"value": 2.5, "goal": "reported, no goal", "met": None},
    "d_noisy": {"value": 0.96, "goal": ">= 0.95", "met": None, "limit": "A/A spread 0.03"},
}


def test_rows_name_value_goal_verdict_and_limit_in_name_order():
    rows = _table().rows(RESULTS)
    assert rows[2] == "| `a_ratio` | 0.29 | <= 0.30 | met |  |"
    assert rows[3] == "| `b_ratio` | 1.41 | <= 1.10 | **not met** | per-epoch save |"
    assert rows[4] == "| `c_report` | 2.5 | reported, no goal | no goal |  |"
    assert rows[5] == "| `d_noisy` | 0.96 | >= 0.95 | not judged | A/A spread 0.03 |"
    assert len(rows) == 6, "the _machine entry is not a figure"


def test_render_replaces_only_the_marked_section():
    readme = "# x\n<!-- bench:start -->\nold\n<!-- bench:end -->\nafter\n"
    out = _table().render(readme, RESULTS)
    assert out.startswith("# x\n<!-- bench:start -->\nMeasured by `make bench` on 2 CPUs")
    assert "old" not in out and out.endswith("<!-- bench:end -->\nafter\n")
    with pytest.raises(ValueError, match="needs the markers"):
        _table().render("# no markers\n", RESULTS)


def test_the_readme_has_the_markers():
    text = (ROOT / "README.md").read_text()
    assert text.index("<!-- bench:start -->") < text.index("<!-- bench:end -->")


def test_a_figure_with_servers_gets_their_side_by_side_rows():
    servers = {
        "ours": {"workers": "1", "c8_requests_per_s": 1000.0, "c8_p99_ms": 9.5},
        "peer": {"workers": "2", "skipped": "pip failed"},
    }
    results = {**RESULTS, "d_vs": {"value": 2, "goal": ">= 2", "met": True, "servers": servers}}
    out = _table().render("<!-- bench:start -->\n<!-- bench:end -->\n", results)
    assert "| server | workers | req/s at 8 clients | p99 ms at 8 |" in out
    assert "| ours | 1 | 1000 | 9.5 |" in out
    assert "| peer | 2 | skipped: pip failed |  |" in out
