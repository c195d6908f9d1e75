"""MLflow Model Registry -> TF Serving repository: the one publish path.

* :func:`release` puts what the registry's aliases say into the repository:
  each labelled version is materialised as ``<repository>/<NAME>/<N>/`` (the
  exported SavedModel its run logged) and ``models.config`` serves exactly
  them, ``stable`` <- champion, ``canary`` <- challenger. Training, replay and
  ``kerasforge publish`` all end here, after the gate
  (:mod:`kerasforge.pipelines.tracking.release`) has set the aliases.
* :func:`publish_version` is ``kerasforge publish``: the release of a version
  named by alias or number.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .release import (
    CANARY,
    CHALLENGER,
    CHAMPION,
    STABLE,
    GateDecision,
    GateSpec,
    gate_version,
    release_lock,
    served_text,
)

EXPORT_ARTIFACT = "model"  # where train.py logs the published SavedModel folder
MODELS_CONFIG = "models.config"


@dataclass(frozen=True)
class Released:
    """What :func:`release` left in the repository for one model."""

    name: str
    labels: dict[str, int]
    path: Path | None
    """The folder of the version asked for, when it is in the repository."""
    note: str


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
    uri: str,
    name: str,
    repository: Path,
    *,
    alias: str | None = None,
    version: str | None = None,
    on_fail: str = "canary",
) -> Released:
    """``kerasforge publish``: :func:`release` of the version named by ``alias`` or ``version``
    (default: the champion). ``on_fail`` as in :func:`release`; a challenger asked for
    by alias or number is served as ``canary``.

    Raises:
        LookupError: the version does not exist, or its run logged no export.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    chosen = resolve_version(client, name, alias, version)
    if CHALLENGER in chosen.aliases:
        on_fail = "canary"
    number = str(chosen.version)
    with release_lock(repository, name):  # as the gates of trainings and replays
        return release(
            client, name, repository, version=number, on_fail=on_fail, place_unserved=True
        )


def release(
    client: Any,
    name: str,
    repository: Path,
    *,
    version: str | None = None,
    on_fail: str = "canary",
    source: Path | None = None,
    place_unserved: bool = False,
) -> Released:
    """Serve what the registry's aliases say: the one publish path of every entry point.

    ``stable`` is the champion; ``canary`` the challenger, when ``on_fail`` is
    ``canary`` and a stable version is served beside it (alone, a canary would
    answer every request). Each labelled version is materialised as
    ``repository/<name>/<N>/`` (``version`` from ``source``, a local copy of its
    export, when given; else from the run's logged ``model`` artifact), and the
    model's ``models.config`` entry serves exactly the labelled versions
    (``specific`` policy). ``version`` unlabelled is placed only with
    ``place_unserved`` (asked for by number). With nothing labelled the entry is
    left as it is.

    Raises:
        LookupError: a version's run logged no exported SavedModel.
    """
    aliases = {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}
    labels: dict[str, int] = {}
    if CHAMPION in aliases:
        labels[STABLE] = int(aliases[CHAMPION])
        if on_fail == "canary" and CHALLENGER in aliases:
            labels[CANARY] = int(aliases[CHALLENGER])
    wanted = {str(v) for v in labels.values()}
    if version and place_unserved:
        wanted.add(version)
    for number in sorted(wanted, key=int):
        _materialise(client, name, number, repository, source if number == version else None)
    if labels:
        write_models_config(repository, name, labels)
    path = repository / name / version if version and version in wanted else None
    return Released(name, labels, path, _note(name, version, labels, aliases, path))


def _note(
    name: str, version: str | None, labels: dict[str, int], aliases: dict, path: Path | None
) -> str:
    served = served_text(labels)
    if version is None or int(version) in labels.values():
        return f"{name}: serving {served}"
    held = ", ".join(a for a, v in aliases.items() if v == version) or "no alias"
    where = "in the repository but not served" if path else "not published"
    return f"{name} version {version} is {where} ({held}); serving {served}"


def _materialise(
    client: Any, name: str, version: str, repository: Path, source: Path | None
) -> Path:
    """``repository/<name>/<version>/`` from ``source`` or the version's run artifact."""
    from ...serving.card import read_card, write_card

    target = repository / name / version
    if (target / "saved_model.pb").exists():
        return target
    run_id = client.get_model_version(name, version).run_id
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=_mkdir(repository / name)))
    try:
        if source is not None:
            exported = staging / EXPORT_ARTIFACT
            shutil.copytree(source, exported)
        else:
            try:
                client.download_artifacts(run_id, EXPORT_ARTIFACT, str(staging))
            except Exception as exc:
                raise LookupError(
                    f"run {run_id} of {name} version {version} logged no exported "
                    f"SavedModel ({type(exc).__name__}); train it with export.enabled=true"
                ) from None
            exported = staging / EXPORT_ARTIFACT
        card = read_card(exported)
        write_card(exported, card.model_copy(update={"model_name": name, "version": int(version)}))
        shutil.rmtree(target, ignore_errors=True)
        exported.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_models_config(repository: Path, name: str, labels: dict[str, int]) -> Path:
    """Write or update ``repository/models.config`` (TF Serving's ``--model_config_file``).

    The entry for ``name`` serves its labelled versions (``specific`` policy)
    or, without labels, the latest; other models' entries are kept. One writer
    for the file: :func:`kerasforge.serving.export.tf_serving_config.set_model_entry`.
    """
    from ...serving.export.tf_serving_config import set_model_entry

    return set_model_entry(repository, name, labels)


def gate_and_release(
    client: Any,
    name: str,
    version: str,
    spec: GateSpec,
    candidate: float,
    *,
    repository: Path,
    folder: Path,
    source: Path | None = None,
) -> tuple[GateDecision, Released]:
    """Judge registered ``version`` (:func:`kerasforge.pipelines.tracking.release.gate_version`),
    then :func:`release` it; one model's gates and releases on this machine run one at a time.

    Returns:
        The gate's decision and what the repository now serves.
    """
    with release_lock(repository, name):
        decision = gate_version(client, name, version, spec, candidate, folder)
        released = release(
            client, name, repository, version=version, on_fail=spec.on_fail, source=source
        )
    print(released.note, flush=True)
    return decision, released
