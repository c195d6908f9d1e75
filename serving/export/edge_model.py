"""The edge half of a publish: TFLite variants, the parity report, ``model.tflite``.

:func:`write_tflite` converts the variants (``serving.export.tflite``), measures
them against Keras and the SavedModel (:func:`parity_report`, scored by
``serving.export.parity``), and copies the variant ``parity.choose_edge_model``
picks to ``model.tflite`` beside the SavedModel, with the card's ``tflite`` section.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..card import Headline, ModelCard
from ..repository import TFLITE_FILE
from .contracts import contract_for, endpoints
from .parity import ParityReport, choose_edge_model, compare, p50_ms, score, tflite_row
from .signatures import DEFAULT_SIGNATURE, PIXELS_SIGNATURE
from .tflite import ExportData, TFLiteOptions, Variant, convert_variants


def write_tflite(
    model: Any,
    staging: Path,
    card: ModelCard,
    options: TFLiteOptions,
    data: ExportData | None,
    progress: Callable[[str], None] | None = None,
) -> tuple[Path | None, dict[str, Any], ParityReport | None]:
    """Convert the variants, measure parity, publish the edge model as ``model.tflite``;
    each variant and the parity report are reported to ``progress`` (if given) as they
    finish.

    Returns:
        The edge model's path (``None`` when no variant qualifies), the card's
        ``tflite`` section, and the parity report (``None`` without test data).
    """
    variants = convert_variants(
        staging, staging / "tflite", options.variants, data, card, progress=progress
    )
    begun = time.monotonic()
    report = parity_report(model, staging, card, variants, options, data) if data else None
    if report is not None:
        report.write(staging)
        edge = report.edge_model
        if progress is not None:
            progress(
                f"export: parity report on {report.examples} test examples: edge model {edge} "
                f"({time.monotonic() - begun:.1f} s)"
            )
    else:  # nothing to measure against: float32 is the only variant exact by construction
        edge = "float32" if variants.get("float32", Variant("", None)).path else None
    section: dict[str, Any] = {
        "edge_model": edge,
        "edge_reason": report.edge_reason if report else edge and f"{edge}: exact, no test data",
        "budget_points": options.budget,
        "variants": {name: v.card_facts() for name, v in variants.items()},
    }
    if edge is None:
        return None, section, report
    chosen = variants[edge]
    assert chosen.path is not None
    shutil.copyfile(chosen.path, staging / TFLITE_FILE)
    shutil.copyfile(chosen.path.with_suffix(".json"), (staging / TFLITE_FILE).with_suffix(".json"))
    return staging / TFLITE_FILE, section, report


def parity_report(
    model: Any,
    saved_model_dir: Path,
    card: ModelCard,
    variants: dict[str, Variant],
    options: TFLiteOptions,
    data: ExportData,
) -> ParityReport:
    """Keras vs the SavedModel vs each TFLite variant on the test split (``export.parity``).

    Compared over the raw input's signature (``serving_pixels`` where ``serving_default``
    takes encoded images), the one the TFLite variants convert.
    """
    import tensorflow as tf

    text = np.asarray(data.x_test).dtype.kind in "OSU"
    x, y = np.asarray(data.x_test, dtype=object if text else "float32"), np.asarray(data.y_test)
    found = endpoints(card, model)
    raw = PIXELS_SIGNATURE if PIXELS_SIGNATURE in found else DEFAULT_SIGNATURE
    endpoint = found[raw]
    reference = {k: v.numpy() for k, v in endpoint.fn(tf.constant(x)).items()}
    headline = card.headline or Headline(metric="metric", mode="max")
    scale = contract_for(card.task).score_scale(card, x, y)
    report = ParityReport(
        headline.metric,
        headline.mode,
        options.budget,
        score(card.task, y, reference, scale),
        len(x),
    )
    signature = tf.saved_model.load(str(saved_model_dir)).signatures[raw]
    input_name = endpoint.input_signature[0].name

    def served(batch: np.ndarray) -> dict[str, np.ndarray]:
        return {k: v.numpy() for k, v in signature(**{input_name: tf.constant(batch)}).items()}

    row = compare("saved_model", card.task, reference, served(x), y, scale)
    row.size_bytes = sum(f.stat().st_size for f in _saved_model_files(saved_model_dir))
    row.p50_ms, row.verdict = p50_ms(served, x[:1]), "served by TF Serving"
    report.rows.append(row)
    report.rows.extend(tflite_row(v, card.task, reference, x, y, scale) for v in variants.values())
    choose_edge_model(report, headline.mode)
    return report


def _saved_model_files(folder: Path) -> list[Path]:
    return [folder / "saved_model.pb", *(folder / "variables").glob("*")]
