"""MLflow tracking: an embedded default that needs no setup, and a Keras callback.

Without ``tracking.uri`` in the config or ``MLFLOW_TRACKING_URI`` in the
environment, runs go to a SQLite store at ``<output_dir>/mlflow.db`` with
artifacts under ``<output_dir>/mlartifacts``, both inside the project.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import keras

from kerasforge.pipelines.config import ExperimentConfig

MAX_PARAM_LENGTH = 500  # MLflow's limit for one param value


def tracking_uri(configured: str | None, output_dir: Path) -> str:
    """Config value, else ``MLFLOW_TRACKING_URI``, else the local SQLite store."""
    if configured:
        return configured
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{(output_dir / 'mlflow.db').resolve()}"


class MlflowMetrics(keras.callbacks.Callback):
    """Log every epoch's metrics (loss, accuracy, val_*, learning rate) to the active run."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        import mlflow

        metrics = {k: float(v) for k, v in (logs or {}).items()}
        if metrics:
            mlflow.log_metrics(metrics, step=epoch)


class Tracker:
    """The active MLflow run of one training, or a no-op when tracking is off."""

    def __init__(self, run: Any | None) -> None:
        self.run = run

    @property
    def run_id(self) -> str | None:
        return self.run.info.run_id if self.run else None

    def callbacks(self) -> list[keras.callbacks.Callback]:
        return [MlflowMetrics()] if self.run else []

    def log_metrics(self, metrics: dict[str, float]) -> None:
        if self.run:
            import mlflow

            mlflow.log_metrics({k: float(v) for k, v in metrics.items()})

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        if self.run:
            import mlflow

            if path.is_dir():
                mlflow.log_artifacts(str(path), artifact_path)
            else:
                mlflow.log_artifact(str(path), artifact_path)

    def set_tags(self, tags: dict[str, Any]) -> None:
        if self.run:
            import mlflow

            mlflow.set_tags({k: str(v) for k, v in tags.items()})


@contextmanager
def tracked_run(
    cfg: ExperimentConfig, config_file: Path, resume_run_id: str | None = None
) -> Iterator[Tracker]:
    """Start an MLflow run with the flattened config as params and the config file attached.

    A failure inside the block ends the run as FAILED; what was logged stays.
    ``resume_run_id`` (a training resumed after a crash) continues that run instead.
    """
    if not cfg.tracking.enabled:
        yield Tracker(None)
        return
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(cfg.tracking.uri, cfg.output_dir))
    _ensure_experiment(cfg.tracking.experiment, cfg.output_dir / "mlartifacts")
    # resume: continue the crashed training's run (pipelines/resume.py)
    started = {"run_id": resume_run_id} if resume_run_id else {"run_name": cfg.name}
    with mlflow.start_run(**started) as run:
        params = {k: str(v)[:MAX_PARAM_LENGTH] for k, v in cfg.flat().items()}
        mlflow.log_params(params)
        mlflow.log_artifact(str(config_file))
        yield Tracker(run)


def _ensure_experiment(name: str, artifact_dir: Path) -> None:
    """Use experiment ``name``; a new one keeps its artifacts in ``artifact_dir``."""
    import mlflow

    uri = mlflow.get_tracking_uri()
    if mlflow.get_experiment_by_name(name) is None and not uri.startswith(("http", "databricks")):
        artifact_dir.mkdir(parents=True, exist_ok=True)
        mlflow.create_experiment(name, artifact_location=artifact_dir.resolve().as_uri())
    mlflow.set_experiment(name)
