"""The drift report in MLflow: one run per ``kerasforge monitor``, against the model version.

Each report is a run of its own in the experiment ``<model>-monitoring``, not artifacts
added to the training run: a training run is the finished record of how a version was
made, while a version is monitored many times over its life; runs of their own keep each
report's figures as metrics (``psi.inputs.channel_0``, ``alerts``) that MLflow charts over
time and compares across runs. The run's tags tie it to the version: the model name and
repository version, the training run's id and, where the model registry holds it, the
registered model version. The store is the training side's (``tracking.store.tracking_uri``:
``MLFLOW_TRACKING_URI``, else ``<output dir>/mlflow.db`` beside the repository).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..tracking import store
from .report import Monitored

EXPERIMENT_SUFFIX = "-monitoring"


def log_report(
    found: Monitored, out: Path, uri: str, training_run: str | None, artifact_dir: Path
) -> str:
    """Log ``found`` (metrics, tags) and the folder ``out`` (artifacts) as a new run; its id.
    MLflow's URIs in the environment are left as they were."""
    with store.scoped_uris():
        return _log(found, out, uri, training_run, artifact_dir)


def _log(
    found: Monitored, out: Path, uri: str, training_run: str | None, artifact_dir: Path
) -> str:
    from mlflow.tracking import MlflowClient

    experiment = found.model + EXPERIMENT_SUFFIX
    experiment_id = store.prepare(uri, experiment, artifact_dir)
    client = MlflowClient(uri, uri)
    tags = {
        "kerasforge.model": found.model,
        "kerasforge.version": str(found.version),
        "kerasforge.verdict": found.report.verdict,
        "kerasforge.source": found.source[:500],
        "mlflow.runName": f"{found.model}-v{found.version}-drift",
    }
    if training_run:
        tags["kerasforge.training_run_id"] = training_run
        registered = _registered_version(client, found.model, training_run)
        if registered:
            tags["kerasforge.registered_version"] = registered
    run = client.create_run(experiment_id, tags=tags)
    metrics = {
        "alerts": float(len(found.report.alerts())),
        "live_rows": float(found.report.live_rows),
    }
    for side in ("inputs", "outputs"):
        for name, drift in getattr(found.report, side).items():
            key = re.sub(r"[^A-Za-z0-9_./ -]", "_", f"{side}.{name}")
            for test in ("psi", "ks_p_value", "chi2_p_value"):
                value = getattr(drift, test)
                if value is not None:
                    metrics[f"{test}.{key}"] = float(value)
    for key, value in metrics.items():
        client.log_metric(run.info.run_id, key, value)
    client.log_artifacts(run.info.run_id, str(out), "drift")
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def _registered_version(client: object, model: str, run_id: str) -> str | None:
    """The registered version of ``model`` made by ``run_id``, where the registry has one."""
    try:
        found = client.search_model_versions(f"name='{model}' and run_id='{run_id}'")  # type: ignore[attr-defined]
    except Exception:  # no registry in this store: the tags say the rest
        return None
    return str(found[0].version) if found else None
