"""TF Serving configuration files, regenerated in the repository root after each publish.

* ``models.config``: a ``ModelServerConfig`` (``model_config_list``) naming
  every model in the repository, its base path, a ``latest`` version policy
  and the ``stable`` label on the newest version; built with TF Serving's own
  protos (``tensorflow_serving.config.model_server_config_pb2``) and written
  in text format, so it is exactly what ``--model_config_file`` parses.
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

from pathlib import Path

from kerasforge.serving import repository as repo

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


def models_config(repository: Path, base_path_root: str = "/models", num_versions: int = 1) -> str:
    """``models.config`` text for every model with a published version."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2 as pb

    config = pb.ModelServerConfig()
    for name in repo.model_names(repository):
        model = config.model_config_list.config.add(
            name=name, base_path=f"{base_path_root.rstrip('/')}/{name}", model_platform="tensorflow"
        )
        model.model_version_policy.latest.num_versions = num_versions
        model.version_labels["stable"] = repo.latest_version(repository / name) or 0
    return text_format.MessageToString(config)


def write_configs(
    repository: Path,
    base_path_root: str = "/models",
    max_batch_size: int = 32,
    batch_timeout_micros: int = 2000,
) -> dict[str, Path]:
    """Write the three files into ``repository``; returns their paths by file name."""
    texts = {
        MODELS_CONFIG: models_config(repository, base_path_root),
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
