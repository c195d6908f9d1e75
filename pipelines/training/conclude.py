"""Everything one training does after ``fit``: evaluate, describe, export, release.

:func:`conclude` scores the test split (and the task's evaluation artefacts),
states the release gate's baseline, writes the model card and the run's
statistics, exports through ``tracking.publishing`` (SavedModel, TFLite), logs
the MLflow Model, releases, and records what ``kerasforge predict`` asks by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras

from ...serving.card import ModelCard, write_card
from ...serving.clients.request_inputs import write_last_trained, write_sample_request
from ..config.experiment import ExperimentConfig
from ..data.sources import imagefolder
from ..data.types import Splits
from ..tasks.base import Task
from ..tracking import publishing
from ..tracking.release import GateSpec, baseline_line
from ..tracking.run import Tracker
from .prepare import Prepared
from .statistics import write_run_statistics
from .summary import StageClock

if TYPE_CHECKING:
    from ...serving.export.publish import Published


@dataclass(frozen=True)
class Concluded:
    """What the evaluation, the export and the release produced."""

    test_metrics: dict[str, float]
    spec: GateSpec
    card: ModelCard
    published: Published | None
    outcome: publishing.Outcome | None
    sample: Path


def conclude(
    run: Prepared, tracker: Tracker, history: keras.callbacks.History, clock: StageClock
) -> Concluded:
    """Evaluate, write the card and statistics, export, then log and release the model."""
    cfg, task, model, splits = run.cfg, run.task, run.model, run.splits
    with clock.stage("evaluation"):
        test_metrics = _evaluate(model, task, splits, run.datasets["test"], run.run_dir, tracker)
        spec = publishing.gate_spec(cfg, task, model, splits)
    print(baseline_line(spec, test_metrics[f"test_{spec.metric}"]), flush=True)
    test_metrics.update(spec.metrics())
    tracker.log_metrics(spec.metrics())
    imagefolder.report_skipped(splits.info, tracker)
    card = _card(cfg, task, splits, test_metrics, tracker.run_id)
    write_card(run.run_dir, card)
    write_run_statistics(cfg, model, card, splits, run.run_dir, tracker)
    with clock.stage("export"):
        exported = (
            publishing.export(
                cfg, model, card, tracker, task.export_data(model, splits), run.run_dir
            )
            if cfg.export.enabled
            else None
        )
    with clock.stage("publish"):  # the MLflow Model, the gate and the release
        example = task.serving_examples(model, splits.x_test[:4])
        logged = task.predict_examples(model, splits.x_test[:4], splits.y_test[:4])
        tracker.finish(model, history.history, run.run_dir, logged)
        published, outcome = (
            publishing.release(cfg, tracker, spec, test_metrics, exported)
            if exported
            else (None, None)
        )
    sample = _record_for_predict(cfg, example, published, outcome)
    return Concluded(test_metrics, spec, card, published, outcome, sample)


def _card(
    cfg: ExperimentConfig,
    task: Task,
    splits: Splits,
    test_metrics: dict[str, float],
    run_id: str | None,
) -> ModelCard:
    """The run's model card: the task's, with the test metrics and the export's names."""
    return task.card(cfg.model.name, splits.info).model_copy(
        update={
            "metrics": test_metrics,
            "experiment": cfg.name,
            "run_id": run_id,
            "model_name": cfg.export.model_name,
            "image_input": cfg.export.image_input,
        }
    )


def _record_for_predict(
    cfg: ExperimentConfig, examples: Any, published: Published | None, outcome: Any
) -> Path:
    """What ``kerasforge predict`` asks by default: the model's sample request and, once it
    is exported, the record of the model trained last."""
    sample = write_sample_request(cfg.output_dir, cfg.export.model_name, examples.tolist())
    if published is not None:
        served = outcome is not None and outcome.served
        version = published.version if served else None
        write_last_trained(cfg.output_dir, cfg.export.model_name, version, sample, cfg.name)
    return sample


def _evaluate(
    model: keras.Model,
    task: Task,
    splits: Splits,
    test: Any,
    run_dir: Path,
    tracker: Tracker,
) -> dict[str, float]:
    """Test metrics and the task's evaluation artefacts; prints the headline line."""
    scores = model.evaluate(test, return_dict=True, verbose=0)
    metrics = {f"test_{k}": float(v) for k, v in scores.items()}
    folder = run_dir / "evaluation"
    metrics.update(task.report(model, splits, folder))
    tracker.log_metrics(metrics)
    if folder.is_dir():
        tracker.log_artifact(folder, "evaluation")
    name = task.headline.metric
    print(f"test {name}: {metrics[f'test_{name}']:.4f}", flush=True)
    return metrics
