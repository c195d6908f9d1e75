"""Keras, imported on first use.

Family modules reach Keras through these proxies so that importing the model
registry (to list names, check a config's ``model.name`` and options) loads no
TensorFlow; the first layer a builder creates imports it.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """A stand-in for module ``name`` that imports it on first attribute access."""

    def __init__(self, name: str) -> None:
        self._name = name

    def _module(self) -> ModuleType:
        return importlib.import_module(self._name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._module(), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


keras = LazyModule("keras")
layers = LazyModule("keras.layers")
