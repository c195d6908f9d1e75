"""TF Serving's model repository layout: ``<repository>/<model name>/<version>/``.

A version folder's name is read as TF Serving reads it
(``file_system_storage_path_source.cc``, ``ParseVersionNumber``: ``absl::SimpleAtoi``
into an int64): surrounding ASCII whitespace and a sign are allowed and leading
zeros count for nothing, so ``00000123`` is version 123, loaded from the folder
``00000123``. A name that is no int64, or a negative one, is ignored (a temporary
directory being written, a README). Two folders naming one version are logged, as
TF Serving logs them; TF Serving keeps whichever its directory listing gives last
(no order is promised), here the name written plainest (``123`` before ``0123``),
then the first by name.
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


_INT64_MAX = (1 << 63) - 1
_ASCII_SPACE = " \t\n\v\f\r"


def parse_version(name: str) -> int | None:
    """The version a folder name gives (TF Serving's ``ParseVersionNumber``), or ``None``.

    ``"00000123"`` -> 123, ``"+7"`` -> 7, ``" 8 "`` -> 8; ``"-1"``, ``"1.0"``, ``"v1"``,
    ``"²"`` and numbers past int64 -> ``None``.
    """
    text = name.strip(_ASCII_SPACE)
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    value = int(text)
    return value if 0 <= value <= _INT64_MAX else None


def is_version_name(name: str) -> bool:
    """Whether ``name`` is a version folder's name (:func:`parse_version` reads one)."""
    return parse_version(name) is not None


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


def version_dirs(model_dir: str | Path) -> dict[int, Path]:
    """Published versions of one model and the folder each loads from, ascending.

    A folder counts once it holds ``saved_model.pb`` (one still being copied in does not).
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return {}
    found: dict[int, list[str]] = {}
    for entry in model_dir.iterdir():
        version = parse_version(entry.name)
        if version is not None and entry.is_dir() and (entry / "saved_model.pb").is_file():
            found.setdefault(version, []).append(entry.name)
    chosen = {}
    for version, names in sorted(found.items()):
        names.sort(key=lambda n: (n != str(version), n))
        if len(names) > 1:
            log.warning(
                "Duplicate version directories detected. Version %d will be loaded from %s, "
                "%s will be ignored.",
                version,
                names[0],
                ", ".join(names[1:]),
            )
        chosen[version] = model_dir / names[0]
    return chosen


def versions(model_dir: str | Path) -> list[int]:
    """Published versions of one model, ascending (empty when none)."""
    return list(version_dirs(model_dir))


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
