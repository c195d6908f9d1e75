"""The cluster this process trains in: ``TF_CONFIG``, or built from a few plain variables.

One entry point, :func:`export_tf_config`, turns the environment into
``TF_CONFIG`` before the strategy is built; the local launcher
(``kerasforge train --workers N``) and the Kubernetes manifests
(``docker/k8s/train/``) set the same variables, so both run the same code:

- ``KERASFORGE_WORKERS``: how many workers (absent: no cluster from the environment);
- ``KERASFORGE_WORKER_INDEX``: this worker's index, else Kubernetes' Indexed Job
  index ``JOB_COMPLETION_INDEX``;
- ``KERASFORGE_SERVICE`` and ``KERASFORGE_JOB``: the headless Service and the Job;
  a pod of an Indexed Job with ``subdomain: <service>`` is reachable as
  ``<job>-<index>.<service>``;
- ``KERASFORGE_PORT``: the port every worker listens on behind the Service
  (default 12345); without a Service, worker ``i`` listens on ``127.0.0.1:<port + i>``,
  or on the ``i``-th of ``KERASFORGE_PORTS`` (comma-separated) when given.

An explicit ``TF_CONFIG`` wins. Read by :mod:`.strategy` and :mod:`.multiworker`;
imports neither (nor TensorFlow: the command line calls it before TensorFlow starts).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError

WORKERS = "KERASFORGE_WORKERS"
WORKER_INDEX = "KERASFORGE_WORKER_INDEX"
JOB_INDEX = "JOB_COMPLETION_INDEX"  # set by Kubernetes in every pod of an Indexed Job
SERVICE = "KERASFORGE_SERVICE"
JOB = "KERASFORGE_JOB"
PORT = "KERASFORGE_PORT"
PORTS = "KERASFORGE_PORTS"
DEFAULT_PORT = 12345


def tf_config() -> dict[str, Any]:
    """The ``TF_CONFIG`` environment variable as a dict (empty when unset)."""
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise ConfigError(f"TF_CONFIG must be JSON; received {raw[:80]!r}") from None
    return value if isinstance(value, dict) else {}


def is_chief() -> bool:
    """Whether this process writes shared outputs (worker 0, or the only process)."""
    task = tf_config().get("task", {})
    return task.get("type", "worker") in ("worker", "chief") and (
        task.get("type") == "chief" or int(task.get("index", 0)) == 0
    )


def cluster_from_env(env: Mapping[str, str]) -> dict[str, Any] | None:
    """The ``TF_CONFIG`` that the worker variables of ``env`` describe; ``None`` without them.

    Raises:
        ConfigError: a variable that is not a number, an index outside ``[0, workers)``,
            a Service without its Job, or a port list of the wrong length.
    """
    if not env.get(WORKERS):
        return None
    count = _integer(env, WORKERS, 1)
    index_name = WORKER_INDEX if env.get(WORKER_INDEX) else JOB_INDEX
    if not env.get(index_name):
        raise ConfigError(
            f"{WORKERS}={env[WORKERS]} needs this worker's index: set {WORKER_INDEX} "
            f"(0 to {count - 1}), or run as an Indexed Job, which sets {JOB_INDEX}"
        )
    index = _integer(env, index_name, 0)
    if index >= count:
        raise ConfigError(
            f"{index_name}={index} is not below {WORKERS}={count}: worker indices run from 0 "
            f"to {count - 1}; set {WORKERS} to the number of workers started"
        )
    task = {"type": "worker", "index": index}
    return {"cluster": {"worker": _addresses(env, count)}, "task": task}


def export_tf_config(strategy: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Set ``TF_CONFIG`` in ``env`` (default ``os.environ``) from the worker variables,
    unless ``TF_CONFIG`` is already set; returns the cluster now in force (``{}``: none).

    Args:
        strategy: ``train.scale.strategy``; worker variables need ``multi_worker``.
        env: the environment to read and update.

    Raises:
        ConfigError: bad worker variables, or worker variables with another strategy
            (every worker would train and publish on its own).
    """
    env = os.environ if env is None else env
    if env.get(WORKERS) and strategy != "multi_worker":
        raise ConfigError(
            f"{WORKERS}={env[WORKERS]} starts this process as one worker of a cluster, but "
            f"train.scale.strategy is {strategy!r}; add --set train.scale.strategy=multi_worker "
            f"or unset {WORKERS}"
        )
    if not env.get("TF_CONFIG"):
        built = cluster_from_env(env)
        if built is not None:
            env["TF_CONFIG"] = json.dumps(built)
    raw = env.get("TF_CONFIG") or "{}"
    try:
        return json.loads(raw)
    except ValueError:
        raise ConfigError(f"TF_CONFIG must be JSON; received {raw[:80]!r}") from None


def _addresses(env: Mapping[str, str], count: int) -> list[str]:
    """``host:port`` of every worker, in index order."""
    if env.get(SERVICE):
        if not env.get(JOB):
            raise ConfigError(
                f"{SERVICE}={env[SERVICE]!r} needs {JOB}, the Indexed Job's name: its pods "
                f"are reachable as <job>-<index>.<service>; set {JOB} (the manifests do)"
            )
        port = _integer(env, PORT, 1, DEFAULT_PORT)
        return [f"{env[JOB]}-{i}.{env[SERVICE]}:{port}" for i in range(count)]
    if env.get(PORTS):
        ports = [p.strip() for p in env[PORTS].split(",")]
        if len(ports) != count or not all(p.isdigit() for p in ports):
            raise ConfigError(
                f"{PORTS} must list {count} port numbers ({WORKERS}={count}), comma-separated; "
                f"received {env[PORTS]!r}"
            )
        return [f"127.0.0.1:{p}" for p in ports]
    port = _integer(env, PORT, 1, DEFAULT_PORT)
    return [f"127.0.0.1:{port + i}" for i in range(count)]


def _integer(env: Mapping[str, str], name: str, minimum: int, default: int | None = None) -> int:
    raw = env.get(name, "")
    if not raw and default is not None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}; received {raw!r}")
    return value
