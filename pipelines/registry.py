"""MLflow Model Registry: the release gate, and the bridge to a TF Serving repository.

* :func:`release_gate` compares a newly registered version with the one
  holding the ``champion`` alias on the configured test metric (an absolute
  threshold plus a minimum improvement, direction from the task). Passing
  moves ``champion`` to the candidate and gives the old one ``previous``;
  failing gives the candidate ``challenger``. The decision and its reasons go
  to a run tag, a model-version tag and ``gate_report.json``.
* :func:`publish_version` materialises a registered version -- the exported
  SavedModel its run logged -- as ``<repository>/<NAME>/<N>/`` and writes
  ``models.config`` with version labels from the aliases (``stable`` <-
  champion, ``canary`` <- challenger).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CHAMPION, PREVIOUS, CHALLENGER = "champion", "previous", "challenger"
LABELS = {CHAMPION: "stable", CHALLENGER: "canary"}
EXPORT_ARTIFACT = "model"  # where train.py logs the published SavedModel folder
MODELS_CONFIG = "models.config"


@dataclass
class GateDecision:
    """What the gate decided for one candidate version, and why."""

    model_name: str
    version: str
    metric: str
    mode: str
    candidate: float
    champion_version: str | None
    champion: float | None
    passed: bool
    reasons: list[str] = field(default_factory=list)


def decide(
    candidate: float,
    champion: float | None,
    mode: str,
    threshold: float | None,
    min_improvement: float,
) -> tuple[bool, list[str]]:
    """Whether ``candidate`` clears the threshold and beats ``champion``; with reasons."""
    better = (lambda a, b: a >= b) if mode == "max" else (lambda a, b: a <= b)
    sign = 1 if mode == "max" else -1
    reasons, passed = [], True
    if threshold is not None:
        ok = better(candidate, threshold)
        passed &= ok
        word = "at least" if mode == "max" else "at most"
        reasons.append(
            f"{'meets' if ok else 'misses'} threshold: {candidate:.4f} vs {word} {threshold:.4f}"
        )
    if champion is None:
        reasons.append("no champion yet")
    else:
        needed = champion + sign * min_improvement
        ok = better(candidate, needed)
        passed &= ok
        reasons.append(
            f"{'beats' if ok else 'does not beat'} champion: {candidate:.4f} vs {champion:.4f} "
            f"(needs {needed:.4f}, min_improvement {min_improvement})"
        )
    return passed, reasons


def release_gate(
    tracker: Any, version: str, test_metrics: dict[str, float], task: Any, folder: Path
) -> GateDecision:
    """Run the gate for ``version`` of ``tracker.registered_name``; set aliases, tags, report."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    gate = tracker.registry.gate
    metric = gate.metric or task.headline.metric
    mode = "min" if metric == "loss" else task.metrics.get(metric, task.headline.mode)
    client = MlflowClient(tracker.uri)
    name = tracker.registered_name
    try:
        old = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        old = None
    champion = None
    if old is not None and old.run_id:
        champion = client.get_run(old.run_id).data.metrics.get(f"test_{metric}")
    candidate = float(test_metrics[f"test_{metric}"])
    passed, reasons = decide(candidate, champion, mode, gate.threshold, gate.min_improvement)
    if passed:
        if old is not None:
            client.set_registered_model_alias(name, PREVIOUS, old.version)
        client.set_registered_model_alias(name, CHAMPION, version)
    else:
        client.set_registered_model_alias(name, CHALLENGER, version)
    decision = GateDecision(
        name,
        version,
        metric,
        mode,
        candidate,
        old.version if old else None,
        champion,
        passed,
        reasons,
    )
    verdict = "passed" if passed else "failed"
    client.set_model_version_tag(name, version, "gate", verdict)
    tracker.set_tags({"gate": verdict, "gate_reasons": "; ".join(reasons)})
    report = folder / "gate_report.json"
    report.write_text(json.dumps(asdict(decision), indent=2))
    tracker.log_artifact(report)
    print(f"release gate {verdict} for {name} version {version}: {'; '.join(reasons)}", flush=True)
    return decision


def resolve_version(client: Any, name: str, alias: str | None, version: str | None) -> Any:
    """The registered ``ModelVersion`` named by ``alias`` or ``version`` (default: champion).

    Raises:
        LookupError: no such model, alias or version, with what exists.
    """
    from mlflow.exceptions import MlflowException

    try:
        if version is not None:
            return client.get_model_version(name, str(version))
        return client.get_model_version_by_alias(name, alias or CHAMPION)
    except MlflowException:
        pass
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        names = [m.name for m in client.search_registered_models()]
        raise LookupError(
            f"no registered model {name!r}; registered: {', '.join(names) or 'none'}"
        ) from None
    what = f"version {version}" if version is not None else f"alias {alias or CHAMPION!r}"
    aliases = ", ".join(f"{a}={v}" for a, v in sorted(model.aliases.items())) or "none"
    raise LookupError(f"model {name!r} has no {what}; aliases: {aliases}")


def publish_version(
    uri: str, name: str, repository: Path, *, alias: str | None = None, version: str | None = None
) -> Path:
    """Materialise a registered version as ``repository/<name>/<N>/`` and update ``models.config``.

    Returns:
        The version folder.

    Raises:
        LookupError: the version does not exist, or its run logged no export.
    """
    from mlflow.tracking import MlflowClient

    from kerasforge.serving.card import read_card, write_card

    client = MlflowClient(uri)
    chosen = resolve_version(client, name, alias, version)
    target = repository / name / str(chosen.version)
    if not (target / "saved_model.pb").exists():
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=_mkdir(repository / name)))
        try:
            client.download_artifacts(chosen.run_id, EXPORT_ARTIFACT, str(staging))
        except Exception as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise LookupError(
                f"run {chosen.run_id} of {name} version {chosen.version} logged no exported "
                f"SavedModel ({type(exc).__name__}); train it with export.enabled=true"
            ) from None
        exported = staging / EXPORT_ARTIFACT
        card = read_card(exported)
        write_card(
            exported, card.model_copy(update={"model_name": name, "version": int(chosen.version)})
        )
        shutil.rmtree(target, ignore_errors=True)
        exported.rename(target)
        shutil.rmtree(staging, ignore_errors=True)
    write_models_config(repository, name, _labels(client, name, repository))
    return target


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _labels(client: Any, name: str, repository: Path) -> dict[str, int]:
    """TF Serving labels of the aliases whose version is in the repository."""
    aliases = client.get_registered_model(name).aliases
    return {
        label: int(aliases[alias])
        for alias, label in LABELS.items()
        if alias in aliases
        and (repository / name / str(aliases[alias]) / "saved_model.pb").exists()
    }


def write_models_config(repository: Path, name: str, labels: dict[str, int]) -> Path:
    """Write or update ``repository/models.config`` (TF Serving's ``--model_config_file``).

    The entry for ``name`` serves its labelled versions (``specific`` policy)
    or, without labels, the latest; other models' entries are kept. One writer
    for the file: :func:`kerasforge.serving.tf_serving_config.set_model_entry`.
    """
    from kerasforge.serving.tf_serving_config import set_model_entry

    return set_model_entry(repository, name, labels)
