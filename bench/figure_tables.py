"""The tables ``bench/figures.py`` renders into the docs from ``docs/figures.json``.

Two kinds: a table of training runs (a row per job: its test metrics, wall time,
epochs and the machine's load beside the time), and a recipe's drift table (a
row per feature, a column per report). A job the record lacks is a row that
says so, never a figure typed by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

NOT_MEASURED = "not yet measured"


@dataclass(frozen=True)
class Row:
    """One training run in a table: its job, how the docs name it, the metrics shown."""

    job: str
    label: str
    metrics: tuple[str, ...]
    """Model-card metric keys (``test_accuracy``), shown as ``accuracy 0.9852``."""


def _rows(metrics: tuple[str, ...], *jobs: str) -> tuple[Row, ...]:
    return tuple(Row(job, f"`{job}`", metrics) for job in jobs)


ACCURACY = ("test_accuracy",)
EXACT = ("test_exact_match",)
HOLDOUT = tuple(
    Row(f"digits_dense_autoencoder_holdout_{digit}", f"{digit} held out", ("test_roc_auc",))
    if digit != 7
    else Row("digits_dense_autoencoder", "7 held out (the config)", ("test_roc_auc",))
    for digit in range(10)
)
RUN_TABLES: dict[str, tuple[Row, ...]] = {
    "zoo": (
        *_rows(ACCURACY, "digits_alexnet", "digits_vgg11", "digits_resnet20"),
        *_rows(ACCURACY, "digits_efficientnet_b0", "digits_transfer_feature_extraction"),
        *_rows(ACCURACY, "digits_transfer_gradual"),
        Row("digits_transfer_pretrain", "`digits_transfer_pretrain` (digits 0-4)", ACCURACY),
        *_rows(EXACT, "dates_seq2seq_bahdanau", "dates_seq2seq_luong"),
        Row("dates_seq2seq_plain", "`dates_seq2seq_plain` (no attention)", EXACT),
    ),
    "autoencoders": _rows(("test_roc_auc",), "digits_dense_autoencoder", "digits_conv_autoencoder"),
    "holdout": (
        *HOLDOUT,
        Row(
            "digits_conv_autoencoder_holdout_1", "1 held out, `conv_autoencoder`", ("test_roc_auc",)
        ),
    ),
    "chase": _rows(
        ("test_accuracy",), "chase_transformer", "chase_folder_transformer", "chase_csv_transformer"
    ),
    "generation": (
        Row(
            "digits_vae",
            "`digits_vae`",
            ("test_reconstruction_loss", "train_reconstruction_loss_drop"),
        ),
        Row("digits_dcgan", "`digits_dcgan`", ("test_discriminator_loss",)),
    ),
    "seq2seq": (
        *_rows(EXACT, "dates_seq2seq_bahdanau", "dates_seq2seq_luong"),
        Row("dates_seq2seq_plain", "`dates_seq2seq_plain` (no attention)", EXACT),
    ),
}
"""The docs' tables of training runs, by the name their ``<!-- table:NAME -->`` carries."""


def duration(seconds: float) -> str:
    """``"54 s"``, ``"3 min 8 s"``."""
    whole = round(seconds)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60} s"


def metric_text(run: dict[str, Any], key: str) -> str:
    """``accuracy 0.9852``: the card metric ``key`` with its name, four decimals."""
    name = key.removeprefix("test_").replace("_", " ").replace("roc auc", "ROC AUC")
    if key not in run["metrics"]:
        return f"{name}: not recorded"
    return f"{name} {run['metrics'][key]:.4f}"


def epochs(run: dict[str, Any]) -> str:
    """How many epochs ran and why they ended, from the run's printed ``epochs:`` line."""
    line = next((line for line in run.get("output", []) if line.startswith("epochs:")), "")
    early = re.search(r"weights of (\d+)", line)
    if early:
        return f"{early[1]} (early stopping)"
    limit = re.search(r"epoch limit \((\d+)\)", line)
    return f"{limit[1]} (the limit)" if limit else "not recorded"


def load(run: dict[str, Any]) -> str:
    """``3.05 → 2.32``: the 1-minute load average when the run started and ended."""
    machine = run["machine"]
    return f"{machine['load_average']} → {machine['load_average_after']}"


def run_table(name: str, record: dict[str, Any]) -> list[str]:
    """Table ``name`` of RUN_TABLES as Markdown, every figure from ``record``."""
    lines = [
        "| config | test metric | wall time | epochs | load average (start → end) | measured at |",
        "|---|---|---|---|---|---|",
    ]
    for row in RUN_TABLES[name]:
        run = record.get(row.job)
        if run is None:
            lines.append(f"| {row.label} | {NOT_MEASURED} | | | | |")
            continue
        shown = ", ".join(metric_text(run, key) for key in row.metrics)
        if run.get("published") is False:
            shown += " (the release gate kept it out of the repository)"
        when = f"commit {run['machine']['commit']}, {run['machine']['date']}"
        cells = [row.label, shown, duration(run["seconds"]), epochs(run), load(run), when]
        lines.append(f"| {' | '.join(cells)} |")
    return lines


def drift_table(columns: tuple[tuple[str, str], ...], run: dict[str, Any]) -> list[str]:
    """A drift recipe's figures as a Markdown table: a row per feature, a column per report."""
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


def score_table(rows: tuple[tuple[str, str], ...], run: dict[str, Any]) -> list[str]:
    """A bench recipe's test accuracies, a row per model, with its wall time and load."""
    scores = next(v for k, v in run["result"].items() if not k.startswith("_"))  # not _machine
    lines = ["| model | test accuracy |", "| --- | --- |"]
    lines += [f"| {title} | {scores[key]:.3f} |" for key, title in rows]
    return [
        *lines,
        "",
        f"The whole bench took {duration(run['seconds'])} (load average {load(run)}).",
    ]
