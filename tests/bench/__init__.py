"""Tests of ``bench/``: its modules are loaded from their files, as ``bench/run.py`` loads them."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.conftest import ROOT

BENCH = ROOT / "bench"


def bench_module(name: str) -> ModuleType:
    """``bench/<name>.py`` as a module (``name`` may name a folder too:
    ``peer_servers/savedmodel``), its siblings importable (``bench/run.py`` puts ``bench/``
    on the path too); loaded once, and registered so that dataclasses can look their
    module up."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    key = name.rsplit("/", 1)[-1]
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module
