"""The end of ``kerasforge train``: what the run produced, in at most twelve lines.

:class:`RunSummary` holds the facts as plain values (:func:`from_result` takes them
from a :class:`~kerasforge.pipelines.training.train.TrainResult`); :func:`render`
turns them into the lines. :class:`Stopping` and :class:`StageClock` are what
training records for it: why the epochs ended, and how long each stage took.
Importing this module loads the standard library only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .train import TrainResult

MAX_LINES = 12
STAGES = ("data", "training", "evaluation", "export", "TFLite", "publish")
"""The stages the time line names, in the order they run."""
PLOTS_FOLDER = "tracking"  # where the tracker draws them: <run>/tracking/*.png


@dataclass(frozen=True)
class Stopping:
    """Why the epochs ended and whose weights the model kept (epochs counted from 1)."""

    epochs_run: int
    """Epochs done in all; a resumed run counts the ones before the restart."""
    epoch_limit: int
    best_epoch: int | None
    """The epoch whose weights early stopping restored (``None``: nothing monitored)."""
    stopped_early: bool
    monitor: str
    resumed_from: int | None = None
    """Epochs already done when this process resumed the run (``None``: a fresh run)."""

    @classmethod
    def of(cls, early: Any, train: Any, *, epochs_run: int, resumed_from: int | None) -> Stopping:
        """From the run's ``keras.callbacks.EarlyStopping`` after ``fit`` (its best weights,
        when it kept any, are restored at the end of training) and the ``train`` config."""
        restored = early.best_weights is not None
        return cls(
            epochs_run=epochs_run,
            epoch_limit=train.epochs,
            best_epoch=early.best_epoch + 1 if restored else None,
            stopped_early=early.stopped_epoch > 0,
            monitor=train.monitor,
            resumed_from=resumed_from,
        )

    def line(self) -> str:
        """``epochs: early stopping kept epoch 10's weights of 16 (best val_loss; limit 30)``."""
        resumed = f"resumed from epoch {self.resumed_from}; " if self.resumed_from else ""
        if self.stopped_early:
            kept = f"epoch {self.best_epoch}'s" if self.best_epoch else "the last"
            why = f"early stopping kept {kept} weights of {self.epochs_run}"
            return f"epochs: {resumed}{why} (best {self.monitor}; limit {self.epoch_limit})"
        reached = f"reached the epoch limit ({self.epoch_limit})"
        if self.best_epoch and self.best_epoch != self.epochs_run:
            kept = f"kept epoch {self.best_epoch}'s weights (best {self.monitor})"
        else:
            kept = "kept the last epoch's weights"
        return f"epochs: {resumed}{reached}; {kept}"


@dataclass
class StageClock:
    """Seconds per stage of one run, and in all since it was made."""

    seconds: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Add the block's wall time to stage ``name``."""
        begun = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.monotonic() - begun

    def total(self) -> float:
        return time.monotonic() - self.started


@dataclass(frozen=True)
class RunSummary:
    """The facts the summary states, as plain values."""

    headline: str
    """``accuracy 0.9852 beats the majority class baseline 0.1017 by +0.8835 (margin 0.05)``."""
    stopping: Stopping
    total_seconds: float
    seconds: dict[str, float]
    model_name: str
    served: str | None
    """``digits_cnn version 3 (stable) at artifacts/models/digits_cnn/3``; ``None``: not served."""
    gate: str
    """``passed``, ``failed: ...``, ``not judged yet: ...`` or ``no export``."""
    card: Path
    run_dir: Path
    plots: tuple[str, ...] = ()
    """The plots' file names in ``<run_dir>/tracking``."""
    mlflow: str | None = None
    """``run 1f2e... in sqlite:///artifacts/mlflow.db``; ``None`` without tracking."""
    local_mlflow: bool = True
    sample_request: Path | None = None


def render(summary: RunSummary) -> list[str]:
    """The lines ``kerasforge train`` ends with (at most :data:`MAX_LINES`)."""
    lines = [
        f"result: {summary.headline}",
        summary.stopping.line(),
        f"time: {_duration(summary.total_seconds)} ({_stage_times(summary.seconds)})",
        f"model: {summary.served or 'not served'}",
        f"release gate: {summary.gate}",
        f"card: {summary.card}",
        f"run folder: {summary.run_dir}",
    ]
    if summary.plots:
        lines.append(f"plots: {summary.run_dir / PLOTS_FOLDER} ({', '.join(summary.plots)})")
    if summary.mlflow:
        lines.append(f"mlflow: {summary.mlflow}")
    if summary.sample_request:
        lines.append(f"sample request: {summary.sample_request}")
    lines.append(f"next: {_next_steps(summary)}")
    return lines[:MAX_LINES]


def _next_steps(summary: RunSummary) -> str:
    steps = []
    if summary.served:
        steps.append(f"make serve, then make predict (asks {summary.model_name})")
    if summary.mlflow and summary.local_mlflow:
        steps.append("make mlflow-ui (http://127.0.0.1:5000)")
    return "; ".join(steps) or "fix what kept the model from being served, then train again"


def _stage_times(seconds: dict[str, float]) -> str:
    named = [f"{name} {_duration(seconds[name])}" for name in STAGES if name in seconds]
    return ", ".join(named) or "no stage timed"


def _duration(seconds: float) -> str:
    """``4.1 s``, ``3 min 12 s``, ``1 h 02 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def from_result(result: TrainResult) -> RunSummary:
    """The summary's facts from a finished training."""
    from ..tracking.release import baseline_line

    metric, value = result.headline
    headline = f"test {metric} {value:.4f}"
    if result.gate is not None and result.gate.baseline is not None:
        candidate = result.test_metrics[f"test_{result.gate.metric}"]
        headline = baseline_line(result.gate, candidate).removeprefix("baseline: ")
    published, outcome = result.published, result.outcome
    served = gate = None
    if published is not None and outcome is not None:
        if outcome.served:
            labels = ", ".join(k for k, v in outcome.labels.items() if v == published.version)
            served = f"{published.name} version {published.version} ({labels}) at {published.path}"
        gate = {True: "passed", False: "failed", None: "not judged yet"}[outcome.passed]
        gate = gate if outcome.served else f"{gate}: {outcome.note}"
    card_folder = published.path if published is not None else result.run_dir
    plots = tuple(sorted(p.name for p in (result.run_dir / PLOTS_FOLDER).glob("*.png")))
    seconds = dict(result.seconds)
    if published is not None and "TFLite" in published.seconds:  # the export stage holds it
        seconds["TFLite"] = published.seconds["TFLite"]
        seconds["export"] = max(seconds.get("export", 0.0) - seconds["TFLite"], 0.0)
    return RunSummary(
        headline=headline,
        stopping=result.stopping,
        total_seconds=result.total_seconds,
        seconds=seconds,
        model_name=result.card.model_name or "",
        served=served,
        gate=gate or "no export (export.enabled: false)",
        card=card_folder / "kerasforge.json",
        run_dir=result.run_dir,
        plots=plots,
        mlflow=f"run {result.run_id} in {result.tracking_uri}" if result.run_id else None,
        local_mlflow=result.tracking_uri.startswith("sqlite:"),
        sample_request=result.sample_request,
    )
