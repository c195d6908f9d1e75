"""TF Serving's model repository layout: ``<repository>/<model name>/<version>/``.

Versions are positive integers; any other entry (a temporary directory being
written, a README) is ignored, as TF Serving ignores it.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from pathlib import Path

from .errors import ServingError

log = logging.getLogger(__name__)

TFLITE_FILE = "model.tflite"
STAGING_PREFIX = ".staging-"
STALE_STAGING_SECONDS = 15 * 60
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def is_version_name(name: str) -> bool:
    """A version directory name: 1 to 19 ASCII digits (``²`` is a digit to Python, not here)."""
    return name.isascii() and name.isdigit() and len(name) <= 19


def check_model_name(name: str) -> str:
    """Return ``name`` if it is a safe model name (one path component), else raise.

    Raises:
        ServingError: empty, a path (``../x``, ``a/b``), or characters outside
            ``[A-Za-z0-9._-]`` (HTTP 400).
    """
    if not isinstance(name, str) or not _MODEL_NAME.match(name) or set(name) <= {"."}:
        raise ServingError(
            f"model name {name!r} is not allowed: expected 1 to 128 characters from "
            "[A-Za-z0-9._-] starting with a letter or digit (no paths), e.g. 'digits_cnn'"
        )
    return name


def clean_stale_staging(model_dir: str | Path, older_than_s: float = STALE_STAGING_SECONDS) -> int:
    """Remove ``.staging-*`` folders older than ``older_than_s`` left by a killed publish.

    Returns:
        How many were removed.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    removed = 0
    for entry in model_dir.glob(f"{STAGING_PREFIX}*"):
        try:
            if entry.is_dir() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry)
                removed += 1
                log.info("removed stale staging folder %s", entry)
        except OSError as exc:  # another process cleaning it too, or no permission
            log.warning("could not remove stale staging folder %s: %s", entry, exc)
    return removed


def versions(model_dir: str | Path) -> list[int]:
    """Published versions of one model, ascending (empty when none)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    found = []
    for entry in model_dir.iterdir():
        if is_version_name(entry.name) and entry.is_dir() and (entry / "saved_model.pb").is_file():
            found.append(int(entry.name))
    return sorted(found)


def latest_version(model_dir: str | Path) -> int | None:
    """The highest published version, or ``None``."""
    found = versions(model_dir)
    return found[-1] if found else None


def model_names(repository: str | Path) -> list[str]:
    """Models in a repository that have at least one published version."""
    repository = Path(repository)
    if not repository.is_dir():
        return []
    return sorted(d.name for d in repository.iterdir() if d.is_dir() and versions(d))
