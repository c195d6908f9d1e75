"""Train one experiment: task + data -> model -> compile/fit -> evaluate -> publish.

``train(cfg)`` is the library function behind ``kerasforge train``; tests call
it directly. Everything specific to the kind of problem comes from the task
(``kerasforge.pipelines.tasks``); this module only runs the flow.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras

from kerasforge import models
from kerasforge.pipelines import data as datalib
from kerasforge.pipelines.config import ExperimentConfig
from kerasforge.pipelines.errors import ConfigError, clipped
from kerasforge.pipelines.limits import build_within_limit
from kerasforge.pipelines.tasks import Task, get_task
from kerasforge.pipelines.tracking import Tracker, tracked_run
from kerasforge.serving.card import ModelCard, write_card

if TYPE_CHECKING:
    from kerasforge.serving.export import Published

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}


@dataclass(frozen=True)
class TrainResult:
    """What one training produced."""

    model: keras.Model
    task: Task
    splits: datalib.Splits
    run_dir: Path
    test_metrics: dict[str, float]
    epochs_run: int
    run_id: str | None
    card: ModelCard
    published: Published | None
    sample_request: Path

    @property
    def headline(self) -> tuple[str, float]:
        """The task's headline metric on the test split: ``("accuracy", 0.99)``."""
        name = self.task.headline.metric
        return name, self.test_metrics[f"test_{name}"]


def load_splits(cfg: ExperimentConfig, task: Task) -> datalib.Splits:
    """The config's data source, checked against the task, split by the config's seed."""
    dataset = datalib.load_source(cfg.data.source)
    task.check_data(dataset.info)
    return datalib.split(dataset, cfg.data.validation_fraction, cfg.data.test_fraction, cfg.seed)


def build_task_model(cfg: ExperimentConfig, task: Task, splits: datalib.Splits) -> keras.Model:
    """The registered backbone, wrapped by the task (preprocessing fitted on train, head).

    Raises:
        ConfigError: the builder refuses ``model.options``, or the backbone would
            have more than ``model.max_params`` parameters (refused before any
            weight is allocated).
    """
    entry = models.get_entry(cfg.model.name)
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


def make_callbacks(cfg: ExperimentConfig, task: Task, run_dir: Path, tracker: Tracker) -> list:
    """Early stopping (best weights restored), best checkpoint, tracking, and the model's own."""
    monitored = cfg.train.monitor.removeprefix("val_")
    mode = "min" if monitored == "loss" else task.metrics[monitored]
    return [
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
        *tracker.callbacks(),
        *models.get_entry(cfg.model.name).make_callbacks(cfg.model.options),
    ]


def train(cfg: ExperimentConfig) -> TrainResult:
    """Run the experiment ``cfg`` end to end and publish the model.

    Args:
        cfg: a frozen experiment config (``pipelines.config.load_config``).

    Returns:
        The trained model, its test metrics, the run folder and the publish result.
    """
    keras.utils.set_random_seed(cfg.seed)
    task = get_task(cfg.task.name, cfg.task.options)
    splits = load_splits(cfg, task)
    model = build_task_model(cfg, task, splits)
    model.compile(
        optimizer=OPTIMIZERS[cfg.train.optimizer](learning_rate=cfg.train.learning_rate),
        **task.compile_arguments(),
    )
    run_dir = _new_run_dir(cfg.output_dir)
    config_file = run_dir / "config.yaml"
    config_file.write_text(cfg.to_yaml())
    datasets = _datasets(cfg, task, splits)

    with tracked_run(cfg, config_file) as tracker:
        history = model.fit(
            datasets["train"],
            validation_data=datasets["validation"],
            epochs=cfg.train.epochs,
            callbacks=make_callbacks(cfg, task, run_dir, tracker),
            shuffle=False,  # the tf.data pipeline shuffles, seeded
            verbose=1 if sys.stdout.isatty() else 2,
            **task.fit_arguments(splits),
        )
        test_metrics = _evaluate(model, task, splits, datasets["test"], run_dir, tracker)
        card = task.card(cfg.model.name, splits.info).model_copy(
            update={"metrics": test_metrics, "experiment": cfg.name, "run_id": tracker.run_id}
        )
        write_card(run_dir, card)
        published = _publish(cfg, model, card, tracker) if cfg.export.enabled else None
        sample = _write_sample_request(cfg.output_dir, splits)

    return TrainResult(
        model=model,
        task=task,
        splits=splits,
        run_dir=run_dir,
        test_metrics=test_metrics,
        epochs_run=len(history.epoch),
        run_id=tracker.run_id,
        card=published.card if published else card,
        published=published,
        sample_request=sample,
    )


def _evaluate(
    model: keras.Model,
    task: Task,
    splits: datalib.Splits,
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


def _datasets(cfg: ExperimentConfig, task: Task, splits: datalib.Splits) -> dict[str, Any]:
    common = {"batch_size": cfg.data.batch_size, "seed": cfg.seed, "cache": cfg.data.cache}
    pairs = {
        "train": (splits.x_train, splits.y_train),
        "validation": (splits.x_val, splits.y_val),
        "test": (splits.x_test, splits.y_test),
    }
    return {
        part: datalib.to_dataset(
            *task.training_pairs(x, y),
            training=part == "train",
            shuffle_buffer=cfg.data.shuffle_buffer,
            **common,
        )
        for part, (x, y) in pairs.items()
    }


def _publish(
    cfg: ExperimentConfig, model: keras.Model, card: ModelCard, tracker: Tracker
) -> Published:
    from kerasforge.serving.export import publish

    published = publish(
        model, cfg.output_dir / "models", cfg.export.model_name, card=card, tflite=cfg.export.tflite
    )
    tracker.log_artifact(published.path, "model")
    tracker.set_tags({"model_name": published.name, "model_version": published.version})
    return published


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


def _write_sample_request(output_dir: Path, splits: datalib.Splits, count: int = 4) -> Path:
    """A TF Serving REST request body of test-split inputs, for curl and `make predict`."""
    path = output_dir / "sample_request.json"
    path.write_text(json.dumps({"instances": splits.x_test[:count].tolist()}))
    return path
