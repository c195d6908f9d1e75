"""Train one experiment: task + data -> model -> compile/fit -> evaluate -> publish.

``train(cfg)`` is the library function behind ``kerasforge train``; tests call
it directly. Everything specific to the kind of problem comes from the task
(``kerasforge.pipelines.tasks``); this module only runs the flow.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras

from ... import models
from ...serving.card import ModelCard, write_card
from ...serving.clients.request_inputs import write_last_trained, write_sample_request
from ..augment.images import augment_dataset, model_augmentation
from ..config.experiment import ExperimentConfig
from ..config.limits import build_within_limit
from ..data import pipeline as datalib
from ..data.combine import add_extra
from ..data.sources import imagefolder
from ..data.sources.series import split_series
from ..data.types import Splits
from ..data.validate import validate
from ..errors import ConfigError, clipped
from ..tasks import get_task
from ..tasks.base import Task
from ..tracking import publishing
from ..tracking.release import GateSpec, baseline_line
from ..tracking.run import Tracker, tracked_run
from . import resume
from .callbacks import (
    HISTORY_FILE,
    NanGuard,
    logging_callbacks,
    plateau_callback,
)
from .multiworker import for_this_worker, synchronize_batch_norm
from .optimizers import OPTIMIZER_CLASSES, build_optimizer
from .regularize import add_l2, smoothed
from .schedules import steps_for
from .statistics import write_run_statistics
from .strategy import configure_runtime
from .summary import StageClock, Stopping

if TYPE_CHECKING:
    from ...serving.export.publish import Published

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


def load_splits(cfg: ExperimentConfig, task: Task) -> Splits:
    """The config's data source, checked against the task, split by the config's seed."""
    dataset = datalib.load_source(cfg.data.source, cfg.data.file)
    if cfg.data.classes is not None:
        dataset = datalib.keep_classes(dataset, cfg.data.classes)
    dataset = add_extra(dataset, cfg.data.extra)
    task.check_data(dataset.info)
    for finding in validate(dataset):  # errors raise; warnings are shown and logged
        print(f"data {finding.level}: {finding.message}", flush=True)
    if dataset.info.inputs == "series":  # windows, split in time order (never shuffled)
        return split_series(
            dataset,
            **cfg.data.series.model_dump(),
            validation_fraction=cfg.data.validation_fraction,
            test_fraction=cfg.data.test_fraction,
        )
    splits = datalib.split(dataset, cfg.data.validation_fraction, cfg.data.test_fraction, cfg.seed)
    splits = task.select(splits)
    return imagefolder.with_samples(splits, cfg.data.file) if dataset.info.streamed else splits


def build_task_model(cfg: ExperimentConfig, task: Task, splits: Splits) -> keras.Model:
    """The registered backbone, wrapped by the task (preprocessing fitted on train, head).

    Raises:
        ConfigError: the builder refuses ``model.options``, or the backbone would
            have more than ``model.max_params`` parameters (refused before any
            weight is allocated).
    """
    entry = models.get_entry(cfg.model.name)
    _place_augmentation(cfg, task, splits)
    arguments = {**task.builder_arguments(entry, splits), **cfg.model.options}
    try:
        backbone = build_within_limit(
            lambda: models.build_model(cfg.model.name, **arguments),
            cfg.model.name,
            cfg.model.max_params,
        )
    except ValueError as exc:
        raise ConfigError(f"model.options: {clipped(str(exc), 300)}") from None
    return task.assemble(backbone, entry, splits.info, splits.x_train, splits.y_train)


def _place_augmentation(cfg: ExperimentConfig, task: Task, splits: Splits) -> None:
    """``data.augmentation.placement: model``: the augmentation layer goes to the task."""
    augmentation = cfg.data.augmentation
    if not augmentation.in_model:
        return
    if not task.takes_input_augmentation:
        raise ConfigError(
            f"data.augmentation.placement: model puts augmentation into the {task.name} "
            "model, which only the classification task builds; use placement: dataset"
        )
    channels = splits.input_shape[-1] if splits.info.inputs == "image" else None
    task.input_augmentation = model_augmentation(augmentation, seed=cfg.seed, channels=channels)


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
        keras.callbacks.ModelCheckpoint(
            str(run_dir / "checkpoints" / "best.keras"),
            monitor=cfg.train.monitor,
            mode=mode,
            save_best_only=True,
        ),
        *plateau_callback(cfg, mode),
        *([NanGuard()] if cfg.train.control.terminate_on_nan else []),
        *models.get_entry(cfg.model.name).make_callbacks(cfg.model.options),
        *tracker.callbacks(),
    ]


def compile_model(
    cfg: ExperimentConfig, task: Task, model: keras.Model, steps_per_epoch: int
) -> None:
    """Optimizer (schedule, clipping, weight decay), task loss (label smoothing), L2, XLA."""
    add_l2(model, cfg.train.l2)
    model.compile(
        optimizer=build_optimizer(cfg.train, steps_per_epoch),
        jit_compile=cfg.train.scale.jit_compile,
        **smoothed(
            task.compile_arguments(),
            cfg.train.label_smoothing,
            soft_labels=cfg.data.augmentation.mixes_labels,
        ),
    )


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
    strategy = configure_runtime(cfg)
    cfg = for_this_worker(cfg)
    task = get_task(cfg.task.name, cfg.task.options)
    with clock.stage("data"):
        splits = load_splits(cfg, task)
    folder = resume.resume_folder(cfg)
    state = resume.load_state(folder) if cfg.train.control.resume else None
    steps = steps_for(splits.sizes["train"], cfg.data.batch_size)
    with strategy.scope():
        model = build_task_model(cfg, task, splits)
        if cfg.train.scale.strategy == "multi_worker":
            synchronize_batch_norm(model)
        compile_model(cfg, task, model, steps)
        state = state or resume.ResumeState(run_dir=str(_new_run_dir(cfg.output_dir)))
        resumed = resume.restore_model(model, folder, state)
    resumed_from = state.epochs_done if resumed else None
    if resumed:
        print(
            f"resuming {state.run_dir} from epoch {resumed_from} of {cfg.train.epochs}", flush=True
        )
    run_dir = Path(state.run_dir)
    resume.trim_history(run_dir / HISTORY_FILE, state.epochs_done)
    config_file = run_dir / "config.yaml"
    config_file.write_text(cfg.to_yaml())
    with clock.stage("data"):
        datasets = _datasets(cfg, task, splits, state.epochs_done)

    with tracked_run(cfg, config_file, splits=splits, resume_run_id=state.mlflow_run_id) as tracker:
        state.mlflow_run_id = tracker.run_id
        resume.save_state(folder, state)
        callbacks = [
            *make_callbacks(cfg, task, run_dir, tracker, resumed=resumed),
            *extra_callbacks,
        ]
        with clock.stage("training"):
            history = _fit(
                cfg,
                model,
                datasets,
                [*callbacks, resume.ResumeCheckpoint(folder, state, callbacks, tracker.wait_sent)],
                state.epochs_done,
                task.fit_arguments(splits),
            )
        _check_finite(callbacks, run_dir, cfg)
        with clock.stage("evaluation"):
            test_metrics = _evaluate(model, task, splits, datasets["test"], run_dir, tracker)
            spec = publishing.gate_spec(cfg, task, model, splits)
        print(baseline_line(spec, test_metrics[f"test_{spec.metric}"]), flush=True)
        test_metrics.update(spec.metrics())
        tracker.log_metrics(spec.metrics())
        imagefolder.report_skipped(splits.info, tracker)
        card = task.card(cfg.model.name, splits.info).model_copy(
            update={
                "metrics": test_metrics,
                "experiment": cfg.name,
                "run_id": tracker.run_id,
                "model_name": cfg.export.model_name,
                "image_input": cfg.export.image_input,
            }
        )
        write_card(run_dir, card)
        write_run_statistics(cfg, model, card, splits, run_dir, tracker)
        with clock.stage("export"):
            exported = (
                publishing.export(
                    cfg, model, card, tracker, task.export_data(model, splits), run_dir
                )
                if cfg.export.enabled
                else None
            )
        with clock.stage("publish"):  # the MLflow Model, the gate and the release
            example = task.serving_examples(model, splits.x_test[:4])
            logged = task.predict_examples(model, splits.x_test[:4], splits.y_test[:4])
            tracker.finish(model, history.history, run_dir, logged)
            published, outcome = (
                publishing.release(cfg, tracker, spec, test_metrics, exported)
                if exported
                else (None, None)
            )
        sample = _record_for_predict(cfg, example, published, outcome)
    resume.finish(folder)

    return TrainResult(
        model=model,
        task=task,
        splits=splits,
        run_dir=run_dir,
        test_metrics=test_metrics,
        epochs_run=state.epochs_done,
        run_id=tracker.run_id,
        card=published.card if published else card,
        published=published,
        sample_request=sample,
        outcome=outcome,
        gate=spec,
        stopping=Stopping.of(
            next(c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)),
            cfg.train,
            epochs_run=state.epochs_done,
            resumed_from=resumed_from,
        ),
        seconds=dict(clock.seconds),
        total_seconds=clock.total(),
        tracking_uri=tracker.uri,
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


def _datasets(
    cfg: ExperimentConfig, task: Task, splits: Splits, first_epoch: int = 0
) -> dict[str, Any]:
    """Train (augmented), validation and test batches, and the training steps per epoch."""
    datasets = _unaugmented_datasets(cfg, task, splits, first_epoch)
    datasets["train"] = augment_dataset(
        datasets["train"],
        cfg.data.augmentation,
        seed=cfg.seed,
        num_classes=splits.num_classes,
        channels=splits.input_shape[-1] if splits.info.inputs == "image" else None,
        first_step=first_epoch * datasets["steps_per_epoch"],
        text=splits.info.inputs == "text",
    )
    return datasets


def _unaugmented_datasets(
    cfg: ExperimentConfig, task: Task, splits: Splits, first_epoch: int
) -> dict[str, Any]:
    if splits.files is not None:
        return imagefolder.file_datasets(
            cfg.data, splits.files, seed=cfg.seed, first_epoch=first_epoch, epochs=cfg.train.epochs
        )
    common = {"batch_size": cfg.data.batch_size, "seed": cfg.seed, "cache": cfg.data.cache}
    train, steps = datalib.to_epoch_dataset(
        *task.training_pairs(splits.x_train, splits.y_train),
        first_epoch=first_epoch,
        epochs=cfg.train.epochs,
        shuffle_buffer=cfg.data.shuffle_buffer,
        **common,
    )
    held_out = {"validation": (splits.x_val, splits.y_val), "test": (splits.x_test, splits.y_test)}
    return {
        "train": train,
        "steps_per_epoch": steps,
        **{
            part: datalib.to_dataset(*task.training_pairs(x, y), training=False, **common)
            for part, (x, y) in held_out.items()
        },
    }


def _new_run_dir(output_dir: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(1000):
        run_dir = output_dir / "runs" / (stamp if i == 0 else f"{stamp}-{i}")
        try:
            (run_dir / "checkpoints").mkdir(parents=True)
            return run_dir
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run folder under {output_dir / 'runs'}")
