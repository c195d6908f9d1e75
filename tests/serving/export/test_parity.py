"""The edge-model rule (within budget, the variants every supported runtime loads, then
size) and the headline score per task."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge.serving.errors import ServingError
from kerasforge.serving.export.parity import ParityReport, Row, choose_edge_model, score

# name: (accuracy, size in bytes, min_runtime, select_tf_ops)
DIGITS = {  # the shape of the default model's variants (dynamic as TF's default writes it)
    "float32": (0.95, 400_000, "1.11.0", False),
    "float16": (0.95, 200_000, "1.15.0", False),
    "dynamic": (0.95, 90_000, "2.17.0", False),
    "int8": (0.95, 95_000, "1.14.0", False),
}


def _report(variants: dict, budget: float = 1.0) -> ParityReport:
    report = ParityReport("accuracy", "max", budget, 0.95, 100)
    report.rows = [Row("saved_model", metric=0.95, size_bytes=10_000)]
    report.rows += [
        Row(name, metric=m, size_bytes=s, min_runtime=r, select_tf_ops=f)
        for name, (m, s, r, f) in variants.items()
    ]
    choose_edge_model(report, "max")
    return report


def test_a_smaller_variant_that_tflite_runtime_2_14_cannot_load_is_passed_over():
    report = _report(DIGITS)
    verdicts = {r.model: r.verdict for r in report.rows}
    assert report.edge_model == "int8"
    assert report.edge_reason == (
        "int8 (the smallest variant within budget that tflite-runtime 2.14.0 loads; "
        "needs TFLite >= 1.14.0)"
    )
    assert verdicts["dynamic"] == (
        "rejected: within budget but needs TFLite >= 2.17.0: tflite-runtime 2.14.0 cannot load it"
    )
    assert verdicts["float32"] == (
        "rejected: within budget but larger than int8 (400000 > 95000 bytes)"
    ), "an older min_runtime below 2.14 does not outrank size"
    assert "| 2.17.0 | rejected" in report.table()


def test_among_variants_that_load_everywhere_the_smallest_wins():
    loadable = {**DIGITS, "dynamic": (0.95, 90_000, "2.4.0", False)}
    assert _report(loadable).edge_model == "dynamic"
    flex = {**loadable, "dynamic": (0.95, 90_000, "2.4.0", True)}
    report = _report(flex)
    assert report.edge_model == "int8"
    assert "needs TFLite >= 2.4.0 and SELECT_TF_OPS" in report.rows[3].verdict


def test_the_budget_comes_first_then_the_lowest_runtime():
    lossy_int8 = {**DIGITS, "int8": (0.90, 95_000, "1.14.0", False)}
    assert _report(lossy_int8).edge_model == "float16"
    only_new = {
        "float32": (0.95, 400_000, "2.18.0", False),
        "dynamic": (0.95, 90_000, "2.17.0", False),
    }
    report = _report(only_new)
    assert report.edge_model == "dynamic"
    assert "no variant within budget loads on tflite-runtime 2.14.0" in report.edge_reason


def test_variants_without_a_recorded_runtime_fall_back_to_the_smallest():
    unknown = {name: (m, s, None, False) for name, (m, s, _, _) in DIGITS.items()}
    report = _report(unknown)
    assert report.edge_model == "dynamic"
    assert report.edge_reason.endswith("needs TFLite >= unknown)")


def test_an_unknown_task_is_one_line_not_another_task_s_score():
    """It used to fall through to regression's R²."""
    expected = r"no serving contract: unknown task 'ranking'; available"
    with pytest.raises(ServingError, match=expected):
        score("ranking", np.zeros(3), {"values": np.zeros(3)})
