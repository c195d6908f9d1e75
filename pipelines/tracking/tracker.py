"""The :class:`Tracker` of one training's MLflow run, and the callback logging its epochs.

Every call goes to MLflow while the tracking server answers; after the first
failure, or when it was unreachable from the start, the rest is kept in the
local journal (:mod:`kerasforge.pipelines.tracking.fallback`) with one warning. Epoch
metrics leave the training loop through a sender thread.
"""

from __future__ import annotations

import io
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import keras

from ..config.tracking import RegistryConfig
from ..training.schedules import trained_rate
from . import plots
from .fallback import Journal
from .signals import SignalCheck

MAX_PARAM_LENGTH = 500  # MLflow's limit for one param value


class MlflowMetrics(keras.callbacks.Callback):
    """Log every epoch's metrics, the learning rate and the epoch's wall time."""

    def __init__(self, tracker: Tracker) -> None:
        super().__init__()
        self.tracker = tracker
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        metrics = {k: float(v) for k, v in (logs or {}).items()}
        metrics["epoch_time_s"] = time.perf_counter() - self._started
        if "learning_rate" not in metrics and getattr(self.model, "optimizer", None) is not None:
            metrics["learning_rate"] = trained_rate(self.model.optimizer)
        self.tracker.log_metrics(metrics, step=epoch, background=True)


class Tracker:
    """The MLflow run of one training, its local fallback, or a no-op when tracking is off."""

    def __init__(
        self,
        run_id: str | None,
        *,
        uri: str = "",
        journal_factory: Callable[[], Journal] | None = None,
        registry: RegistryConfig | None = None,
        registered_name: str | None = None,
    ) -> None:
        self._run_id = run_id
        self.uri = uri
        self.registry = registry or RegistryConfig(enabled=False)
        self.registered_name = registered_name if self.registry.enabled else None
        self._journal_factory = journal_factory
        self.journal: Journal | None = None
        self.model_version: str | None = None
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._sender: threading.Thread | None = None

    @property
    def run_id(self) -> str | None:
        return self._run_id

    @property
    def enabled(self) -> bool:
        return self._run_id is not None or self._journal_factory is not None

    @property
    def online(self) -> bool:
        return self._run_id is not None and self.journal is None

    def callbacks(self) -> list[keras.callbacks.Callback]:
        return [MlflowMetrics(self), SignalCheck()] if self.enabled else []

    def go_offline(self, reason: str) -> Journal:
        """Keep everything from now on in the local journal; warn once."""
        with self._lock:
            return self._go_offline(reason)

    def _go_offline(self, reason: str) -> Journal:
        if self.journal is None:
            assert self._journal_factory is not None
            self.journal = self._journal_factory()
            self.journal.update_meta(run_id=self._run_id)
            os.environ.update({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
            print(
                f"warning: MLflow tracking at {self.uri} is unavailable ({reason}); training "
                f"goes on, and the metrics, tags, artifacts and model not logged there are "
                f"kept in {self.journal.folder}: send them later with "
                f"`kerasforge runs replay {self.journal.folder}`",
                file=sys.stderr,
                flush=True,
            )
        return self.journal

    def send(self, call: Callable[[], Any], keep: Callable[[Journal], None]) -> Any:
        """Run one MLflow call; on failure, or when offline, keep it in the journal."""
        if not self.enabled:
            return None
        if self.online:
            try:
                return call()
            except Exception as exc:
                self.go_offline(short_reason(exc))
        journal = self.journal or self.go_offline("not reachable")
        with self._lock:
            keep(journal)
        return None

    def _send_queued(self) -> None:
        """The sender thread: epoch metrics leave the training loop without waiting."""
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient

        client = MlflowClient(self.uri)
        while (item := self._queue.get()) is not None:
            values, step = item
            stamp = int(time.time() * 1000)
            batch = [Metric(k, v, stamp, step or 0) for k, v in values.items()]
            try:
                self.send(
                    lambda batch=batch: client.log_batch(self._run_id, metrics=batch),
                    lambda j, values=values, step=step: j.record(
                        "metrics", metrics=values, step=step
                    ),
                )
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def wait_sent(self) -> None:
        """Block until every epoch queued so far was sent (or journaled); the thread stays.

        The resume state waits on this before it records an epoch as done, so a
        ``kill -9`` never leaves a resumed run without that epoch's metrics.
        """
        if self._sender is not None:
            self._queue.join()

    def flush(self) -> None:
        """Wait until every queued epoch's metrics were sent (or journaled)."""
        if self._sender is not None:
            self._queue.put(None)
            self._sender.join()
            self._sender = None

    def log_params(self, params: dict[str, Any]) -> None:
        import mlflow

        values = {k: str(v)[:MAX_PARAM_LENGTH] for k, v in params.items()}
        self.send(lambda: mlflow.log_params(values), lambda j: j.record("params", params=values))

    def log_metrics(
        self, metrics: dict[str, float], step: int | None = None, *, background: bool = False
    ) -> None:
        """Log metrics now, or queue them for the sender thread (``background``)."""
        import mlflow

        values = {k: float(v) for k, v in metrics.items()}
        if background and self.online:
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_queued, daemon=True)
                self._sender.start()
            self._queue.put((values, step))
            return
        self.send(
            lambda: mlflow.log_metrics(values, step=step),
            lambda j: j.record("metrics", metrics=values, step=step),
        )

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        import mlflow

        def call() -> None:
            if path.is_dir():  # the folder's contents go under artifact_path
                mlflow.log_artifacts(str(path), artifact_path)
            else:
                mlflow.log_artifact(str(path), artifact_path)

        self.send(call, lambda j: j.keep_artifact(path, artifact_path))

    def set_tags(self, tags: dict[str, Any]) -> None:
        import mlflow

        values = {k: str(v) for k, v in tags.items()}
        self.send(lambda: mlflow.set_tags(values), lambda j: j.record("tags", tags=values))

    def log_model(self, model: keras.Model, example: Any) -> str | None:
        """The model as an MLflow Model (Keras flavor), registered; returns its version."""
        from .mlflow_model import log_keras_model

        def call() -> str | None:
            with redirect_stdout(io.StringIO()):  # MLflow's predict progress bars
                info = log_keras_model(model, example, registered_model_name=self.registered_name)
            version = info.registered_model_version
            return str(version) if version is not None else None

        self.model_version = self.send(
            call, lambda j: j.keep_model(model, example, self.registered_name)
        )
        return self.model_version

    def finish(
        self,
        model: keras.Model,
        history: dict[str, list[float]],
        run_dir: Path,
        example: Any,
    ) -> None:
        """Once at the end: summary, plots, the MLflow Model and its registration (the gate
        and the release follow: :mod:`kerasforge.pipelines.tracking.publishing`)."""
        if not self.enabled:
            return
        self.flush()
        folder = run_dir / "tracking"
        folder.mkdir(parents=True, exist_ok=True)
        summary = folder / "model_summary.txt"
        lines: list[str] = []
        model.summary(print_fn=lambda line, *_, **__: lines.append(line))
        summary.write_text("\n".join(lines) + "\n")
        self.log_artifact(summary)
        curve = plots.learning_curves(history, folder / "learning_curves.png")
        if curve:
            self.log_artifact(curve, "plots")
        matrix_csv = run_dir / "evaluation" / "confusion_matrix.csv"
        if matrix_csv.exists():
            self.log_artifact(
                plots.confusion_matrix(matrix_csv, folder / "confusion_matrix.png"), "plots"
            )
        forecast_csv = run_dir / "evaluation" / "forecast.csv"
        if forecast_csv.exists():
            self.log_artifact(plots.forecast_plot(forecast_csv, folder / "forecast.png"), "plots")
        self.log_model(model, example)


def short_reason(exc: BaseException) -> str:
    """``Type: first line of the message``, the reason the offline warning gives."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
