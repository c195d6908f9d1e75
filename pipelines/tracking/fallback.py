"""A local journal of what could not reach the tracking server, and its replay.

When the server is unreachable at the start of a run, or stops answering in
the middle of one, the :class:`Journal` keeps every later param, tag, metric,
artifact and the model in ``<output_dir>/mlflow-fallback/<id>/``;
``kerasforge runs replay <folder>`` sends them to the server later, into the
same run when the server knows it, else into a new run of the experiment.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

JOURNAL = "journal.jsonl"
META = "meta.json"
REPLAYED = "replayed.json"


class Journal:
    """Append-only record of one run's tracking calls, in a folder of its own."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        (folder / META).write_text(json.dumps(meta, indent=2))

    @classmethod
    def create(cls, output_dir: Path, meta: dict[str, Any]) -> Journal:
        """A new journal folder under ``output_dir/mlflow-fallback``."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return cls(output_dir / "mlflow-fallback" / f"{stamp}-{os.getpid()}", meta)

    def update_meta(self, **values: Any) -> None:
        """Add or change keys of the run's description (``run_id``, ``status``)."""
        meta = json.loads((self.folder / META).read_text())
        meta.update(values)
        (self.folder / META).write_text(json.dumps(meta, indent=2))

    def record(self, kind: str, **payload: Any) -> None:
        """Append one call: ``metrics``, ``params``, ``tags``, ``artifact`` or ``model``."""
        entry = {"kind": kind, "timestamp": int(time.time() * 1000), **payload}
        with open(self.folder / JOURNAL, "a") as handle:
            handle.write(json.dumps(entry) + "\n")

    def keep_artifact(self, path: Path, artifact_path: str | None) -> None:
        """Copy a file or folder into the journal and record it."""
        folder = self.folder / "artifacts" / (artifact_path or "")
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / path.name
        if path.is_dir():  # like mlflow.log_artifacts: the contents go under artifact_path
            target = self.folder / "artifacts" / f"{artifact_path or ''}.{time.time_ns()}"
            shutil.copytree(path, target)
        else:
            shutil.copy2(path, target)
        self.record(
            "artifact", path=str(target.relative_to(self.folder)), artifact_path=artifact_path
        )

    def keep_model(
        self, model: Any, example: np.ndarray, registered_model_name: str | None
    ) -> None:
        """Save the Keras model and its input example for a later MLflow Model log."""
        model.save(self.folder / "model.keras")
        np.save(self.folder / "example.npy", np.asarray(example))
        self.record("model", registered_model_name=registered_model_name)


def replay(folder: Path, uri: str | None = None) -> dict[str, Any]:
    """Send a journal's records to the tracking server; return what was sent.

    Args:
        folder: a journal folder (``<output_dir>/mlflow-fallback/<id>``).
        uri: the tracking server (default: the one the run was meant for).

    Returns:
        ``{"run_id": ..., "records": n, "uri": ...}``.

    Raises:
        FileNotFoundError: ``folder`` holds no journal.
        RuntimeError: the journal was already replayed.
    """
    from .store import scoped_uris

    with scoped_uris():  # the model replay uses MLflow's process-wide URI
        return _replay(folder, uri)


def _replay(folder: Path, uri: str | None) -> dict[str, Any]:
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    meta = json.loads((folder / META).read_text())
    if (folder / REPLAYED).exists():
        raise RuntimeError(f"{folder} was already replayed: {(folder / REPLAYED).read_text()}")
    uri = uri or meta["uri"]
    client = MlflowClient(uri)
    mlflow.set_tracking_uri(uri)
    run_id = _target_run(client, meta)
    records = _records(folder)
    summary_notes: list[str] = []
    name, version = None, None
    for entry in records:
        kind = entry["kind"]
        if kind == "metrics":
            metrics = [
                Metric(k, float(v), entry["timestamp"], entry.get("step") or 0)
                for k, v in entry["metrics"].items()
            ]
            client.log_batch(run_id, metrics=metrics)
        elif kind == "params":
            for key, value in entry["params"].items():
                client.log_param(run_id, key, value)
        elif kind == "tags":
            for key, value in entry["tags"].items():
                client.set_tag(run_id, key, value)
        elif kind == "artifact":
            _log_path(client, run_id, folder / entry["path"], entry.get("artifact_path"))
        elif kind == "model":
            name = entry.get("registered_model_name")
            version = _replay_model(folder, run_id, name, summary_notes)
    client.set_tag(run_id, "kerasforge.replayed_from", str(folder))
    client.set_terminated(run_id, meta.get("status", "FINISHED"))
    if version is not None:
        _release(client, folder, meta, run_id, name, version, summary_notes)
    summary = {"run_id": run_id, "records": len(records), "uri": uri, "notes": summary_notes}
    (folder / REPLAYED).write_text(json.dumps(summary))
    return summary


def _records(folder: Path) -> list[dict[str, Any]]:
    path = folder / JOURNAL
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _target_run(client: Any, meta: dict[str, Any]) -> str:
    """The run the journal belongs to when the server knows it, else a new one."""
    from mlflow.exceptions import MlflowException

    if meta.get("run_id"):
        try:
            return client.get_run(meta["run_id"]).info.run_id
        except MlflowException:
            pass
    experiment = client.get_experiment_by_name(meta["experiment"])
    experiment_id = (
        experiment.experiment_id if experiment else client.create_experiment(meta["experiment"])
    )
    return client.create_run(experiment_id, run_name=meta.get("run_name")).info.run_id


def _log_path(client: Any, run_id: str, path: Path, artifact_path: str | None) -> None:
    if path.is_dir():
        client.log_artifacts(run_id, str(path), artifact_path)
    else:
        client.log_artifact(run_id, str(path), artifact_path)


def _replay_model(
    folder: Path, run_id: str, registered_model_name: str | None, notes: list[str]
) -> str | None:
    """Log the kept model as an MLflow Model; its registered version (a refused registration
    is noted, not fatal)."""
    import keras
    import mlflow
    from mlflow.exceptions import MlflowException

    from .mlflow_model import log_keras_model

    model = keras.models.load_model(folder / "model.keras")
    with mlflow.start_run(run_id=run_id):
        info = log_keras_model(model, np.load(folder / "example.npy"))
    if not registered_model_name:
        return None
    try:
        return str(mlflow.register_model(info.model_uri, registered_model_name).version)
    except MlflowException as exc:
        notes.append(
            f"model logged ({info.model_uri}) but not registered as "
            f"{registered_model_name!r}: {str(exc)[:200]}; register it with "
            f"mlflow.register_model('{info.model_uri}', '{registered_model_name}')"
        )
    return None


def _release(
    client: Any,
    folder: Path,
    meta: dict[str, Any],
    run_id: str,
    name: str | None,
    version: str,
    notes: list[str],
) -> None:
    """Judge the registered ``version`` against the registry as it is now, then release it
    into the run's repository: the state an online run would have reached."""
    from .model_registry import gate_and_release
    from .release import GateSpec

    if not meta.get("gate") or not meta.get("repository") or not name:
        notes.append(
            f"{name} version {version} registered without a gate: this journal was written "
            "before kerasforge recorded the gate's rules in it; judge it by training again"
        )
        return
    spec = GateSpec.from_dict(meta["gate"])
    candidate = client.get_run(run_id).data.metrics.get(f"test_{spec.metric}")
    if candidate is None:
        notes.append(f"{name} version {version} not judged: the run has no test_{spec.metric}")
        return
    gate_and_release(
        client,
        name,
        version,
        spec,
        float(candidate),
        repository=Path(meta["repository"]),
        folder=folder / "gate",
    )
