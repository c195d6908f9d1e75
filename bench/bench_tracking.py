"""Per-epoch tracking overhead: one epoch of the default experiment with the MLflow
metrics callback logging to a real SQLite store, divided by one epoch without it.

Both sides fit the same default model on the same data in this process, one
epoch per call, interleaved (with, without, with, ...), warm-up excluded.
Plots, the model and other artifacts are written once at the end of a run,
so they are not part of an epoch.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from common import ROOT, figure, interleaved


def run(args: Any, repeats: int = 8) -> dict[str, dict]:
    import mlflow

    from kerasforge.pipelines.config.experiment import load_config
    from kerasforge.pipelines.tasks import get_task
    from kerasforge.pipelines.tracking import store as mlflow_store
    from kerasforge.pipelines.tracking.run import MlflowMetrics, Tracker
    from kerasforge.pipelines.training.inputs import make_datasets
    from kerasforge.pipelines.training.train import (
        OPTIMIZERS,
        build_task_model,
        load_splits,
    )

    cfg = load_config(ROOT / "configs" / "digits_cnn.yaml")
    task = get_task(cfg.task.name, cfg.task.options)
    splits = load_splits(cfg, task)
    model = build_task_model(cfg, task, splits)
    model.compile(
        optimizer=OPTIMIZERS[cfg.train.optimizer](learning_rate=cfg.train.learning_rate),
        **task.compile_arguments(),
    )
    data = make_datasets(cfg, task, splits)
    with tempfile.TemporaryDirectory() as folder:
        uri = f"sqlite:///{Path(folder) / 'mlflow.db'}"
        experiment = mlflow_store.prepare(uri, "bench", Path(folder) / "artifacts")
        with mlflow.start_run(experiment_id=experiment) as run:
            tracker = Tracker(run.info.run_id, uri=uri)
            callback = MlflowMetrics(tracker)

            def epoch(callbacks: list) -> None:
                model.fit(data["train"], validation_data=data["validation"], epochs=1,
                          callbacks=callbacks, verbose=0)  # fmt: skip

            times = interleaved(
                {"with": lambda: epoch([callback]), "without": lambda: epoch([])},
                repeats=repeats,
                warmup=1,
            )
            tracker.flush()  # the sender's last writes, before the run ends (one SQLite writer)
        mlflow.set_tracking_uri(None)
    with_s, without_s = statistics.median(times["with"]), statistics.median(times["without"])
    ratio = with_s / without_s
    return {
        "tracking_overhead": figure(
            ratio,
            "<= 1.05",
            ratio <= 1.05,
            limit="the metric sender thread competes with training for the 2 cores; with 8 "
            "epochs a side the median moves with other load on the machine",
            epoch_with_tracking_s=round(with_s, 4),
            epoch_without_tracking_s=round(without_s, 4),
        )
    }
