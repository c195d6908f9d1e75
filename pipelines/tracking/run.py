"""MLflow tracking of a training run, with an embedded default store that needs no setup.

Without ``tracking.uri`` in the config or ``MLFLOW_TRACKING_URI`` in the
environment, runs go to a SQLite store at ``<output_dir>/mlflow.db`` with
artifacts under ``<output_dir>/mlartifacts``, both inside the project.

A run never stays RUNNING: SIGINT and SIGTERM end it KILLED, an exception
FAILED, with what was logged kept. When the tracking server is unreachable at
the start or stops answering mid-run, training goes on: one warning says so,
and the rest is kept in a local journal (:mod:`kerasforge.pipelines.tracking.fallback`)
that ``kerasforge runs replay`` sends later.

This module opens and closes the run (:func:`tracked_run`) and picks its store
(:func:`tracking_uri`); the :class:`Tracker` that logs to it is in
:mod:`kerasforge.pipelines.tracking.tracker`, the SIGTERM handling in
:mod:`kerasforge.pipelines.tracking.signals`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from ..config.experiment import ExperimentConfig
from . import provenance
from . import store as mlflow_store
from .fallback import Journal
from .signals import Terminated, ending_signals
from .store import tracking_uri
from .tracker import MlflowMetrics, Tracker, short_reason

if TYPE_CHECKING:
    from ..data.types import Splits

__all__ = ["MlflowMetrics", "Tracker", "tracked_run", "tracking_uri"]


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
    with ending_signals(), mlflow_store.scoped_uris():
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
        tracker.go_offline(short_reason(exc))
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
