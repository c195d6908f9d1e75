"""Errors a user can cause; the CLI prints their message and exits non-zero.

Messages quote what the user sent; :func:`shown` and :func:`clipped` keep such
quotes short, so a huge or deeply shared value cannot flood the terminal.
"""

from __future__ import annotations

import reprlib
from typing import Any

MAX_SHOWN = 80
"""The most characters of a received value quoted in an error message."""

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxdict = 6
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = MAX_SHOWN


class KerasforgeError(Exception):
    """Base for errors that carry a complete, user-facing message."""


class ConfigError(KerasforgeError):
    """The experiment config or a ``--set`` override is invalid."""


class DataError(KerasforgeError):
    """Input data is missing or malformed."""


def clipped(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` cut to ``limit`` characters, ending in ``…`` when it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown(value: Any, limit: int = MAX_SHOWN) -> str:
    """A ``repr`` of a received value for an error message, at most ``limit`` characters.

    Nested and shared containers (YAML aliases) are abbreviated level by level
    (``reprlib``), so the cost stays small whatever the value's expanded size.

    Example:
        >>> shown("x" * 500, limit=12)
        "'xxxxxxxxxx…"
    """
    return clipped(_REPR.repr(value), limit)
