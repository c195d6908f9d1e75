"""The parity report: does each exported model predict what the Keras model predicts?

For the SavedModel and every TFLite variant, on the test split: the task's
headline metric, its drop against Keras in points (hundredths of the metric,
so 1 point of accuracy is 1 %), top-1 agreement with Keras (classifiers),
the max abs difference of the main output, the file size and the
single-example p50 latency on CPU, and the oldest TFLite runtime that loads
each variant. The accuracy budget and that runtime pick the published edge
model (``choose_edge_model``): the smallest variant within ``budget`` points
that every supported runtime loads; each other variant gets the reason it was
rejected, and the report the reason for the choice. TFLite variants run
through the edge runtime (``EdgeModel``), so quantization is measured exactly
as a device will see it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..edge.compat import OLDEST_RUNTIME, runs_on, version_tuple
from .contracts import contract_for
from .tflite import Variant

LATENCY_REPEATS = 30


@dataclass
class Row:
    """One exported model's line in the report."""

    model: str
    metric: float | None = None
    drop_points: float | None = None
    agreement: float | None = None
    max_abs_diff: float | None = None
    size_bytes: int | None = None
    p50_ms: float | None = None
    select_tf_ops: bool = False
    min_runtime: str | None = None
    verdict: str = ""


@dataclass
class ParityReport:
    """The report written as ``parity.json`` / ``parity.md`` into the version folder."""

    metric: str
    mode: str
    budget_points: float
    keras_metric: float | None
    examples: int
    rows: list[Row] = field(default_factory=list)
    edge_model: str | None = None
    edge_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "rows": [asdict(r) for r in self.rows]}

    def metrics(self) -> dict[str, float]:
        """Flat figures for the tracker: ``parity_<model>_<figure>``."""
        figures = ("metric", "drop_points", "agreement", "max_abs_diff", "size_bytes", "p50_ms")
        return {
            f"parity_{row.model}_{name}": float(getattr(row, name))
            for row in self.rows
            for name in figures
            if getattr(row, name) is not None
        }

    def table(self) -> str:
        """A Markdown table, also what training prints."""
        head = [
            "model",
            self.metric,
            "drop (points)",
            "top-1 agreement",
            "max abs diff",
            "size (bytes)",
            "p50 (ms)",
            "min runtime",
            "verdict",
        ]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.rows:
            cells = [
                r.model + (" (SELECT_TF_OPS)" if r.select_tf_ops else ""),
                _num(r.metric, 4),
                _num(r.drop_points, 2),
                _num(r.agreement, 4),
                _num(r.max_abs_diff, 6),
                "-" if r.size_bytes is None else str(r.size_bytes),
                _num(r.p50_ms, 3),
                r.min_runtime or "-",
                r.verdict,
            ]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def write(self, folder: Path) -> tuple[Path, Path]:
        """Write ``parity.json`` and ``parity.md`` into ``folder``."""
        json_path, md_path = folder / "parity.json", folder / "parity.md"
        json_path.write_text(json.dumps(self.to_dict(), indent=2))
        keras = _num(self.keras_metric, 4)
        md_path.write_text(
            f"# Parity report\n\nKeras {self.metric} on {self.examples} test examples: {keras}; "
            f"budget {self.budget_points} points; edge model: "
            f"{self.edge_reason or self.edge_model or 'none'}.\n\n"
            f"{self.table()}\n"
        )
        return json_path, md_path


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def score(
    task: str, y_true: np.ndarray, outputs: dict[str, np.ndarray], scale: float = 1.0
) -> float | None:
    """The task's headline metric over served ``outputs``, as its contract scores it
    (``pipelines/tasks/<task>/contract.py``): accuracy for classifiers, R² for regression,
    MASE for forecasting (mean absolute error over ``scale``, the naive forecast's), ROC AUC
    of the anomaly scores, the reconstruction loss for a VAE (``None`` for a GAN's
    generator), exact match for sequence to sequence.

    Raises:
        ServingError: ``task`` is not one kerasforge knows.
    """
    return contract_for(task).score(np.asarray(y_true), outputs, scale)


def p50_ms(call: Callable[[np.ndarray], Any], example: np.ndarray) -> float:
    """Median single-example latency in milliseconds (three warm-up calls excluded)."""
    for _ in range(3):
        call(example)
    times = []
    for _ in range(LATENCY_REPEATS):
        start = time.perf_counter()
        call(example)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def compare(
    name: str,
    task: str,
    reference: dict[str, np.ndarray],
    outputs: dict[str, np.ndarray],
    y_true: np.ndarray,
    scale: float = 1.0,
) -> Row:
    """Metric, agreement and max abs diff of ``outputs`` against the Keras ``reference``."""
    metric = score(task, y_true, outputs, scale)  # an unknown task stops here, in one line
    main = contract_for(task).main_output
    diff = np.abs(np.asarray(outputs[main], "float64") - np.asarray(reference[main], "float64"))
    row = Row(name, metric=metric, max_abs_diff=float(diff.max()))
    if "class_ids" in reference:
        agree = np.asarray(outputs["class_ids"]) == np.asarray(reference["class_ids"])
        row.agreement = float(np.mean(agree))
    return row


def tflite_row(
    variant: Variant, task: str, reference: dict, x: np.ndarray, y: np.ndarray, scale: float = 1.0
) -> Row:
    """Run one converted variant through the edge runtime and compare it with Keras."""
    if variant.path is None:
        return Row(variant.name, verdict=f"rejected: conversion failed ({variant.error})")
    from ..edge.runtime import EdgeModel

    edge = EdgeModel(variant.path)
    row = compare(variant.name, task, reference, edge.outputs(x), y, scale)
    row.size_bytes, row.select_tf_ops = variant.size, variant.select_tf_ops
    row.min_runtime = variant.min_runtime
    row.p50_ms = p50_ms(edge.outputs, x[:1])
    return row


def choose_edge_model(report: ParityReport, mode: str) -> None:
    """Mark the edge model (``model.tflite``); give it its reason and each other its own.

    Among the variants within the accuracy budget, the edge model is the most widely
    loadable, then the smallest:

    1. Variants that every supported runtime loads come first: builtin ops only, and a
       recorded ``min_runtime`` at most ``OLDEST_RUNTIME`` (2.14.0, tflite-runtime's last
       release, what a Raspberry Pi installs; every ai-edge-litert release is newer).
       Below that line an older ``min_runtime`` reaches nobody more (no one installs a
       TFLite 1.x runtime), so it does not outrank size: float32 (1.x) does not beat a
       4x smaller int8 (1.14) there.
    2. Among those, the smallest file.
    3. When none qualifies, the lowest ``min_runtime`` (unknown ones last), then the smallest.
    """
    candidates = [row for row in report.rows if _within_budget(report, row, mode)]
    if not candidates:
        return
    wide = [row for row in candidates if _loads_everywhere(row)]
    if wide:
        best = min(wide, key=lambda r: r.size_bytes or 0)
        why = f"the smallest variant within budget that tflite-runtime {OLDEST_RUNTIME} loads"
    else:
        best = min(candidates, key=lambda r: (version_tuple(r.min_runtime) or (999,), r.size_bytes))
        why = f"within budget; no variant within budget loads on tflite-runtime {OLDEST_RUNTIME}"
    report.edge_model = best.model
    report.edge_reason = f"{best.model} ({why}; needs TFLite >= {best.min_runtime or 'unknown'})"
    for row in candidates:
        if row is best:
            row.verdict = f"edge model ({why})"
        elif wide and row not in wide:
            row.verdict = (
                f"rejected: within budget but needs TFLite >= {row.min_runtime or 'unknown'}"
                f"{' and SELECT_TF_OPS' if row.select_tf_ops else ''}: tflite-runtime "
                f"{OLDEST_RUNTIME} cannot load it"
            )
        else:
            row.verdict = (
                f"rejected: within budget but larger than {best.model} "
                f"({row.size_bytes} > {best.size_bytes} bytes)"
            )


def _within_budget(report: ParityReport, row: Row, mode: str) -> bool:
    """Whether a converted variant stays within budget (its drop and verdict filled in)."""
    if row.model == "saved_model" or row.size_bytes is None:
        return False
    keras = report.keras_metric
    if keras is not None and row.metric is not None:
        sign = 1.0 if mode == "max" else -1.0
        row.drop_points = round(sign * (keras - row.metric) * 100, 6)
    if row.drop_points is not None and row.drop_points > report.budget_points:
        row.verdict = (
            f"rejected: {report.metric} drops {row.drop_points:.2f} points "
            f"> budget {report.budget_points}"
        )
        return False
    return True


def _loads_everywhere(row: Row) -> bool:
    """Builtin ops only, and a recorded ``min_runtime`` that tflite-runtime 2.14 meets."""
    return not row.select_tf_ops and bool(runs_on(row.min_runtime, OLDEST_RUNTIME))
