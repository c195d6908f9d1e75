"""The MLflow store behind a run: prepared once under a lock, probed, cleaned up.

* :func:`prepare` creates or migrates an embedded SQLite store and the
  experiment under a file lock, so trainings started at the same moment on a
  fresh output folder never race inside MLflow's Alembic migration.
* :func:`probe` asks a tracking server's ``/health`` with a short timeout, so
  a server that is down is noticed in seconds, not after minutes of retries.
* :func:`collect_orphans` marks runs left RUNNING by a killed process.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROBE_TIMEOUT_S = 3.0
PID_TAG = "kerasforge.pid"
HOST_TAG = "host"

# Short HTTP retries: a dead server is a few seconds, not MLflow's minutes.
HTTP_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


def tracking_uri(configured: str | None, output_dir: Path) -> str:
    """Config value, else ``MLFLOW_TRACKING_URI``, else the local SQLite store
    (``<output_dir>/mlflow.db``). Here, not in ``run.py``, so that the commands that only
    read the store (``runs list``, ``runs gc``) load no Keras."""
    if configured:
        return configured
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{(output_dir / 'mlflow.db').resolve()}"


def is_remote(uri: str) -> bool:
    """Whether ``uri`` is a tracking server reached over HTTP."""
    return uri.startswith(("http://", "https://"))


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else ``None``."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").split("?", 1)[0])


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """An exclusive lock next to a SQLite store's file; a no-op for other stores."""
    db = sqlite_path(uri)
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def scoped_uris() -> Iterator[None]:
    """Put MLflow's process-wide tracking and registry URIs back as they were on exit.

    ``mlflow.set_tracking_uri`` also sets ``MLFLOW_TRACKING_URI`` in the
    environment; without this a second training in the same process (a
    notebook, a sweep, the tests) would follow the first one's server.
    """
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    environment = {name: os.environ.get(name) for name in names}
    tracking, registry = tracking_utils._tracking_uri, registry_utils._registry_uri
    try:
        yield
    finally:
        tracking_utils._tracking_uri, registry_utils._registry_uri = tracking, registry
        for name, value in environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def prepare(uri: str, experiment: str, artifact_dir: Path) -> str:
    """Create or migrate the store and the experiment once; return the experiment id.

    Under :func:`store_lock`, this process builds MLflow's tracking and
    registry stores (which create or upgrade the SQLite schema) and creates
    ``experiment`` when it is missing, with its artifacts in ``artifact_dir``
    for local stores (a server chooses its own).
    """
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    with store_lock(uri):
        tracking_utils._get_store(uri)
        registry_utils._get_store(uri)
        found = mlflow.get_experiment_by_name(experiment)
        if found is not None:
            return found.experiment_id
        location = None
        if not is_remote(uri):
            artifact_dir.mkdir(parents=True, exist_ok=True)
            location = artifact_dir.resolve().as_uri()
        return mlflow.create_experiment(experiment, artifact_location=location)


def probe(uri: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why the tracking server at ``uri`` cannot be used now, else ``None``."""
    if not is_remote(uri):
        return None
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            if reply.status == 200:
                return None
            return f"{url} answered HTTP {reply.status}"
    except urllib.error.HTTPError as exc:
        return f"{url} answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"no answer from {url} within {timeout:.0f} s ({reason})"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_orphan(run: Any, stale_after_s: float | None, now: float | None = None) -> bool:
    """Whether a RUNNING ``run`` has no live process behind it.

    On this host, a run is an orphan when the process that started it (tag
    ``kerasforge.pid``) is gone. Elsewhere, only when nothing was logged for
    ``stale_after_s`` seconds (``None``: never judged).
    """
    if run.info.status != "RUNNING":
        return False
    tags = run.data.tags
    pid = tags.get(PID_TAG)
    if tags.get(HOST_TAG) == socket.gethostname() and pid and pid.isdigit():
        return not _pid_alive(int(pid))
    if stale_after_s is None:
        return False
    return (now or time.time()) - last_activity(run) / 1000 > stale_after_s


def last_activity(run: Any) -> int:
    """The latest timestamp (ms) known of ``run``: its start or its last metric."""
    stamps = [m.timestamp for m in getattr(run.data, "_metric_objs", [])]
    return max([run.info.start_time or 0, *stamps])


def collect_orphans(
    uri: str, experiment: str, *, stale_after_s: float | None = None, dry_run: bool = False
) -> list[str]:
    """Mark every orphaned RUNNING run of ``experiment`` as KILLED; return their ids."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    runs = client.search_runs([found.experiment_id], "attributes.status = 'RUNNING'")
    marked = []
    for run in runs:
        if not is_orphan(run, stale_after_s):
            continue
        marked.append(run.info.run_id)
        if not dry_run:
            client.set_tag(run.info.run_id, "kerasforge.ended_by", "runs gc")
            client.set_terminated(run.info.run_id, "KILLED", end_time=last_activity(run))
    return marked
