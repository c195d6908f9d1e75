"""Training statistics figure (issue 25): ``stats_training_overhead``.

``stats_training_overhead``: the default experiment's training (``model.fit`` over its
configured epochs, tracking off) followed by the training statistics
(``pipelines/training/statistics.py:compute_statistics``: the training inputs' summaries
and the validation outputs' through the raw signature) ÷ the same training without them.
Both sides run the same compiled model on the same datasets, alternating, warm-up dropped.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from common import figure, interleaved

GOAL = 1.05


def run(args: Any, repeats: int = 4) -> dict[str, dict]:
    from kerasforge.pipelines.config.experiment import load_config
    from kerasforge.pipelines.tasks import get_task
    from kerasforge.pipelines.training import train
    from kerasforge.pipelines.training.inputs import make_datasets
    from kerasforge.pipelines.training.statistics import compute_statistics

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(
            Path("configs") / "digits_cnn.yaml", ["tracking.enabled=false", f"output_dir={tmp}"]
        )
        task = get_task(cfg.task.name, cfg.task.options)
        splits = train.load_splits(cfg, task)
        model = train.build_task_model(cfg, task, splits)
        datasets = make_datasets(cfg, task, splits)
        train.compile_model(cfg, task, model, datasets["steps_per_epoch"])
        card = task.card(cfg.model.name, splits.info)
        fit = {
            "epochs": cfg.train.epochs,
            "steps_per_epoch": datasets["steps_per_epoch"],
            "validation_data": datasets["validation"],
            "shuffle": False,
            "verbose": 0,
        }

        def with_statistics() -> None:
            model.fit(datasets["train"], **fit)
            compute_statistics(model, card, splits)

        times = interleaved(
            {
                "with_statistics": with_statistics,
                "without": lambda: model.fit(datasets["train"], **fit),
            },
            repeats=repeats,
            warmup=1,
        )
    ours, bare = statistics.median(times["with_statistics"]), statistics.median(times["without"])
    ratio = ours / bare
    return {
        "stats_training_overhead": figure(
            ratio,
            f"<= {GOAL}",
            ratio <= GOAL,
            with_statistics_s=ours,
            without_s=bare,
            epochs=cfg.train.epochs,
        )
    }
