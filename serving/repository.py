"""TF Serving's model repository layout: ``<repository>/<model name>/<version>/``.

Versions are positive integers; any other entry (a temporary directory being
written, a README) is ignored, as TF Serving ignores it.
"""

from __future__ import annotations

from pathlib import Path

TFLITE_FILE = "model.tflite"


def versions(model_dir: str | Path) -> list[int]:
    """Published versions of one model, ascending (empty when none)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    found = []
    for entry in model_dir.iterdir():
        if entry.is_dir() and entry.name.isdigit() and (entry / "saved_model.pb").is_file():
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
