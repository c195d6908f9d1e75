"""Reading the JSON documents kerasforge writes beside a model: the model card and the
training statistics.

Each carries its format's number. A reader refuses a document from a newer kerasforge
and names the first field that does not validate, in one line (pydantic's own report
runs to many).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

Document = TypeVar("Document", bound=BaseModel)


def read_document(
    path: Path,
    schema: type[Document],
    *,
    what: str,
    version_key: str,
    current: int,
    error: type[Exception],
    fix: str,
) -> Document:
    """The document at ``path``, validated as ``schema``.

    Args:
        what: the document's name in messages (``"model card"``).
        version_key: the top-level key holding its format number.
        current: the newest format this kerasforge reads.
        error: the exception to raise.
        fix: what to do about a malformed document (ends its message).

    Raises:
        error: ``path`` is not JSON, is newer than ``current``, or does not validate.
    """
    try:
        raw = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise error(f"{what} {str(path)!r} is not valid JSON: {exc}") from None
    found = raw.get(version_key) if isinstance(raw, dict) else None
    if isinstance(found, int) and found > current:
        raise error(
            f"{what} {str(path)!r} has {version_key} {found}, newer than this kerasforge reads "
            f"({current}); upgrade kerasforge"
        )
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        raise error(f"{what} {str(path)!r} is malformed ({first_error(exc)}); {fix}") from None


def first_error(exc: Exception) -> str:
    """``field.path: message`` of a pydantic error's first complaint; else the first line."""
    if not isinstance(exc, ValidationError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    first = exc.errors(include_url=False)[0]
    return f"{'.'.join(str(p) for p in first['loc']) or '<top level>'}: {first['msg']}"
