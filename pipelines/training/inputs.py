"""The data side of one training: the config's splits and the tf.data pipelines over them.

:func:`load_splits` reads the source, checks it against the task and splits it;
:func:`make_datasets` batches the splits for ``fit`` and ``evaluate`` (training
batches augmented, seeded per epoch so a resumed run sees the same stream).
"""

from __future__ import annotations

from typing import Any

from ..augment.images import augment_dataset
from ..config.experiment import ExperimentConfig
from ..data import pipeline as datalib
from ..data.combine import add_extra
from ..data.sources import imagefolder
from ..data.sources.series import split_series
from ..data.types import Splits
from ..data.validate import validate
from ..tasks.base import Task


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


def make_datasets(
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
