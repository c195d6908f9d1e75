"""Everything one training sets up before ``fit``.

:func:`prepare` configures the runtime, picks the task, loads the splits
(``training.inputs``), builds and compiles the model under the strategy
(``training.build``), restores an unfinished run (``training.resume``), and makes
the run folder with its ``config.yaml`` and the datasets from the first epoch
still to run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from ..config.experiment import ExperimentConfig
from ..data.types import Splits
from ..tasks import get_task
from ..tasks.base import Task
from . import resume
from .build import build_task_model, compile_model
from .callbacks import HISTORY_FILE
from .inputs import load_splits, make_datasets
from .multiworker import for_this_worker, synchronize_batch_norm
from .schedules import steps_for
from .strategy import configure_runtime
from .summary import StageClock


@dataclass
class Prepared:
    """What ``train`` sets up before tracking starts: a fresh run's or a resumed one's."""

    cfg: ExperimentConfig
    task: Task
    splits: Splits
    model: keras.Model
    folder: Path
    """The resume folder (``resume.resume_folder``)."""
    state: resume.ResumeState
    resumed_from: int | None
    """The epoch a resumed run continues from; ``None`` for a fresh run."""
    config_file: Path
    datasets: dict[str, Any]

    @property
    def run_dir(self) -> Path:
        """The run folder (the resumed run's own when resuming)."""
        return Path(self.state.run_dir)


def prepare(cfg: ExperimentConfig, clock: StageClock) -> Prepared:
    """Runtime, task, splits, the compiled model (restored when resuming), the run folder
    with its ``config.yaml``, and the datasets from the first epoch still to run."""
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
        datasets = make_datasets(cfg, task, splits, state.epochs_done)
    return Prepared(cfg, task, splits, model, folder, state, resumed_from, config_file, datasets)


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
