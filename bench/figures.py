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

from figure_tables import (
    NOT_MEASURED,
    RUN_TABLES,
    drift_table,
    duration,
    epochs,
    load,
    run_table,
    score_table,
)

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
RESULT = (r"^test \w+:", r"^(result|epochs|time):")
"""What the docs' tables quote of the other configs: the test line and the summary."""
QUIET_SECONDS = {
    "diabetes_mlp": 27, "digits_cnn": 33, "digits_vgg11": 71, "digits_alexnet": 76,
    "digits_dense_autoencoder": 78, "monitor_recipe": 91, "digits_resnet20": 122,
    "digits_transfer_feature_extraction": 135, "dates_seq2seq_luong": 135,
    "dates_seq2seq_bahdanau": 136, "chase_folder_transformer": 140, "chase_transformer": 145,
    "digits_transfer_gradual": 149, "text_bench": 150, "digits_vae": 155,
    "dates_seq2seq_plain": 176, "digits_transfer_pretrain": 180, "digits_conv_autoencoder": 186,
    "digits_dcgan": 208, "digits_efficientnet_b0": 274, "chase_csv_transformer": 300,
}  # fmt: skip
"""About how long each job took on a quiet 2-core machine: ``make docs-figures`` runs the
cheapest first (a held-out digit's run costs as its config's)."""
NOT_DOCS_JOBS = {"diabetes_mlp", "digits_cnn", "monitor_recipe", "text_bench"}
DOCS_JOBS = tuple(name for name in QUIET_SECONDS if name not in NOT_DOCS_JOBS)
"""The configs docs/models.md and docs/tasks.md quote, each trained as it is."""
JOBS.update({name: Job(f"configs/{name}.yaml", quote=RESULT) for name in DOCS_JOBS})
# docs/tasks.md's held-out digits: the autoencoders with another digit as the anomaly.
for family, digits in (("dense", (0, 1, 2, 3, 4, 5, 6, 8, 9)), ("conv", (1,))):
    for digit in digits:
        JOBS[f"digits_{family}_autoencoder_holdout_{digit}"] = Job(
            f"configs/digits_{family}_autoencoder.yaml",
            (f"task.options.anomaly_class={digit}",),
            quote=RESULT,
        )


@dataclass(frozen=True)
class Recipe:
    """A documented script that writes its own figures as JSON (``result``, under ROOT)."""

    command: tuple[str, ...]
    result: str
    columns: tuple[tuple[str, str], ...]
    """The result's keys, in table order, with their headings (columns, or a score table's rows)."""
    table: str = "drift"
    """``drift`` (a column per report) or ``scores`` (a row per model of the first result key)."""


RECIPES = {
    "monitor_recipe": Recipe(
        ("docs/monitoring_recipe.sh",),
        "bench/results/monitor_recipe.json",
        (("v1_new_scanner", "v1, new scanner only"), ("v2_all_scanners", "v2, every scanner")),
    ),
    "text_bench": Recipe(  # docs/tasks.md: the chase task against bag-of-words models
        (".venv/bin/python", "bench/run.py", "--only", "text", "--out", "bench/results/text.json"),
        "bench/results/text.json",
        (
            ("majority", "majority class"),
            ("bow_logistic", "logistic regression on word counts"),
            ("bow_mlp", "MLP (64 units) on word counts"),
            ("bigram_logistic", "logistic regression on word and word-pair counts"),
            ("transformer", "`transformer_classifier` (1 block, 32 dims, 2 heads)"),
        ),
        table="scores",
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
        card_path = _card(Path(scratch, "artifacts"))
        card = json.loads(card_path.read_text())
        edge = card_path.parent / "model.tflite"
        edge_bytes = edge.stat().st_size if edge.is_file() else None
        parity = _parity(card_path.parent / "parity.json")
    lines = [line.replace(scratch, "<checkout>") for line in done.stdout.splitlines()]
    quoted = [line for line in lines if any(re.search(q, line) for q in job.quote)]
    return {
        "config": job.config,
        "overrides": list(job.overrides),
        "seconds": round(seconds, 1),
        "metrics": card["metrics"],
        "edge_model": (card.get("tflite") or {}).get("edge_model"),
        "edge_model_bytes": edge_bytes,
        "parity": parity,
        "published": "/models/" in card_path.as_posix(),
        "output": list(dict.fromkeys(quoted)),  # a line printed twice is quoted once
        "machine": {**before, "load_average_after": round(os.getloadavg()[0], 2)},
    }


def _card(artifacts: Path) -> Path:
    """The published version's card; a run whose gate refused it: the card of its export."""
    published = sorted(artifacts.glob("models/*/*/kerasforge.json"))
    staged = sorted(artifacts.glob("runs/*/export/*/*/kerasforge.json"))
    found = published or staged or sorted(artifacts.glob("runs/*/kerasforge.json"))
    if not found:
        raise SystemExit(f"no model card under {artifacts}: the run exported nothing")
    return found[0]


def _parity(path: Path) -> dict[str, Any]:
    """The TFLite parity report's figures: the Keras metric, and per variant its row."""
    if not path.is_file():
        return {}
    report = json.loads(path.read_text())
    keep = ("metric", "agreement", "max_abs_diff", "size_bytes", "verdict")
    rows = {row["model"]: {k: row.get(k) for k in keep} for row in report.get("rows", [])}
    return {
        "metric": report.get("metric"),
        "keras_metric": report.get("keras_metric"),
        "rows": rows,
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


def value(record: dict[str, Any], key: str) -> str:
    """The text of figure ``JOB.KEY``; raises ``KeyError`` naming what is missing.

    Keys: ``time`` (wall time), ``load`` (load average at start and end),
    ``epochs``, ``edge_model_kb``, ``machine`` (one phrase), any model-card metric
    (``test_accuracy``, four decimals), and ``parity.keras_metric`` or
    ``parity.VARIANT.FIGURE`` from the TFLite parity report. A defined job not yet
    in the record reads "not yet measured".
    """
    job, _, field = key.partition(".")
    if job not in record:
        if job in JOBS:
            return NOT_MEASURED
        raise KeyError(f"figure {key!r}: no job {job!r} in {RECORD.name}; run make docs-figures")
    run = record[job]
    if field == "time":
        return duration(run["seconds"])
    if field == "load":
        return f"load average {load(run)}"
    if field == "epochs":
        return epochs(run)
    if field == "edge_model":
        return run.get("edge_model") or "none"
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
    if field.startswith("parity."):
        return _parity_value(run.get("parity") or {}, key, field.split(".")[1:])
    raise KeyError(f"figure {key!r}: {job} recorded no {field!r}")


def _parity_value(parity: dict[str, Any], key: str, path: list[str]) -> str:
    found: Any = parity.get("keras_metric") if path == ["keras_metric"] else None
    if len(path) == 2:
        found = (parity.get("rows", {}).get(path[0]) or {}).get(path[1])
    if found is None:
        raise KeyError(f"figure {key!r}: its parity report recorded no {'.'.join(path)!r}")
    if path[-1] == "size_bytes":
        return f"{round(found / 1000)} KB"
    return found if isinstance(found, str) else f"{found:.4f}"


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
        if name in RUN_TABLES:
            lines = run_table(name, record)
        elif name in RECIPES and name not in record:
            lines = [NOT_MEASURED]
        elif name in RECIPES and RECIPES[name].table == "scores":
            lines = score_table(RECIPES[name].columns, record[name])
        elif name in record and "result" in record[name]:
            lines = drift_table(RECIPES[name].columns, record[name])
        else:
            raise KeyError(f"table {name!r}: no recipe {name!r} in {RECORD.name}")
        body = "".join(f"{line}\n" for line in lines)
        return f"{match['open']}\n{body}\n{match['close']}"

    return TABLE.sub(table, OUTPUT.sub(output, FIGURE.sub(figure, text)))


def documents() -> list[Path]:
    """README.md and every docs/*.md."""
    return [path for pattern in DOCUMENTS for path in sorted(ROOT.glob(pattern))]


def rewrite_documents(record: dict[str, Any]) -> None:
    """Render every document from ``record``; rewrite those that differ."""
    for path in documents():
        text = path.read_text()
        rendered = render(text, record)
        if rendered != text:
            path.write_text(rendered)
            print(f"rewrote {path.relative_to(ROOT)}")


def order() -> list[str]:
    """Every job and recipe, cheapest first (QUIET_SECONDS; a held-out digit as its config)."""

    def cost(name: str) -> float:
        config = Path(JOBS[name].config).stem if name in JOBS else name
        return QUIET_SECONDS.get(name, QUIET_SECONDS.get(config, 600))

    return sorted({*JOBS, *RECIPES}, key=lambda name: (cost(name), name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], choices=sorted({*JOBS, *RECIPES}))
    parser.add_argument("--render-only", action="store_true", help="rewrite the docs, run nothing")
    parser.add_argument("--no-render", action="store_true", help="record only; leave the docs")
    args = parser.parse_args(argv)
    record = json.loads(RECORD.read_text()) if RECORD.is_file() else {}
    if not args.render_only:
        for name in args.only or order():
            if name in JOBS:
                print(f"{name}: training {JOBS[name].config} ...", flush=True)
                record[name] = measure(name, JOBS[name])
            else:
                print(f"{name}: running {' '.join(RECIPES[name].command)} ...", flush=True)
                record[name] = measure_recipe(name, RECIPES[name])
            print(f"{name}: {duration(record[name]['seconds'])}", flush=True)
            # after each job, so that a long run stopped half-way keeps what it measured
            RECORD.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    if not args.no_render:
        rewrite_documents(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
