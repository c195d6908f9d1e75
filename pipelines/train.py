"""Train one experiment: data -> model -> compile/fit -> evaluate -> publish.

``train(cfg)`` is the library function behind ``kerasforge train``; tests call
it directly.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras

from kerasforge.pipelines import data as datalib
from kerasforge.pipelines.config import ExperimentConfig
from kerasforge.pipelines.errors import ConfigError
from kerasforge.pipelines.tracking import Tracker, tracked_run
from kerasforge.serving.repository import METADATA_FILE

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
    splits: datalib.Splits
    run_dir: Path
    test_metrics: dict[str, float]
    epochs_run: int
    run_id: str | None
    published: Published | None
    sample_request: Path


def build_classifier(cfg: ExperimentConfig, splits: datalib.Splits) -> keras.Model:
    """The registered backbone behind an input normalisation fitted on the training split."""
    from kerasforge import models

    try:
        backbone = models.build_model(
            cfg.model.name,
            input_shape=splits.input_shape,
            num_classes=splits.num_classes,
            **cfg.model.options,
        )
    except ValueError as exc:
        raise ConfigError(f"model.options: {exc}") from None
    inputs = keras.Input(shape=splits.input_shape, name="pixels")
    normalize = keras.layers.Normalization(axis=None, name="normalize")
    normalize.adapt(splits.x_train)  # statistics from the training split only
    outputs = backbone(normalize(inputs))
    return keras.Model(inputs, outputs, name=cfg.model.name)


def make_callbacks(cfg: ExperimentConfig, run_dir: Path, tracker: Tracker) -> list:
    """Early stopping (best weights restored), best checkpoint, and tracking."""
    mode = "min" if cfg.train.monitor.endswith("loss") else "max"
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
    ]


def train(cfg: ExperimentConfig) -> TrainResult:
    """Run the experiment ``cfg`` end to end and publish the model.

    Args:
        cfg: a frozen experiment config (``pipelines.config.load_config``).

    Returns:
        The trained model, its test metrics, the run folder and the publish result.
    """
    keras.utils.set_random_seed(cfg.seed)
    splits = datalib.split(
        datalib.load_source(cfg.data.source),
        cfg.data.validation_fraction,
        cfg.data.test_fraction,
        cfg.seed,
    )
    model = build_classifier(cfg, splits)
    model.compile(
        optimizer=OPTIMIZERS[cfg.train.optimizer](learning_rate=cfg.train.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    run_dir = _new_run_dir(cfg.output_dir)
    config_file = run_dir / "config.yaml"
    config_file.write_text(cfg.to_yaml())
    datasets = _datasets(cfg, splits)

    with tracked_run(cfg, config_file) as tracker:
        history = model.fit(
            datasets["train"],
            validation_data=datasets["validation"],
            epochs=cfg.train.epochs,
            callbacks=make_callbacks(cfg, run_dir, tracker),
            shuffle=False,  # the tf.data pipeline shuffles, seeded
            verbose=1 if sys.stdout.isatty() else 2,
        )
        test = model.evaluate(datasets["test"], return_dict=True, verbose=0)
        test_metrics = {f"test_{k}": float(v) for k, v in test.items()}
        tracker.log_metrics(test_metrics)
        print(f"test accuracy: {test_metrics['test_accuracy']:.4f}", flush=True)
        card = _model_card(cfg, splits, tracker.run_id, test_metrics)
        (run_dir / METADATA_FILE).write_text(json.dumps(card, indent=2))
        published = _publish(cfg, model, card, tracker) if cfg.export.enabled else None
        sample = _write_sample_request(cfg.output_dir, splits)

    return TrainResult(
        model=model,
        splits=splits,
        run_dir=run_dir,
        test_metrics=test_metrics,
        epochs_run=len(history.epoch),
        run_id=tracker.run_id,
        published=published,
        sample_request=sample,
    )


def _datasets(cfg: ExperimentConfig, splits: datalib.Splits) -> dict[str, Any]:
    common = {"batch_size": cfg.data.batch_size, "seed": cfg.seed, "cache": cfg.data.cache}
    return {
        "train": datalib.to_dataset(
            splits.x_train,
            splits.y_train,
            training=True,
            shuffle_buffer=cfg.data.shuffle_buffer,
            **common,
        ),
        "validation": datalib.to_dataset(splits.x_val, splits.y_val, training=False, **common),
        "test": datalib.to_dataset(splits.x_test, splits.y_test, training=False, **common),
    }


def _model_card(
    cfg: ExperimentConfig, splits: datalib.Splits, run_id: str | None, metrics: dict[str, float]
) -> dict[str, Any]:
    """What a served model needs to say about itself (``kerasforge.json``)."""
    return {
        "task": "classification",
        "class_names": list(splits.class_names),
        "value_range": list(splits.value_range),
        "experiment": cfg.name,
        "run_id": run_id,
        **metrics,
    }


def _publish(
    cfg: ExperimentConfig, model: keras.Model, card: dict[str, Any], tracker: Tracker
) -> Published:
    from kerasforge.serving.export import publish

    published = publish(
        model,
        cfg.output_dir / "models",
        cfg.export.model_name,
        tflite=cfg.export.tflite,
        metadata=card,
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
