"""The measured figures of README.md and docs/: run, record, render.

``make docs-figures`` (``ONLY=job`` for one) trains each job's config in a
scratch folder exactly as a user's ``kerasforge train`` would, and records what
the run measured in ``docs/figures.json``: the model card's test metrics, the
edge model's size, the epochs run, the wall time, the lines the run printed,
and the machine state beside them (platform, CPUs, load average before and
after, commit, date). That file is the one record the docs are rendered from;
it is committed, so a clean clone checks its docs against it
(``tests/bench/test_figures.py``). Then every figure in README.md and docs/*.md
is rewritten from it:

- inline, ``<!-- figure:JOB.KEY -->value<!-- /figure -->`` (an HTML comment is
  invisible in rendered Markdown);
- a recipe's table (a script that writes its figures as JSON, e.g. the monitoring
  loop): ``<!-- table:NAME -->`` + the table + ``<!-- /table -->``;
- a quoted block of the run's output, ``<!-- output:JOB -->`` + an indented
  block + ``<!-- /output -->``: the lines the run printed that the job quotes,
  as printed.

A figure typed by hand has no span, and the test finds it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "docs" / "figures.json"
DOCUMENTS = ("README.md", "docs/*.md")
FIGURE = re.compile(r"<!-- figure:(?P<key>[\w.]+) -->(?P<value>.*?)<!-- /figure -->")
TABLE = re.compile(
    r"(?P<open><!-- table:(?P<job>\w+) -->\n)(?P<body>.*?)(?P<close><!-- /table -->)", re.S
)
OUTPUT = re.compile(
    r"(?P<open><!-- output:(?P<job>\w+) -->\n)(?P<body>.*?)(?P<close><!-- /output -->)", re.S
)


@dataclass(frozen=True)
class Job:
    """One measured run: a config, its overrides, the printed lines the docs quote."""

    config: str
    overrides: tuple[str, ...] = ()
    quote: tuple[str, ...] = ()
    """Regular expressions: a printed line matching one is kept for the docs."""


SUMMARY = (r"^(result|epochs|time|model|release gate|card|run folder|plots|mlflow):",
           r"^(sample request|next):")  # fmt: skip
"""The end-of-run summary's lines (pipelines/training/summary.py)."""
JOBS = {
    "digits_cnn": Job(
        "configs/digits_cnn.yaml",
        quote=(
            r"^test accuracy:",
            r"^export: (SavedModel|TFLite)",
            r"^release gate passed",
            *SUMMARY,
        ),
    ),
    "diabetes_mlp": Job("configs/diabetes_mlp.yaml", quote=(r"^test r2:", r"^result:")),
}


@dataclass(frozen=True)
class Recipe:
    """A documented script that writes its own figures as JSON (``result``, under ROOT)."""

    command: tuple[str, ...]
    result: str
    columns: tuple[tuple[str, str], ...]
    """The result's top-level keys, in table order, with their column headings."""


RECIPES = {
    "monitor_recipe": Recipe(
        ("docs/monitoring_recipe.sh",),
        "bench/results/monitor_recipe.json",
        (("v1_new_scanner", "v1, new scanner only"), ("v2_all_scanners", "v2, every scanner")),
    ),
}


def machine_state() -> dict[str, Any]:
    """What the machine was doing: platform, CPUs, 1-minute load average, commit, date."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2),
        "commit": commit or "unknown",
        "date": datetime.date.today().isoformat(),
    }


def measure(name: str, job: Job) -> dict[str, Any]:
    """Train ``job`` in a scratch folder; what it measured, with the machine state."""
    with tempfile.TemporaryDirectory(prefix=f"figures-{name}-") as scratch:
        # Run from a scratch folder as a user runs from the checkout: the printed paths
        # read artifacts/..., as they would for the user.
        config = str(ROOT / job.config)
        command = [sys.executable, "-m", "kerasforge.cli.main", "train", "--config", config]
        command += ["--set", *job.overrides, "output_dir=artifacts"]
        env = {**os.environ, "MLFLOW_TRACKING_URI": ""}
        before = machine_state()
        start = time.perf_counter()
        done = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{name}: training failed ({done.returncode}):\n{done.stderr[-2000:]}")
        card_path = next(Path(scratch, "artifacts", "models").glob("*/*/kerasforge.json"))
        card = json.loads(card_path.read_text())
        edge = card_path.parent / "model.tflite"
        edge_bytes = edge.stat().st_size if edge.is_file() else None
    lines = [line.replace(scratch, "<checkout>") for line in done.stdout.splitlines()]
    quoted = [line for line in lines if any(re.search(q, line) for q in job.quote)]
    return {
        "config": job.config,
        "overrides": list(job.overrides),
        "seconds": round(seconds, 1),
        "metrics": card["metrics"],
        "edge_model": (card.get("tflite") or {}).get("edge_model"),
        "edge_model_bytes": edge_bytes,
        "output": list(dict.fromkeys(quoted)),  # a line printed twice is quoted once
        "machine": {**before, "load_average_after": round(os.getloadavg()[0], 2)},
    }


def measure_recipe(name: str, recipe: Recipe) -> dict[str, Any]:
    """Run ``recipe``; the figures it wrote, with its wall time and the machine state."""
    before = machine_state()
    start = time.perf_counter()
    done = subprocess.run(recipe.command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{name}: {' '.join(recipe.command)} failed:\n{done.stderr[-2000:]}")
    return {
        "command": " ".join(recipe.command),
        "seconds": round(seconds, 1),
        "metrics": {},
        "result": json.loads((ROOT / recipe.result).read_text()),
        "machine": {**before, "load_average_after": round(os.getloadavg()[0], 2)},
    }


def drift_table(name: str, run: dict[str, Any]) -> list[str]:
    """A drift recipe's figures as a Markdown table: a row per feature, a column per report."""
    columns = RECIPES[name].columns
    reports = [run["result"][key] for key, _ in columns]
    head = [
        f"{title} ({report['live_rows']:,} requests)"
        for (_, title), report in zip(columns, reports, strict=True)
    ]
    lines = [f"| feature | {' | '.join(head)} |", "| --- |" + " --- |" * len(columns)]
    for feature in sorted(reports[0]["features"]):
        cells = [_drift_cell(report["features"].get(feature, {})) for report in reports]
        lines.append(f"| {feature} | {' | '.join(cells)} |")
    lines.append("| verdict | " + " | ".join(_verdict(r["verdict"]) for r in reports) + " |")
    return lines


def _drift_cell(drift: dict[str, Any]) -> str:
    tests = [("PSI", drift.get("psi")), ("KS p", drift.get("ks_p_value"))]
    tests.append(("chi-square p", drift.get("chi2_p_value")))
    shown = ", ".join(f"{label} {value:.2g}" for label, value in tests if value is not None)
    return f"{_verdict(drift.get('verdict', 'no_data'))}: {shown}"


def _verdict(verdict: str) -> str:
    return f"**{verdict}**" if verdict == "alert" else verdict


def duration(seconds: float) -> str:
    """``"54 s"``, ``"3 min 8 s"``."""
    whole = round(seconds)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60} s"


def value(record: dict[str, Any], key: str) -> str:
    """The text of figure ``JOB.KEY``; raises ``KeyError`` naming what is missing.

    Keys: ``time`` (wall time), ``edge_model_kb``, ``machine`` (one phrase), and
    any model-card metric (``test_accuracy``), written with four decimals.
    """
    job, _, field = key.partition(".")
    if job not in record:
        raise KeyError(f"figure {key!r}: no job {job!r} in {RECORD.name}; run make docs-figures")
    run = record[job]
    if field == "time":
        return duration(run["seconds"])
    if field == "edge_model_kb":
        return f"{round(run['edge_model_bytes'] / 1000)} KB"
    if field == "machine":
        m = run["machine"]
        return (
            f"{m['cpus']} CPUs, load average {m['load_average']} to {m['load_average_after']}, "
            f"commit {m['commit']}, {m['date']}"
        )
    if field in run["metrics"]:
        return f"{run['metrics'][field]:.4f}"
    raise KeyError(f"figure {key!r}: {job} recorded no {field!r}")


def render(text: str, record: dict[str, Any]) -> str:
    """``text`` with every figure span and output block rewritten from ``record``."""

    def figure(match: re.Match[str]) -> str:
        key = match["key"]
        return f"<!-- figure:{key} -->{value(record, key)}<!-- /figure -->"

    def output(match: re.Match[str]) -> str:
        job = match["job"]
        if job not in record:
            raise KeyError(f"output block {job!r}: no job {job!r} in {RECORD.name}")
        body = "".join(f"    {line}\n" for line in record[job]["output"])
        return f"{match['open']}\n{body}\n{match['close']}"

    def table(match: re.Match[str]) -> str:
        name = match["job"]
        if name not in record or "result" not in record[name]:
            raise KeyError(f"table {name!r}: no recipe {name!r} in {RECORD.name}")
        body = "".join(f"{line}\n" for line in drift_table(name, record[name]))
        return f"{match['open']}\n{body}\n{match['close']}"

    return TABLE.sub(table, OUTPUT.sub(output, FIGURE.sub(figure, text)))


def documents() -> list[Path]:
    """README.md and every docs/*.md."""
    return [path for pattern in DOCUMENTS for path in sorted(ROOT.glob(pattern))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], choices=sorted({*JOBS, *RECIPES}))
    parser.add_argument("--render-only", action="store_true", help="rewrite the docs, run nothing")
    args = parser.parse_args(argv)
    record = json.loads(RECORD.read_text()) if RECORD.is_file() else {}
    if not args.render_only:
        for name in args.only or sorted({*JOBS, *RECIPES}):
            if name in JOBS:
                print(f"{name}: training {JOBS[name].config} ...", flush=True)
                record[name] = measure(name, JOBS[name])
            else:
                print(f"{name}: running {' '.join(RECIPES[name].command)} ...", flush=True)
                record[name] = measure_recipe(name, RECIPES[name])
            print(f"{name}: {duration(record[name]['seconds'])}", flush=True)
        RECORD.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    for path in documents():
        text = path.read_text()
        rendered = render(text, record)
        if rendered != text:
            path.write_text(rendered)
            print(f"rewrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
