"""Errors a user can cause; the CLI prints their message and exits non-zero."""


class KerasforgeError(Exception):
    """Base for errors that carry a complete, user-facing message."""


class ConfigError(KerasforgeError):
    """The experiment config or a ``--set`` override is invalid."""


class DataError(KerasforgeError):
    """Input data is missing or malformed."""
