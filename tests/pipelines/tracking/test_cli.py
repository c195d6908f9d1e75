"""`kerasforge publish`, `tune` and `runs`: what they print (`pipelines/tracking/cli.py`)."""

from __future__ import annotations

from kerasforge.pipelines.tracking.cli import tune_summary

BEST = {"study": "kerasforge-digits_cnn_tune", "finished": 3, "pruned": 1, "trials_run_here": 3,
        "metric": "val_accuracy", "best_value": 0.98765, "best_trial": 2, "parent_run_id": "e3c5",
        "config": "artifacts/tune/digits_cnn_tune-best.yaml"}  # fmt: skip


def test_tune_summary_counts_the_best_trial_as_the_trials_announced_it():
    lines = tune_summary({**BEST, "storage": "in memory"})
    assert (
        lines[0]
        == "study kerasforge-digits_cnn_tune in memory: 3 finished, 1 pruned, 3 run by this process"
    )
    assert lines[1] == "best val_accuracy: 0.9877 (trial 3; number 2 in Optuna and MLflow)"


def test_tune_summary_names_a_shared_storage():
    lines = tune_summary({**BEST, "storage": "postgresql+psycopg2://mlflow:***@postgres/mlflow"})
    assert lines[0].startswith("study kerasforge-digits_cnn_tune in postgresql+psycopg2://")
