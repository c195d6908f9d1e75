"""The package boundaries of DESIGN.md, checked on the source and on a live import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def imported_modules(path: Path, top_level_only: bool = False) -> set[str]:
    """Top-level package names a file imports (``top_level_only``: module-level statements)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def py_files(package: str) -> list[Path]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no sources under {package}/"
    return files


@pytest.mark.parametrize("path", py_files("models"), ids=lambda p: p.name)
def test_models_import_neither_pipelines_nor_serving(path):
    assert not imported_modules(path) & {"pipelines", "serving"}


@pytest.mark.parametrize("path", py_files("serving"), ids=lambda p: str(p.relative_to(ROOT)))
def test_serving_never_imports_training_code_or_mlflow(path):
    assert not imported_modules(path) & {"pipelines", "mlflow"}
    if "edge" in path.parts:
        assert not imported_modules(path) & {"tensorflow", "keras"}


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_importing_serving_edge_loads_no_tensorflow():
    proc = run_python(
        "import sys, serving.edge, serving.edge.runtime, serving.edge.__main__\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]\n"
        "assert not bad, bad\n"
    )
    assert proc.returncode == 0, proc.stderr


def test_light_modules_stay_light():
    """serving/__init__, the client and the CLI module load neither TensorFlow nor MLflow."""
    proc = run_python(
        "import sys, serving, serving.client, pipelines, pipelines.cli\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'mlflow')]\n"
        "assert not bad, bad\n"
    )
    assert proc.returncode == 0, proc.stderr


def test_server_loads_no_training_code():
    proc = run_python(
        "import sys, serving.server, serving.store, serving.export\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('pipelines', 'mlflow')]\n"
        "assert not bad, bad\n"
    )
    assert proc.returncode == 0, proc.stderr
