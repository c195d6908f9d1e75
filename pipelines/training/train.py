"""Train one experiment: task + data -> model -> compile/fit -> evaluate -> publish.

``train(cfg)`` is the library function behind ``kerasforge train``; tests call
it directly. Everything specific to the kind of problem comes from the task
(``kerasforge.pipelines.tasks``); this module only runs the flow, in three parts:
``training.prepare`` before ``fit`` (with ``training.inputs`` for the splits and
datasets, ``training.build`` for the compiled model), the callbacks and ``fit``
here, and ``training.conclude`` after it (evaluation, model card, export, release).
``load_splits``, ``build_task_model`` and ``compile_model`` are re-exported here
for the callers that build a model the way ``train`` does.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras

from ... import models
from ...serving.card import ModelCard
from ..config.experiment import ExperimentConfig
from ..data.types import Splits
from ..tasks.base import Task
from ..tracking import publishing
from ..tracking.release import GateSpec
from ..tracking.run import Tracker, tracked_run
from . import resume
from .build import build_task_model, compile_model
from .callbacks import BestCheckpoint, NanGuard, logging_callbacks, plateau_callback
from .conclude import Concluded, conclude
from .inputs import load_splits
from .optimizers import OPTIMIZER_CLASSES
from .prepare import Prepared, prepare
from .summary import StageClock, Stopping

if TYPE_CHECKING:
    from ...serving.export.publish import Published

__all__ = [
    "OPTIMIZERS",
    "TrainResult",
    "build_task_model",
    "compile_model",
    "load_splits",
    "make_callbacks",
    "train",
]

OPTIMIZERS = OPTIMIZER_CLASSES


@dataclass(frozen=True)
class TrainResult:
    """What one training produced."""

    model: keras.Model
    task: Task
    splits: Splits
    run_dir: Path
    test_metrics: dict[str, float]
    epochs_run: int
    run_id: str | None
    card: ModelCard
    published: Published | None
    sample_request: Path
    outcome: publishing.Outcome | None = None
    """What the gate and the release made of the export (None without an export)."""
    gate: GateSpec | None = None
    """The release gate's rules for this run, with the task's baseline."""
    stopping: Stopping | None = None
    """Why the epochs ended and whose weights were kept."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time per stage (``summary.STAGES``; ``export`` includes TFLite)."""
    total_seconds: float = 0.0
    tracking_uri: str = ""

    @property
    def headline(self) -> tuple[str, float]:
        """The task's headline metric on the test split: ``("accuracy", 0.99)``."""
        name = self.task.headline.metric
        return name, self.test_metrics[f"test_{name}"]


def make_callbacks(
    cfg: ExperimentConfig, task: Task, run_dir: Path, tracker: Tracker, *, resumed: bool = False
) -> list:
    """Learning-rate/CSV/TensorBoard logs, early stopping (best weights restored), best
    checkpoint, plateau, NaN guard, the model's own, and tracking (last, so it sees the
    learning rate)."""
    monitored = cfg.train.monitor.removeprefix("val_")
    mode = "min" if monitored == "loss" else task.metrics[monitored]
    return [
        *logging_callbacks(cfg, run_dir, resumed),
        keras.callbacks.EarlyStopping(
            monitor=cfg.train.monitor,
            mode=mode,
            patience=cfg.train.early_stopping_patience,
            restore_best_weights=True,
        ),
        BestCheckpoint(run_dir / "checkpoints" / "best.keras", cfg.train.monitor, mode),
        *plateau_callback(cfg, mode),
        *([NanGuard()] if cfg.train.control.terminate_on_nan else []),
        *models.get_entry(cfg.model.name).make_callbacks(cfg.model.options),
        *tracker.callbacks(),
    ]


def train(
    cfg: ExperimentConfig, *, extra_callbacks: Sequence[keras.callbacks.Callback] = ()
) -> TrainResult:
    """Run the experiment ``cfg`` end to end and publish the model.

    Started again with the same config after a crash (``train.control.resume``),
    it continues the unfinished run: same run folder, epoch, optimizer state,
    schedule position and MLflow run.

    Args:
        cfg: a frozen experiment config (``pipelines.config.experiment.load_config``).
        extra_callbacks: more Keras callbacks for ``fit`` (a tuning trial's pruning callback).

    Returns:
        The trained model, its test metrics, the run folder and the publish result.
    """
    clock = StageClock()
    run = prepare(cfg, clock)
    cfg, state = run.cfg, run.state
    with tracked_run(
        cfg, run.config_file, splits=run.splits, resume_run_id=state.mlflow_run_id
    ) as tracker:
        state.mlflow_run_id = tracker.run_id
        resume.save_state(run.folder, state)
        callbacks = [
            *make_callbacks(
                cfg, run.task, run.run_dir, tracker, resumed=run.resumed_from is not None
            ),
            *extra_callbacks,
        ]
        with clock.stage("training"):
            history = _fit(
                cfg,
                run.model,
                run.datasets,
                [
                    *callbacks,
                    resume.ResumeCheckpoint(run.folder, state, callbacks, tracker.wait_sent),
                ],
                state.epochs_done,
                run.task.fit_arguments(run.splits),
            )
        _check_finite(callbacks, run.run_dir, cfg)
        done = conclude(run, tracker, history, clock)
    resume.finish(run.folder)
    return _result(run, done, tracker, callbacks, clock)


def _result(
    run: Prepared, done: Concluded, tracker: Tracker, callbacks: list, clock: StageClock
) -> TrainResult:
    """The :class:`TrainResult` of a finished run."""
    published = done.published
    return TrainResult(
        model=run.model,
        task=run.task,
        splits=run.splits,
        run_dir=run.run_dir,
        test_metrics=done.test_metrics,
        epochs_run=run.state.epochs_done,
        run_id=tracker.run_id,
        card=published.card if published else done.card,
        published=published,
        sample_request=done.sample,
        outcome=done.outcome,
        gate=done.spec,
        stopping=Stopping.of(
            next(c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)),
            run.cfg.train,
            epochs_run=run.state.epochs_done,
            resumed_from=run.resumed_from,
        ),
        seconds=dict(clock.seconds),
        total_seconds=clock.total(),
        tracking_uri=tracker.uri,
    )


def _fit(
    cfg: ExperimentConfig,
    model: keras.Model,
    datasets: dict[str, Any],
    callbacks: list,
    initial_epoch: int,
    fit_arguments: dict[str, Any],
) -> keras.callbacks.History:
    """``model.fit`` from ``initial_epoch`` (a resumed run) to ``train.epochs``."""
    return model.fit(
        datasets["train"],
        validation_data=datasets["validation"],
        epochs=cfg.train.epochs,
        initial_epoch=initial_epoch,
        steps_per_epoch=datasets["steps_per_epoch"],
        callbacks=callbacks,
        shuffle=False,  # the tf.data pipeline shuffles, seeded per epoch
        verbose=1 if sys.stdout.isatty() else 2,
        **fit_arguments,
    )


def _check_finite(callbacks: list, run_dir: Path, cfg: ExperimentConfig) -> None:
    """Raise ``TrainingDiverged`` if the NaN guard stopped training."""
    for callback in callbacks:
        if isinstance(callback, NanGuard):
            callback.check(run_dir, cfg.train.learning_rate)
