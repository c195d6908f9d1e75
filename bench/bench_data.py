"""Input-pipeline figures (issue 10): ``input_pipeline_headroom``,
``vectorized_aug_speedup``, ``image_folder_headroom``.

``input_pipeline_headroom``: batches/s of the default experiment's augmented
training pipeline alone (tf.data: gather, shuffle, batch, augmentation map,
prefetch; rotation, zoom, translation, MixUp) ÷ training steps/s of the same
model on one of its batches cached as a tensor (as many steps as an epoch).
``vectorized_aug_speedup``: the same augmentation mapped per example
(batches of one, then batched) ÷ mapped once per batch.
``image_folder_headroom``: batches/s of the ``image_folder`` pipeline
reading the digits written as a PNG folder (cache off, so every epoch decodes
the files; the ``digits_folder`` config's augmentation) ÷ training steps/s on
cached tensors. 200 batches per call; the two sides of each figure interleaved,
warm-up calls dropped; medians.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from common import figure, interleaved

GOAL = 3.0
STEPS = 200
"""Batches (training steps) per timed call."""
EPOCHS = 60
"""Epochs of the training pipeline: enough batches for every call."""
AUGMENTATION = [
    "data.augmentation.rotation=0.05",
    "data.augmentation.zoom=0.1",
    "data.augmentation.translation=0.1",
    "data.augmentation.mixup_alpha=0.2",
]


def _prepared(config: Path, overrides: list[str]) -> tuple[Any, Any, Any, dict]:
    from kerasforge.pipelines.config.experiment import load_config
    from kerasforge.pipelines.tasks import get_task
    from kerasforge.pipelines.training import train
    from kerasforge.pipelines.training.inputs import make_datasets

    cfg = load_config(config, ["tracking.enabled=false", f"train.epochs={EPOCHS}", *overrides])
    task = get_task(cfg.task.name, cfg.task.options)
    splits = train.load_splits(cfg, task)
    model = train.build_task_model(cfg, task, splits)
    datasets = make_datasets(cfg, task, splits)
    train.compile_model(cfg, task, model, datasets["steps_per_epoch"])
    return cfg, splits, model, datasets


def _headroom(datasets: dict, model: Any, repeats: int) -> tuple[float, float, float]:
    """(ratio, pipeline batches/s, training steps/s on a pipeline batch cached as tensors).

    :data:`STEPS` batches (steps) a call, so start-up costs weigh little on
    either side. Each pipeline call starts a fresh iterator: one kept across
    calls would fill its prefetch buffers while the training side runs and
    report drained buffers, not the pipeline's rate.
    """
    import tensorflow as tf

    cached = tf.data.Dataset.from_tensors(next(iter(datasets["train"]))).cache().repeat()

    def pipeline() -> None:
        for _ in datasets["train"].take(STEPS):
            pass

    def training() -> None:
        model.fit(cached, epochs=1, steps_per_epoch=STEPS, verbose=0, shuffle=False)

    times = interleaved({"pipeline": pipeline, "training": training}, repeats, warmup=2)
    batches_per_s = STEPS / statistics.median(times["pipeline"])
    steps_per_s = STEPS / statistics.median(times["training"])
    return batches_per_s / steps_per_s, batches_per_s, steps_per_s


def _vectorized(cfg: Any, splits: Any, repeats: int) -> tuple[float, float, float]:
    import tensorflow as tf

    from kerasforge.pipelines.augment.images import augmenter

    fn = augmenter(
        cfg.data.augmentation,
        seed=cfg.seed,
        num_classes=splits.num_classes,
        channels=splits.input_shape[-1],
    )
    size, auto, count = cfg.data.batch_size, tf.data.AUTOTUNE, len(splits.y_train)
    copies = -(-STEPS * size // count)  # about STEPS batches a call
    examples = tf.data.Dataset.from_tensor_slices((splits.x_train, splits.y_train))
    examples = examples.repeat(copies)

    def one(step: Any, example: Any) -> Any:
        x, y = fn(step, example[0][None], example[1][None])
        return x[0], y[0]

    per_example = examples.enumerate().map(one, num_parallel_calls=auto).batch(size)
    batched = examples.batch(size).enumerate().map(lambda s, b: fn(s, *b), num_parallel_calls=auto)
    sides = {
        "per_example": lambda: [None for _ in per_example.prefetch(auto)],
        "batched": lambda: [None for _ in batched.prefetch(auto)],
    }
    times = interleaved(sides, repeats, warmup=2)
    steps = -(-count * copies // size)
    per_example_s, batched_s = (statistics.median(times[k]) for k in ("per_example", "batched"))
    return per_example_s / batched_s, steps / per_example_s, steps / batched_s


def run(args: Any, repeats: int = 8) -> dict[str, dict]:
    from kerasforge.pipelines.data.example_data import write_digit_images

    default = Path("configs") / "digits_cnn.yaml"
    cfg, splits, model, datasets = _prepared(default, AUGMENTATION)
    headroom, pipeline_bps, train_sps = _headroom(datasets, model, repeats)
    speedup, per_example_bps, batched_bps = _vectorized(cfg, splits, repeats)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "digits_png"
        write_digit_images(folder, ".png")
        _, _, folder_model, folder_datasets = _prepared(
            Path("configs") / "digits_folder.yaml",
            [f"data.file.path={folder}", "data.cache=false"],
        )
        folder_headroom, folder_bps, folder_sps = _headroom(folder_datasets, folder_model, repeats)
    return {
        "input_pipeline_headroom": figure(
            headroom,
            f">= {GOAL}",
            headroom >= GOAL,
            pipeline_batches_per_s=pipeline_bps,
            training_steps_per_s=train_sps,
        ),
        "vectorized_aug_speedup": figure(
            speedup,
            f">= {GOAL}",
            speedup >= GOAL,
            limit="Keras' random layers dispatch per call; on a tiny 8x8 batch fixed costs "
            "dominate both sides",
            per_example_batches_per_s=per_example_bps,
            batched_batches_per_s=batched_bps,
        ),
        "image_folder_headroom": figure(
            folder_headroom,
            f">= {GOAL}",
            folder_headroom >= GOAL,
            limit="every epoch decodes and resizes each PNG again on the CPU (the measured "
            "side runs with cache off); `data.cache: true` makes later epochs free",
            folder_pipeline_batches_per_s=folder_bps,
            training_steps_per_s=folder_sps,
        ),
    }
