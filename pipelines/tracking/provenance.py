"""Where a run came from: code revision, data identity, library versions, host.

These become MLflow tags, so two runs can be compared from MLflow alone: same
commit and same dataset fingerprint means the same code saw the same data.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import socket
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..data.types import Splits

GIT_TIMEOUT_S = 5.0


def git_state(folder: Path | None = None) -> dict[str, str]:
    """The checked-out commit and whether the work tree has uncommitted changes.

    Args:
        folder: any folder inside the repository (default: this package's).

    Returns:
        ``{"git_commit": sha, "git_dirty": "true"|"false"}``; ``"unknown"``
        values outside a git work tree or without ``git``.
    """
    cwd = folder or Path(__file__).resolve().parent
    try:
        commit = _git(cwd, "rev-parse", "HEAD")
        dirty = _git(cwd, "status", "--porcelain", "--untracked-files=no") != ""
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    return {"git_commit": commit, "git_dirty": str(dirty).lower()}


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=True
    )
    return done.stdout.strip()


def dataset_fingerprint(source: str, splits: Splits) -> str:
    """A SHA-256 over the source's name and the exact contents of each split.

    Hashing the split arrays (inputs and targets, in order) covers both the
    bundled data's identity and the split indices: another scikit-learn
    release with other data, another seed or other fractions all change it.
    """
    digest = hashlib.sha256(source.encode())
    parts = (
        splits.x_train,
        splits.y_train,
        splits.x_val,
        splits.y_val,
        splits.x_test,
        splits.y_test,
    )
    for array in parts:
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def versions() -> dict[str, str]:
    """Versions of kerasforge, TensorFlow, Keras, MLflow and Python."""
    found = {"python_version": platform.python_version()}
    for dist in ("kerasforge", "tensorflow", "keras", "mlflow", "scikit-learn"):
        try:
            found[f"{dist.replace('-', '_')}_version"] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[f"{dist.replace('-', '_')}_version"] = "not installed"
    return found


def run_tags(source: str, splits: Splits | None) -> dict[str, str]:
    """Every provenance tag of a run, ``kerasforge.``-free names as MLflow shows them."""
    tags = {**git_state(), **versions(), "host": socket.gethostname(), "data_source": source}
    if splits is not None:
        tags["dataset_fingerprint"] = dataset_fingerprint(source, splits)
        tags["dataset_sizes"] = ",".join(f"{k}={v}" for k, v in splits.sizes.items())
    return tags
