"""Resume after a crash: the same command continues an unfinished run where it stopped.

Every finished epoch, :class:`ResumeCheckpoint` copies, then writes (atomically) every
variable of the model (weights, batch-norm statistics, dropout's random-generator
state) and of its optimizer (the step counter drives the learning-rate schedule)
as one uncompressed ``.npz`` (a full ``.keras`` archive per epoch cost a third of
a short epoch), and a small ``state.json``: epochs done, the run folder, the MLflow
run id, and the counters of the stateful callbacks (early stopping,
best-checkpoint, plateau). The folder is keyed by the experiment name and a
digest of its config, so only the same experiment resumes. A finished
training removes it. An epoch whose logs hold NaN/Inf is never saved.

The copy is taken at the epoch's end, on the training thread; the files are written
by one background thread, in epoch order, while the next epoch trains (the write was
about 17 ms of a 0.3 s epoch of the default model). At most one write is in flight:
the next epoch's end waits for it, and the end of training waits for the last one, so
resuming is exact to the last epoch whose ``state.json`` was written, as before.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from ..errors import KerasforgeError

if TYPE_CHECKING:
    from ..config.experiment import ExperimentConfig

STATE_FILE = "state.json"
VARIABLES_FILE = "variables.npz"
"""``model_<i>``: ``model.variables``; ``optimizer_<i>``: ``model.optimizer.variables``."""
BEST_WEIGHTS_FILE = "best_weights.npz"
CALLBACK_STATE = {
    "EarlyStopping": ("wait", "best", "best_epoch", "stopped_epoch"),
    "ModelCheckpoint": ("best",),
    "ReduceLROnPlateau": ("wait", "best", "cooldown_counter"),
    "BestCheckpoint": ("best", "best_epoch", "best_unwritten"),
}
"""The counters of stock callbacks (and of ``callbacks.BestCheckpoint``) that must survive a
restart."""


class ResumeError(KerasforgeError):
    """A saved resume state that cannot continue this run."""


@dataclass
class ResumeState:
    """What a restarted process needs to continue a run."""

    run_dir: str
    epochs_done: int = 0
    mlflow_run_id: str | None = None
    callbacks: dict[str, dict[str, Any]] = field(default_factory=dict)


def resume_folder(cfg: ExperimentConfig) -> Path:
    """``<output_dir>/resume/<name>-<config digest>``: one per distinct experiment config."""
    digest = hashlib.sha256(cfg.to_yaml().encode()).hexdigest()[:12]
    return cfg.output_dir / "resume" / f"{cfg.name}-{digest}"


def load_state(folder: Path) -> ResumeState | None:
    """The saved state of an unfinished run in ``folder``, else ``None``."""
    path = folder / STATE_FILE
    if not path.is_file():
        return None
    try:
        return ResumeState(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        return None  # a state file from another version: start afresh


def save_state(folder: Path, state: ResumeState) -> None:
    """Write ``state`` atomically (a crash mid-write keeps the previous one)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(asdict(state)))
    os.replace(tmp, folder / STATE_FILE)


def restore_model(model: keras.Model, folder: Path, state: ResumeState) -> bool:
    """Load the model and optimizer variables saved in ``folder``; ``False`` when none were.

    Raises:
        ResumeError: the saved variables do not fit this model (another code version).
    """
    path = folder / VARIABLES_FILE
    if state.epochs_done == 0 or not path.is_file():
        return False
    model.optimizer.build(model.trainable_variables)
    with np.load(path) as saved:
        groups = _variable_groups(model)
        for prefix, targets in groups:
            shapes = [saved[k].shape for k in saved.files if _in_group(k, prefix)]
            wanted = [tuple(v.shape) for v in targets]
            if sorted(shapes) != sorted(wanted) or len(shapes) != len(wanted):
                raise ResumeError(
                    f"the resume state in {folder} holds {len(shapes)} {prefix} variables that "
                    f"do not fit this model's {len(wanted)}; delete that folder to start "
                    "afresh, or set train.control.resume=false"
                )
        for prefix, targets in groups:
            for i, variable in enumerate(targets):
                variable.assign(saved[f"{prefix}_{i}"])
    return True


def trim_history(path: Path, epochs_done: int) -> None:
    """Drop CSV history rows of epochs after ``epochs_done`` (written just before a crash)."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    if len(lines) > epochs_done + 1:
        path.write_text("".join(lines[: epochs_done + 1]))


def finish(folder: Path) -> None:
    """The run completed: nothing left to resume."""
    shutil.rmtree(folder, ignore_errors=True)


class ResumeCheckpoint(keras.callbacks.Callback):
    """Save model, optimizer and callback counters after every good epoch; restore counters.

    Put it last in the callback list: its ``on_train_begin`` restores the
    counters after the other callbacks have reset theirs.
    """

    def __init__(
        self,
        folder: Path,
        state: ResumeState,
        watched: list,
        before_commit: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.folder = folder
        self.state = state
        self.before_commit = before_commit
        self.watched = [c for c in watched if type(c).__name__ in CALLBACK_STATE]
        self._writer: ThreadPoolExecutor | None = None
        self._pending: Future | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for callback in self.watched:
            saved = self.state.callbacks.get(type(callback).__name__, {})
            for name, value in saved.items():
                setattr(callback, name, value)
            if _keeps_best_weights(callback) and saved:
                best = self.folder / BEST_WEIGHTS_FILE
                if best.is_file():
                    with np.load(best) as arrays:
                        callback.best_weights = [arrays[f"arr_{i}"] for i in range(len(arrays))]

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not all(math.isfinite(float(v)) for v in (logs or {}).values()):
            return  # a diverged epoch: keep the last good state
        arrays = variable_arrays(self.model)  # this epoch's values, copied now
        best = self._best_weights(epoch)
        counters = {
            type(c).__name__: {n: _plain(getattr(c, n)) for n in CALLBACK_STATE[type(c).__name__]}
            for c in self.watched
        }
        self.flush()  # one write in flight: epochs are committed in order
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="resume-checkpoint")
        self._pending = self._writer.submit(self._commit, epoch + 1, arrays, best, counters)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.flush()
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None

    def flush(self) -> None:
        """Wait for the write in flight; its error, if any, is raised here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _commit(
        self,
        epochs_done: int,
        arrays: dict[str, np.ndarray],
        best: dict[str, np.ndarray] | None,
        counters: dict[str, dict[str, Any]],
    ) -> None:
        """Write one epoch's checkpoint; ``state.json`` last, so it names complete files."""
        _save_arrays(self.folder / VARIABLES_FILE, arrays)
        if best is not None:
            _save_arrays(self.folder / BEST_WEIGHTS_FILE, best)
        self.state.epochs_done = epochs_done
        self.state.callbacks = counters
        if self.before_commit is not None:  # e.g. the epoch's metrics reached MLflow
            self.before_commit()
        save_state(self.folder, self.state)

    def _best_weights(self, epoch: int) -> dict[str, np.ndarray] | None:
        """The weights early stopping (or a best checkpoint not yet written) just kept as its
        best (to save), else ``None``; both follow ``train.monitor``, so they agree."""
        for callback in self.watched:
            improved = getattr(callback, "best_epoch", None) == epoch
            # best_weights stays None while the monitored value is missing (a GAN: no val_loss)
            kept = getattr(callback, "best_weights", None) is not None
            if _keeps_best_weights(callback) and improved and kept:
                return {f"arr_{i}": w for i, w in enumerate(callback.best_weights)}
        return None


def _keeps_best_weights(callback: keras.callbacks.Callback) -> bool:
    """Early stopping that restores its best weights, or a best checkpoint holding an unwritten
    best: their ``best_weights`` go to ``best_weights.npz`` and come back on resume."""
    return bool(
        getattr(callback, "restore_best_weights", False)
        or getattr(callback, "best_unwritten", False)
    )


def _variable_groups(model: keras.Model) -> tuple[tuple[str, list], ...]:
    """The model's variables, its optimizer's, and those of any other optimizer its own
    ``train_step`` keeps as a public attribute (a GAN's ``discriminator_optimizer``)."""
    others = sorted(
        (name, value.variables)
        for name, value in vars(model).items()
        if isinstance(value, keras.optimizers.Optimizer)
        and value is not model.optimizer
        and not name.startswith("_")
    )
    return (("model", model.variables), ("optimizer", model.optimizer.variables), *others)


def _in_group(key: str, prefix: str) -> bool:
    head, _, index = key.rpartition("_")
    return head == prefix and index.isdigit()


def variable_arrays(model: keras.Model) -> dict[str, np.ndarray]:
    """Every model and optimizer variable, named ``model_<i>`` / ``optimizer_<i>`` (another
    optimizer's by its attribute: ``discriminator_optimizer_<i>``)."""
    found = {}
    for prefix, variables in _variable_groups(model):
        for i, variable in enumerate(variables):
            found[f"{prefix}_{i}"] = variable.numpy()  # a copy; half convert_to_numpy's cost
    return found


def _save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` of named arrays, written atomically."""
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _plain(value: Any) -> Any:
    """A JSON-safe copy of a callback counter (numpy scalars become Python numbers)."""
    if isinstance(value, np.generic):
        return value.item()
    return value
