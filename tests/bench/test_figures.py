"""README.md and docs/*.md show measured figures only as rendered from ``docs/figures.json``."""

from __future__ import annotations

import re

import pytest

from tests.bench import bench_module
from tests.conftest import ROOT


def _figures():
    return bench_module("figures")


figures = _figures()
RECORD = {
    "job": {
        "seconds": 188.4,
        "metrics": {"test_accuracy": 0.98518, "test_mae": 40.068},
        "edge_model_bytes": 95048,
        "output": ["test accuracy: 0.9852", "published: job version 1 (stable)"],
        "machine": {
            "cpus": 2,
            "load_average": 1.5,
            "load_average_after": 2.25,
            "commit": "abc1234",
            "date": "2026-12-07",
        },
    }
}

# What a measured figure looks like in prose: a metric's value, a wall time, a file size.
MEASURED = [
    re.compile(r"\b(accuracy|r2|mae|mase|roc auc|exact match|loss)\b:? \d\.\d{2,}", re.I),
    re.compile(r"\b\d+ min \d+ s\b"),
    re.compile(r"\b(in|took|takes) (about )?\d+(\.\d+)? (s|min|seconds|minutes)\b"),
    re.compile(r"\b\d+(\.\d+)? ?(KB|MB|GB)\b"),
    re.compile(r"\b\d+(\.\d+)? ?(ms|µs)(?!\w)"),
    re.compile(r"\|\s*\**\d\.\d{3,}\**\s*\|"),  # a score in a table typed by hand
    re.compile(r"\b\d+\.\d+ points\b"),
]
# Rendered elsewhere from their own records (bench/table.py, tests/timings.py).
GENERATED = re.compile(r"<!-- (bench|test-times):start -->.*?<!-- \1:end -->", re.S)


def test_figure_spans_and_output_blocks_render_from_the_record():
    text = (
        "took <!-- figure:job.time -->?<!-- /figure --> on "
        "<!-- figure:job.machine -->?<!-- /figure -->; edge "
        "<!-- figure:job.edge_model_kb -->?<!-- /figure -->, "
        "accuracy <!-- figure:job.test_accuracy -->?<!-- /figure -->\n"
        "<!-- output:job -->\nstale line\n<!-- /output -->\n"
    )
    assert figures.render(text, RECORD) == (
        "took <!-- figure:job.time -->3 min 8 s<!-- /figure --> on "
        "<!-- figure:job.machine -->2 CPUs, load average 1.5 to 2.25, commit abc1234, "
        "2026-12-07<!-- /figure -->; edge <!-- figure:job.edge_model_kb -->95 KB<!-- /figure -->, "
        "accuracy <!-- figure:job.test_accuracy -->0.9852<!-- /figure -->\n"
        "<!-- output:job -->\n\n    test accuracy: 0.9852\n"
        "    published: job version 1 (stable)\n\n<!-- /output -->\n"
    )


@pytest.mark.parametrize(
    "key", ["other.time", "job.test_r2"], ids=["unknown job", "unrecorded metric"]
)
def test_a_figure_the_record_lacks_is_named(key):
    with pytest.raises(KeyError, match=key.replace(".", r"\.")):
        figures.render(f"<!-- figure:{key} -->1<!-- /figure -->", RECORD)


def test_every_document_is_as_the_record_renders_it():
    record = figures.json.loads(figures.RECORD.read_text())
    stale = [
        str(path.relative_to(ROOT))
        for path in figures.documents()
        if figures.render(path.read_text(), record) != path.read_text()
    ]
    assert not stale, f"run `make docs-figures` (or --render-only): {stale} differ from the record"


def _typed_by_hand(text: str) -> list[str]:
    text = figures.FIGURE.sub("", GENERATED.sub("", text))
    text = figures.TABLE.sub("", figures.OUTPUT.sub("", text))
    return [m.group(0) for pattern in MEASURED for m in pattern.finditer(text)]


@pytest.mark.parametrize("path", figures.documents(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_document_has_a_figure_typed_by_hand(path):
    assert _typed_by_hand(path.read_text()) == []


def test_a_defined_job_not_yet_measured_says_so():
    job = next(name for name in figures.JOBS if name not in RECORD)
    text = f"<!-- figure:{job}.time -->3 min 8 s<!-- /figure -->"
    assert (
        figures.render(text, RECORD)
        == f"<!-- figure:{job}.time -->not yet measured<!-- /figure -->"
    )


def test_a_table_of_runs_renders_from_the_record_and_names_what_is_missing():
    record = {"digits_alexnet": {**RECORD["job"], "output": ["epochs: early stopping kept "
              "epoch 10's weights of 16 (best val_loss; limit 40)"]}}  # fmt: skip
    lines = figures.run_table("zoo", record)
    assert lines[2] == (
        "| `digits_alexnet` | accuracy 0.9852 | 3 min 8 s | 16 (early stopping) | 1.5 → 2.25 "
        "| commit abc1234, 2026-12-07 |"
    )
    assert lines[3] == "| `digits_vgg11` | not yet measured | | | | |"


def test_a_parity_figure_renders_from_the_report():
    parity = {"keras_metric": 1.0, "rows": {"int8": {"metric": 0.49, "size_bytes": 45210}}}
    record = {"job": {**RECORD["job"], "parity": parity}}
    text = (
        "<!-- figure:job.parity.int8.metric -->?<!-- /figure --> "
        "<!-- figure:job.parity.int8.size_bytes -->?<!-- /figure -->"
    )
    assert "-->0.4900<" in figures.render(text, record)
    assert "-->45 KB<" in figures.render(text, record)
    with pytest.raises(KeyError, match="float16"):
        figures.render("<!-- figure:job.parity.float16.metric -->?<!-- /figure -->", record)


def test_the_check_finds_a_figure_typed_by_hand():
    found = _typed_by_hand(
        "test accuracy: 0.9852 in 3 min 8 s; the edge model is 95 KB; a call takes 0.6 ms; "
        "better by 49.8 points\n| model | 0.502 |"
    )
    assert {"accuracy: 0.9852", "3 min 8 s", "95 KB", "0.6 ms", "49.8 points"} <= set(found)
    assert "| 0.502 |" in found


def test_a_recipe_s_figures_render_as_a_table():
    report = {
        "live_rows": 1797,
        "verdict": "alert",
        "features": {
            "inputs/channel_0": {"verdict": "alert", "psi": 5.6045, "ks_p_value": 0.0},
            "outputs/class_ids": {"verdict": "ok", "psi": 0.0003, "chi2_p_value": 0.9991},
        },
    }
    after = {**report, "live_rows": 3594, "verdict": "ok"}
    run = {"result": {"v1_new_scanner": report, "v2_all_scanners": after}}
    lines = figures.drift_table(figures.RECIPES["monitor_recipe"].columns, run)
    assert lines[0] == (
        "| feature | v1, new scanner only (1,797 requests) | v2, every scanner (3,594 requests) |"
    )
    assert lines[2] == (
        "| inputs/channel_0 | **alert**: PSI 5.6, KS p 0 | **alert**: PSI 5.6, KS p 0 |"
    )
    assert (
        lines[3]
        == "| outputs/class_ids | ok: PSI 0.0003, chi-square p 1 | ok: PSI 0.0003, chi-square p 1 |"
    )
    assert lines[4] == "| verdict | **alert** | ok |"


def test_a_run_the_gate_refused_is_measured_from_its_export(tmp_path):
    staged = tmp_path / "runs" / "20261207-231332" / "export" / "m" / "1" / "kerasforge.json"
    staged.parent.mkdir(parents=True)
    staged.write_text("{}")
    assert figures._card(tmp_path) == staged
    published = tmp_path / "models" / "m" / "1" / "kerasforge.json"
    published.parent.mkdir(parents=True)
    published.write_text("{}")
    assert figures._card(tmp_path) == published
    with pytest.raises(SystemExit, match="exported nothing"):
        figures._card(tmp_path / "empty")
    record = {"digits_alexnet": {**RECORD["job"], "published": False}}
    assert "(the release gate kept it out of the repository)" in figures.run_table("zoo", record)[2]
