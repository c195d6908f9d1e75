"""TF Serving configuration files, regenerated in the repository root after each publish.

* ``models.config``: a ``ModelServerConfig`` (``model_config_list``) naming
  every model in the repository, its base path, a ``latest`` version policy
  and the ``stable`` label on the newest version; written by
  :func:`kerasforge.serving.server.model_config.config_text` (TF Serving's own protos
  in text format), the one writer of ``models.config``, so it is exactly what
  ``--model_config_file`` parses, here and in TF Serving.
  :func:`set_model_entry` updates one model's entry (the MLflow registry's
  labels) and keeps the others.
* ``batching.config``: ``BatchingParameters`` for ``--enable_batching
  --batching_parameters_file``.
* ``monitoring.config``: Prometheus metrics for ``--monitoring_config_file``.

Paths inside ``models.config`` are relative to ``base_path_root``: ``/models``
(where TF Serving's Docker image mounts the repository) unless told otherwise.

Example:
    tensorflow_model_server --model_config_file=/models/models.config \\
        --enable_batching --batching_parameters_file=/models/batching.config \\
        --monitoring_config_file=/models/monitoring.config
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from .. import repository as repo
from ..errors import ServingError
from ..server.model_config import (
    Latest,
    ModelEntry,
    Specific,
    config_text,
    read_config,
)

log = logging.getLogger(__name__)

MODELS_CONFIG = "models.config"
BATCHING_CONFIG = "batching.config"
MONITORING_CONFIG = "monitoring.config"

BATCHING = """\
max_batch_size {{ value: {max_batch_size} }}
batch_timeout_micros {{ value: {batch_timeout_micros} }}
max_enqueued_batches {{ value: {max_enqueued_batches} }}
num_batch_threads {{ value: {num_batch_threads} }}
"""
MONITORING = """\
prometheus_config {
  enable: true
  path: "/monitoring/prometheus/metrics"
}
"""


def models_config(
    repository: Path,
    base_path_root: str = "/models",
    num_versions: int = 1,
    *,
    published: str | None = None,
) -> str:
    """``models.config`` text for every model with a published version.

    A model whose entry a release wrote (``specific`` versions with labels: what
    its gate let through) keeps that entry, except ``published``, the model an
    export just published; the others serve their ``latest`` versions.
    """
    released = {
        name: entry
        for name, entry in released_entries(repository).items()
        if name != published and isinstance(entry.policy, Specific) and entry.labels
    }
    entries = [
        released.get(name)
        or ModelEntry(
            name,
            Path(f"{base_path_root.rstrip('/')}/{name}"),
            Latest(num_versions),
            {"stable": repo.latest_version(repository / name) or 0},
        )
        for name in repo.model_names(repository)
    ]
    return config_text(entries)


def released_entries(repository: Path) -> dict[str, ModelEntry]:
    """The entries of ``repository/models.config`` by model name; none without a readable file."""
    path = repository / MODELS_CONFIG
    if not path.is_file():
        return {}
    try:
        return {e.name: e for e in read_config(path)}
    except ServingError as exc:
        log.warning("ignoring %s: %s", path, exc)
        return {}


def served_version(entry: ModelEntry | None, on_disk: Iterable[int]) -> int:
    """The version a bare model name answers with: the newest of those ``entry`` (the
    repository's ``models.config``) serves, else the newest on disk (``on_disk`` non-empty)."""
    found = sorted(on_disk)
    served = set(entry.policy.select(found)) & set(found) if entry else set()
    return max(served or found)


def set_model_entry(repository: Path, name: str, labels: dict[str, int]) -> Path:
    """Write or update ``repository/models.config``: model ``name`` and its labels.

    The entry serves the labelled versions (``specific`` policy) or, without
    labels, the latest; its base path is ``repository/name``, absolute; other
    models' entries are kept.

    Raises:
        ServingError: the existing file is not a valid model server config.
    """
    path = repository / MODELS_CONFIG
    entries = [e for e in read_config(path) if e.name != name] if path.exists() else []
    policy = Specific(frozenset(labels.values())) if labels else Latest(1)
    entries.append(ModelEntry(name, (repository / name).resolve(), policy, dict(labels)))
    staging = repository / f".{MODELS_CONFIG}.tmp"
    staging.write_text(config_text(entries))
    staging.replace(path)  # atomic: TF Serving polls the file
    return path


def write_configs(
    repository: Path,
    base_path_root: str = "/models",
    max_batch_size: int = 32,
    batch_timeout_micros: int = 2000,
    *,
    published: str | None = None,
) -> dict[str, Path]:
    """Write the three files into ``repository``; returns their paths by file name.

    ``published``: the model just exported (its entry is regenerated even where a
    release wrote it; see :func:`models_config`).
    """
    texts = {
        MODELS_CONFIG: models_config(repository, base_path_root, published=published),
        BATCHING_CONFIG: BATCHING.format(
            max_batch_size=max_batch_size,
            batch_timeout_micros=batch_timeout_micros,
            max_enqueued_batches=100,
            num_batch_threads=4,
        ),
        MONITORING_CONFIG: MONITORING,
    }
    written = {}
    for name, text in texts.items():
        staging = repository / f".{name}.tmp"
        staging.write_text(text)
        staging.replace(repository / name)  # atomic: TF Serving polls the file
        written[name] = repository / name
    return written
