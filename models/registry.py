"""Model registry: every builder is registered under a lowercase name.

Builders are plain functions that take explicit keyword arguments and return a
``keras.Model``. Configs name models by registry key, never by class path.

Example:
    >>> from models import build_model, list_models
    >>> list_models("digits*")
    ['digits_cnn']
    >>> model = build_model("digits_cnn", input_shape=(8, 8, 1), num_classes=10)
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

Builder = TypeVar("Builder", bound=Callable[..., Any])

_REGISTRY: dict[str, Callable[..., Any]] = {}

# Arguments every builder receives from the data, not from the config.
DATA_ARGUMENTS = ("input_shape", "num_classes")


class UnknownModelError(KeyError):
    """Raised when a name is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def register_model(fn: Builder) -> Builder:
    """Register ``fn`` under its function name; a duplicate name is an error."""
    name = fn.__name__.lower()
    if name in _REGISTRY:
        raise ValueError(
            f"model name {name!r} is already registered by "
            f"{_REGISTRY[name].__module__}.{_REGISTRY[name].__qualname__}; "
            "choose another function name"
        )
    _REGISTRY[name] = fn
    return fn


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern``, sorted."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern.lower()))


def get_builder(name: str) -> Callable[..., Any]:
    """The builder registered as ``name``.

    Raises:
        UnknownModelError: ``name`` is not registered; the message lists the names.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; registered models: {', '.join(list_models())} "
            "(`kerasforge models` lists them)"
        ) from None


def builder_options(name: str) -> dict[str, inspect.Parameter]:
    """The keyword arguments a config may set for model ``name``.

    These are the builder's parameters minus the ones filled from the data
    (``input_shape``, ``num_classes``).
    """
    params = inspect.signature(get_builder(name)).parameters
    return {k: p for k, p in params.items() if k not in DATA_ARGUMENTS}


def build_model(name: str, **kwargs: Any) -> Any:
    """Build the model registered as ``name`` with ``kwargs``.

    Raises:
        UnknownModelError: ``name`` is not registered.
        ValueError: an argument is out of range (the message names it).
    """
    return get_builder(name)(**kwargs)
