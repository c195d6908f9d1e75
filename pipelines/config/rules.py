"""The rules config sections share: strict frozen sections, name checks, store and folder checks.

Used by ``pipelines/config/experiment.py`` and its sections in ``pipelines/config_*.py``.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import os
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from ..errors import shown
from . import limits

Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]
Name = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=limits.MAX_NAME_LENGTH)
]
# Tracking stores MLflow registers itself (mlflow.tracking._tracking_service.utils);
# a database scheme may name a driver: postgresql+psycopg2.
DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
TRACKING_SCHEMES = ("file", *DATABASE_SCHEMES, "http", "https", "databricks", "databricks-uc", "uc")


def complete(message: str) -> PydanticCustomError:
    """An error whose message already names the key and the received value."""
    return PydanticCustomError("kerasforge", message.replace("{", "{{").replace("}", "}}"))


MAX_LISTED = 12
"""Names an unknown-name error lists; longer registries point at their listing command."""


def one_of(key: str, kind: str, value: str, names: list[str], hint: str = "") -> str:
    """``value`` if it is a registered name, else a complete error listing the names."""
    if value not in names:
        extra = f" ({hint})" if hint else ""
        close = difflib.get_close_matches(str(value), names, n=3, cutoff=0.6)
        guess = f"did you mean {', '.join(close)}? " if close else ""
        listed = ", ".join(names[:MAX_LISTED])
        if len(names) > MAX_LISTED:
            listed += f", ... ({len(names)} in all)"
        raise complete(f"{key}: unknown {kind} {shown(value)}; {guess}available: {listed}{extra}")
    return value


class Strict(BaseModel):
    """A config section: unknown keys refused, frozen once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


def tracking_uri_problem(uri: str) -> str | None:
    """Why MLflow would refuse ``uri`` as a tracking store, else ``None``; imports no MLflow."""
    if uri in ("databricks", "databricks-uc", "uc"):
        return None
    try:
        parsed = urlsplit(uri)
    except ValueError as exc:
        return f"{shown(uri)} is not a URI ({exc})"
    scheme = parsed.scheme.lower()
    if len(scheme) <= 1:  # a local path; a Windows drive letter parses as a scheme
        return None
    database, _, driver = scheme.partition("+")
    if scheme in ("http", "https") and not parsed.netloc:
        return f"{shown(uri)} names no host; e.g. http://127.0.0.1:5000"
    if scheme in TRACKING_SCHEMES or (database in DATABASE_SCHEMES and "+" not in driver):
        return None
    if scheme in {e.name for e in importlib.metadata.entry_points(group="mlflow.tracking_store")}:
        return None  # an installed MLflow plugin
    return (
        f"MLflow has no tracking store for scheme {shown(scheme)} (received {shown(uri)}); "
        "use a local path or a URI starting file:, sqlite:, postgresql:, mysql:, mssql: "
        "(a driver may follow: postgresql+psycopg2:), http:, https: or databricks"
    )


def output_dir_problem(path: Path) -> str | None:
    """Why runs cannot be written under ``path``, else ``None`` (a missing folder is created)."""
    if "\x00" in str(path):
        return f"{shown(str(path))} contains a NUL character"
    try:
        existing = next((p for p in (path, *path.parents) if p.exists()), None)
        if existing is None or existing.is_dir():
            if existing is None or os.access(existing, os.W_OK | os.X_OK):
                return None
            return (
                f"{shown(str(existing))} is not writable by this user; "
                "point output_dir at a folder you can write to"
            )
    except OSError as exc:
        return f"{shown(str(path))} cannot be used: {exc.strerror or exc}"
    if existing == path:
        return f"{shown(str(path))} is a file, not a folder; point output_dir at a folder"
    return (
        f"{shown(str(path))} cannot be a folder: {shown(str(existing))} is a file; "
        "point output_dir at a folder"
    )
