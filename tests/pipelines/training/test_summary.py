"""The end-of-run summary (``kerasforge.pipelines.training.summary``) on fixed facts."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from kerasforge.pipelines.training.summary import MAX_LINES, RunSummary, Stopping, render

EARLY = Stopping(
    epochs_run=16, epoch_limit=30, best_epoch=10, stopped_early=True, monitor="val_loss"
)


def facts(**changes) -> RunSummary:
    base = {
        "headline": "accuracy 0.9852 beats the majority class baseline 0.1017 by +0.8835 "
        "(margin 0.05)",
        "stopping": EARLY,
        "total_seconds": 192.4,
        "seconds": {
            "data": 4.12,
            "training": 160.0,
            "evaluation": 2.0,
            "export": 8.3,
            "TFLite": 18.04,
            "publish": 6.0,
        },
        "model_name": "digits_cnn",
        "served": "digits_cnn version 3 (stable) at artifacts/models/digits_cnn/3",
        "gate": "passed",
        "card": Path("artifacts/models/digits_cnn/3/kerasforge.json"),
        "run_dir": Path("artifacts/runs/20260101-120000"),
        "plots": ("confusion_matrix.png", "learning_curves.png"),
        "mlflow": "run 1f2e3d in sqlite:///artifacts/mlflow.db",
        "sample_request": Path("artifacts/samples/digits_cnn.json"),
    }
    return RunSummary(**{**base, **changes})


def test_the_summary_of_a_served_run_states_each_fact_in_one_line():
    assert render(facts()) == [
        "result: accuracy 0.9852 beats the majority class baseline 0.1017 by +0.8835 (margin 0.05)",
        "epochs: early stopping kept epoch 10's weights of 16 (best val_loss; limit 30)",
        "time: 3 min 12 s (data 4.1 s, training 2 min 40 s, evaluation 2.0 s, export 8.3 s, "
        "TFLite 18.0 s, publish 6.0 s)",
        "model: digits_cnn version 3 (stable) at artifacts/models/digits_cnn/3",
        "release gate: passed",
        "card: artifacts/models/digits_cnn/3/kerasforge.json",
        "run folder: artifacts/runs/20260101-120000",
        "plots: artifacts/runs/20260101-120000/tracking (confusion_matrix.png, "
        "learning_curves.png)",
        "mlflow: run 1f2e3d in sqlite:///artifacts/mlflow.db",
        "sample request: artifacts/samples/digits_cnn.json",
        "next: make serve, then make predict (asks digits_cnn); make mlflow-ui "
        "(http://127.0.0.1:5000)",
    ]


def test_a_run_kept_out_by_its_gate_says_so_and_what_to_do_next():
    lines = render(
        facts(
            served=None,
            gate="failed: digits_cnn: not published (gate failed); serving stable=1",
            mlflow=None,
            plots=(),
            sample_request=None,
        )
    )
    assert lines[3:5] == [
        "model: not served",
        "release gate: failed: digits_cnn: not published (gate failed); serving stable=1",
    ]
    assert lines[-1] == "next: fix what kept the model from being served, then train again"
    assert not [line for line in lines if line.startswith(("plots:", "mlflow:", "sample"))]


def test_why_the_epochs_ended_the_limit_the_best_epoch_and_a_resume():
    limit = Stopping(
        epochs_run=8, epoch_limit=8, best_epoch=6, stopped_early=False, monitor="val_accuracy"
    )
    assert limit.line() == (
        "epochs: reached the epoch limit (8); kept epoch 6's weights (best val_accuracy)"
    )
    last = Stopping(epochs_run=8, epoch_limit=8, best_epoch=8, stopped_early=False, monitor="x")
    assert last.line() == "epochs: reached the epoch limit (8); kept the last epoch's weights"
    resumed = Stopping(
        epochs_run=16,
        epoch_limit=30,
        best_epoch=10,
        stopped_early=True,
        monitor="val_loss",
        resumed_from=6,
    )
    assert resumed.line() == (
        "epochs: resumed from epoch 6; early stopping kept epoch 10's weights of 16 "
        "(best val_loss; limit 30)"
    )


def test_stopping_reads_keras_early_stopping_counters_from_zero():
    # keras.callbacks.EarlyStopping after fit: best_epoch and stopped_epoch count from 0.
    early = SimpleNamespace(best_weights=[0.0], best_epoch=9, stopped_epoch=15)
    train = SimpleNamespace(epochs=30, monitor="val_loss")
    assert Stopping.of(early, train, epochs_run=16, resumed_from=None) == EARLY
    unmonitored = SimpleNamespace(best_weights=None, best_epoch=0, stopped_epoch=0)
    stopping = Stopping.of(unmonitored, train, epochs_run=30, resumed_from=None)
    assert stopping.best_epoch is None and not stopping.stopped_early


def test_long_runs_read_in_minutes_and_hours_and_never_pass_twelve_lines():
    lines = render(facts(total_seconds=3725.0, seconds={"training": 59.96}))
    assert lines[2] == "time: 1 h 02 min (training 60.0 s)"
    assert len(lines) <= MAX_LINES
