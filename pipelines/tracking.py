"""MLflow tracking: an embedded default that needs no setup, and a Keras callback.

Without ``tracking.uri`` in the config or ``MLFLOW_TRACKING_URI`` in the
environment, runs go to a SQLite store at ``<output_dir>/mlflow.db`` with
artifacts under ``<output_dir>/mlartifacts``, both inside the project.

A run never stays RUNNING: SIGINT and SIGTERM end it KILLED, an exception
FAILED, with what was logged kept. When the tracking server is unreachable at
the start or stops answering mid-run, training goes on: one warning says so,
and the rest is kept in a local journal (:mod:`kerasforge.pipelines.fallback`)
that ``kerasforge runs replay`` sends later.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras

from kerasforge.pipelines import mlflow_store, plots, provenance
from kerasforge.pipelines.config import ExperimentConfig
from kerasforge.pipelines.fallback import Journal
from kerasforge.pipelines.tracking_config import RegistryConfig

if TYPE_CHECKING:
    from kerasforge.pipelines.data import Splits
    from kerasforge.pipelines.tasks.base import Task

MAX_PARAM_LENGTH = 500  # MLflow's limit for one param value
EXAMPLE_ROWS = 4


def tracking_uri(configured: str | None, output_dir: Path) -> str:
    """Config value, else ``MLFLOW_TRACKING_URI``, else the local SQLite store."""
    if configured:
        return configured
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{(output_dir / 'mlflow.db').resolve()}"


class Terminated(SystemExit):
    """SIGTERM arrived: unwind like Ctrl-C so the run ends KILLED; exit status 143."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


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
        if "learning_rate" not in metrics and self.model is not None:
            rate = getattr(self.model.optimizer, "learning_rate", None)
            if rate is not None:
                metrics["learning_rate"] = float(keras.ops.convert_to_numpy(rate))
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
        self.gate: Any = None
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

    def _send(self, call: Callable[[], Any], keep: Callable[[Journal], None]) -> Any:
        """Run one MLflow call; on failure, or when offline, keep it in the journal."""
        if not self.enabled:
            return None
        if self.online:
            try:
                return call()
            except Exception as exc:
                self.go_offline(_short(exc))
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
                self._send(
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
        self._send(lambda: mlflow.log_params(values), lambda j: j.record("params", params=values))

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
        self._send(
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

        self._send(call, lambda j: j.keep_artifact(path, artifact_path))

    def set_tags(self, tags: dict[str, Any]) -> None:
        import mlflow

        values = {k: str(v) for k, v in tags.items()}
        self._send(lambda: mlflow.set_tags(values), lambda j: j.record("tags", tags=values))

    def log_model(self, model: keras.Model, example: Any) -> str | None:
        """The model as an MLflow Model (Keras flavor), registered; returns its version."""
        from kerasforge.pipelines.mlflow_model import log_keras_model

        def call() -> str | None:
            with redirect_stdout(io.StringIO()):  # MLflow's predict progress bars
                info = log_keras_model(model, example, registered_model_name=self.registered_name)
            version = info.registered_model_version
            return str(version) if version is not None else None

        self.model_version = self._send(
            call, lambda j: j.keep_model(model, example, self.registered_name)
        )
        return self.model_version

    def finish(
        self,
        model: keras.Model,
        history: dict[str, list[float]],
        run_dir: Path,
        example: Any,
        test_metrics: dict[str, float],
        task: Task,
    ) -> None:
        """Once at the end: summary, plots, the MLflow Model, registration and the gate."""
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
        version = self.log_model(model, example)
        if version is not None and self.online:
            from kerasforge.pipelines.registry import release_gate

            self.gate = self._send(
                lambda: release_gate(self, version, test_metrics, task, folder), lambda j: None
            )


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


_TERMINATING = threading.Event()


class SignalCheck(keras.callbacks.Callback):
    """Raise :class:`Terminated` at the end of an epoch once SIGTERM arrived.

    Python runs a signal handler in whatever the main thread executes next; when
    that is a finalizer (``__del__``, a weakref callback during garbage collection)
    the handler's exception is printed and dropped, and a training under load once
    ran its 300 epochs after SIGTERM. The handler's flag is checked here too (per
    epoch: a batch hook would make Keras fetch every batch's logs).
    """

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if _TERMINATING.is_set():
            raise Terminated()


@contextmanager
def _ending_signals() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread while the run is open."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(_signum: int, _frame: Any) -> None:
        _TERMINATING.set()  # SignalCheck raises again if a finalizer swallowed this one
        raise Terminated()

    _TERMINATING.clear()
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def tracked_run(
    cfg: ExperimentConfig,
    config_file: Path,
    *,
    splits: Splits | None = None,
    resume_run_id: str | None = None,
) -> Iterator[Tracker]:
    """Start (or resume) an MLflow run with params, provenance tags and the config attached.

    Args:
        cfg: the resolved experiment config.
        config_file: the resolved config as written to the run folder.
        splits: the data splits, for the dataset fingerprint tag.
        resume_run_id: continue this run (a resumed training); a run left
            RUNNING by a killed process is tagged as such and goes on.

    SIGINT and SIGTERM end the run KILLED, an exception FAILED; what was
    logged stays. An unreachable server leaves a working, journaling tracker.
    """
    if not cfg.tracking.enabled:
        yield Tracker(None)
        return
    uri = tracking_uri(cfg.tracking.uri, cfg.output_dir)
    meta = {"uri": uri, "experiment": cfg.tracking.experiment, "run_name": cfg.name}
    tracker = Tracker(
        None,
        uri=uri,
        journal_factory=lambda: Journal.create(cfg.output_dir, meta),
        registry=cfg.tracking.registry,
        registered_name=cfg.tracking.registry.model_name or cfg.export.model_name,
    )
    with _ending_signals(), mlflow_store.scoped_uris():
        run_id = _start(tracker, cfg, uri, resume_run_id)
        status = "FINISHED"
        try:
            tracker._run_id = run_id
            tracker.log_params(cfg.flat())
            tracker.set_tags(_tags(cfg, splits, resume_run_id))
            tracker.log_artifact(config_file)
            yield tracker
        except (KeyboardInterrupt, Terminated):
            status = "KILLED"
            raise
        except BaseException:
            status = "FAILED"
            raise
        finally:
            _end(tracker, status)


def _tags(cfg: ExperimentConfig, splits: Splits | None, resume_run_id: str | None) -> dict:
    tags = provenance.run_tags(cfg.data.source, splits)
    tags[mlflow_store.PID_TAG] = str(os.getpid())
    if resume_run_id:
        tags["kerasforge.resumed"] = "true"
    return tags


def _start(
    tracker: Tracker, cfg: ExperimentConfig, uri: str, resume_run_id: str | None
) -> str | None:
    """Prepare the store and start the run; ``None`` (journaling) when the server is down."""
    import mlflow

    if mlflow_store.is_remote(uri):
        for key, value in mlflow_store.HTTP_ENV.items():
            os.environ.setdefault(key, value)
        logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
        problem = mlflow_store.probe(uri)
        if problem:
            tracker.go_offline(problem)
            return None
    try:
        experiment_id = mlflow_store.prepare(
            uri, cfg.tracking.experiment, cfg.output_dir / "mlartifacts"
        )
        if resume_run_id:
            previous = mlflow.MlflowClient(uri).get_run(resume_run_id)
            run = mlflow.start_run(run_id=resume_run_id)
            mlflow.set_tag("kerasforge.resumed_from_status", previous.info.status)
        else:
            nested = mlflow.active_run() is not None  # a tuning trial under its parent
            run = mlflow.start_run(experiment_id=experiment_id, run_name=cfg.name, nested=nested)
    except Exception as exc:
        if not mlflow_store.is_remote(uri):
            raise
        tracker.go_offline(_short(exc))
        return None
    return run.info.run_id


def _end(tracker: Tracker, status: str) -> None:
    import mlflow

    tracker.flush()
    if tracker.journal is not None:
        tracker.journal.update_meta(status=status, run_id=tracker.run_id)
    if tracker.run_id is None:
        return
    with suppress(Exception):
        mlflow.end_run(status)
