"""After training: the gate's spec (with the task's baseline), and the release of the export.

The export is written into the run folder first (``<run>/export/``); only the
release puts it into the served repository, with the labels its gate earned:

* with a registry the tracking server answers: the version is registered,
  judged (:func:`kerasforge.pipelines.tracking.model_registry.gate_and_release`) and released
  exactly as ``kerasforge publish`` and ``kerasforge runs replay`` release it;
* with the tracking server unreachable: nothing is served yet; the journal
  keeps the export and the gate's spec, and the replay judges and releases it;
* without a registry (tracking or registry off): the gate judges the rules it
  can (baseline, threshold) and the repository's own labels stand in for the
  aliases: a pass becomes ``stable``, a failure ``canary`` beside a stable
  version (``on_fail: canary``) or nothing.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .model_registry import gate_and_release, write_models_config
from .release import (
    CANARY,
    GATE_METRIC_TAG,
    GATE_MODE_TAG,
    STABLE,
    GateSpec,
    judge,
    release_lock,
    served_text,
)

if TYPE_CHECKING:
    from ...serving.card import ModelCard
    from ...serving.export.publish import Published
    from ...serving.export.tflite import ExportData
    from ..config.experiment import ExperimentConfig
    from ..data.types import Splits
    from ..tasks.base import Task
    from .tracker import Tracker

EXPORT_FOLDER = "export"


@dataclass(frozen=True)
class Outcome:
    """Where a trained model ended: the repository folder (or the run's export) and labels."""

    path: Path
    version: int | None
    labels: dict[str, int]
    passed: bool | None
    note: str

    @property
    def served(self) -> bool:
        return self.version is not None and self.version in self.labels.values()


def gate_spec(cfg: ExperimentConfig, task: Task, model: Any, splits: Splits) -> GateSpec:
    """The gate's rules for this run, with the task's baseline on the test split when the
    floor is on (``GateSpec.metrics`` is what the run and the card record of it)."""
    gate = cfg.tracking.registry.gate
    metric = gate.metric or task.headline.metric
    mode = "min" if metric == "loss" else task.metrics.get(metric, task.headline.mode)
    spec = GateSpec(metric, mode, gate.threshold, gate.min_improvement, on_fail=gate.on_fail)
    if not gate.baseline_floor or metric != task.headline.metric:
        return spec
    baseline = task.baseline(model, splits)
    margin = baseline.margin if gate.baseline_margin is None else gate.baseline_margin
    return dataclasses.replace(
        spec, baseline=float(baseline.value), baseline_name=baseline.name, margin=float(margin)
    )


def export(
    cfg: ExperimentConfig,
    model: Any,
    card: ModelCard,
    tracker: Tracker,
    data: ExportData,
    run_dir: Path,
) -> Published:
    """Export into the run folder (``<run>/export``) and log it; the release serves it."""
    from ...serving.export.publish import publish
    from ...serving.export.tflite import TFLiteOptions
    from ...serving.monitoring.statistics import find_statistics

    tflite = cfg.export.tflite
    options = TFLiteOptions(tuple(tflite.variants), tflite.budget) if tflite.enabled else False
    published = publish(
        model,
        export_folder(run_dir),
        cfg.export.model_name,
        card=card,
        tflite=options,
        data=data,
        statistics=find_statistics(run_dir),
    )
    if published.parity:
        print(published.parity.table(), flush=True)
        tracker.log_metrics(published.parity.metrics())
        tracker.log_artifact(published.path / "parity.json", "parity")
        tracker.log_artifact(published.path / "parity.md", "parity")
    tracker.log_artifact(published.path, "model")
    return published


def release(
    cfg: ExperimentConfig,
    tracker: Tracker,
    spec: GateSpec,
    test_metrics: dict[str, float],
    exported: Published,
) -> tuple[Published, Outcome]:
    """Gate and release the export: what the repository now holds (else the run's export),
    and the outcome."""
    outcome = _judge_and_release(cfg, tracker, spec, test_metrics, exported)
    tracker.set_tags(
        {
            "model_name": exported.name,
            "model_version": outcome.version or "none",
            GATE_METRIC_TAG: spec.metric,  # what `kerasforge runs list|compare` rank runs by
            GATE_MODE_TAG: spec.mode,
        }
    )
    version = outcome.version or exported.version
    placed = dataclasses.replace(
        exported,
        path=outcome.path,
        version=version,
        tflite_path=_tflite_in(outcome.path),
        card=exported.card.model_copy(update={"version": version}),
    )
    return placed, outcome


def _tflite_in(folder: Path) -> Path | None:
    from ...serving.repository import TFLITE_FILE

    return folder / TFLITE_FILE if (folder / TFLITE_FILE).exists() else None


def export_folder(run_dir: Path) -> Path:
    """Where training writes its export before the release (``<run>/export``)."""
    return run_dir / EXPORT_FOLDER


def _judge_and_release(
    cfg: ExperimentConfig,
    tracker: Tracker,
    spec: GateSpec,
    test_metrics: dict[str, float],
    published: Published,
) -> Outcome:
    """Judge and release the run's export (see the module); prints what is served."""
    repository = cfg.output_dir / "models"
    candidate = float(test_metrics[f"test_{spec.metric}"])
    name = cfg.export.model_name
    if tracker.enabled and cfg.tracking.registry.enabled:
        if tracker.model_version is None or not tracker.online:
            return _pending(tracker, spec, repository, published)
        return _registry_release(tracker, spec, candidate, repository, published)
    return _local_release(spec, candidate, name, repository, published)


def _registry_release(
    tracker: Tracker, spec: GateSpec, candidate: float, repository: Path, published: Published
) -> Outcome:
    from mlflow.tracking import MlflowClient

    name, version = tracker.registered_name, str(tracker.model_version)
    folder = published.path.parents[2] / "tracking"  # <run>/export/<name>/<n> -> <run>
    decision, released = tracker.send(
        lambda: gate_and_release(
            MlflowClient(tracker.uri),
            name,
            version,
            spec,
            candidate,
            repository=repository,
            folder=folder,
            source=published.path,
        ),
        lambda journal: None,
    ) or (None, None)
    if released is None:  # the server went away during the gate: the replay finishes it
        return _pending(tracker, spec, repository, published)
    path = released.path if released.path and released.path.exists() else published.path
    return Outcome(path, int(version), released.labels, decision.passed, released.note)


def _pending(tracker: Tracker, spec: GateSpec, repository: Path, published: Published) -> Outcome:
    """No registry answer: the journal keeps what the replay needs to judge and release."""
    if tracker.journal is not None:
        tracker.journal.update_meta(
            gate=spec.to_dict(),
            repository=str(repository.resolve()),
            model_name=tracker.registered_name,
        )
    note = (
        f"{published.name}: not published yet: the tracking server did not answer, so the "
        "gate cannot compare with the champion; `kerasforge runs replay` judges and "
        f"publishes it (export kept in {published.path})"
    )
    print(note, flush=True)
    return Outcome(published.path, None, {}, None, note)


def _local_release(
    spec: GateSpec, candidate: float, name: str, repository: Path, published: Published
) -> Outcome:
    """No registry: the repository's labels stand in for the aliases."""
    from ...serving.export.tf_serving_config import released_entries

    with release_lock(repository, name):
        entry = released_entries(repository).get(name)
        labels = dict(entry.labels) if entry else {}
        decision = judge(spec, name, "next", candidate, None)
        verdict = "passed" if decision.passed else "failed"
        print(f"release gate {verdict} for {name}: {'; '.join(decision.reasons)}", flush=True)
        if not decision.passed and (spec.on_fail != "canary" or STABLE not in labels):
            note = f"{name}: not published (gate failed); serving {served_text(labels)}"
            print(note, flush=True)
            return Outcome(published.path, None, labels, False, note)
        version, path = place_next_version(published.path, repository / name)
        labels = {STABLE: version} if decision.passed else {**labels, CANARY: version}
        write_models_config(repository, name, labels)
    note = f"{name}: serving {served_text(labels)}"
    print(note, flush=True)
    return Outcome(path, version, labels, decision.passed, note)


def place_next_version(source: Path, model_dir: Path) -> tuple[int, Path]:
    """Copy the export ``source`` in as ``model_dir``'s next version (highest + 1), atomically,
    as :func:`kerasforge.serving.export.publish.move_into_place` claims it."""
    from ...serving.card import read_card
    from ...serving.export.publish import move_into_place

    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=model_dir))
    try:
        copy = staging / "version"
        shutil.copytree(source, copy)
        return move_into_place(copy, model_dir, read_card(copy))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
