"""The package boundaries of DESIGN.md, checked on the source and on a live import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.imports import resolve

OWN = ("cli", "models", "pipelines", "serving")


def imported_modules(path: Path) -> set[str]:
    """Imported module names, relative ones resolved, with ``kerasforge.`` dropped
    (``serving.edge``, ``numpy``)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = resolve(node, path)
            names = [module]
            if module == "kerasforge":
                names = [f"kerasforge.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {n.removeprefix("kerasforge.") for n in names}
    return found


def top_levels(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imported_modules(path)}


def own_imports(path: Path) -> list[str]:
    """How ``path`` imports the project's modules: ``kerasforge...`` (absolute), ``.card``
    (relative), or bare (``models``, ``serving.edge``: no ``kerasforge.`` in front)."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in {*OWN, "kerasforge"}]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append("." * node.level + (node.module or ""))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in {
            *OWN,
            "kerasforge",
        }:
            found.append(node.module)
    return found


def py_files(*packages: str) -> list[Path]:
    files = sorted(f for p in packages for f in (ROOT / p).rglob("*.py"))
    assert files, f"no sources under {packages}"
    return files


DISTRIBUTION = py_files("kerasforge", *OWN)


@pytest.mark.parametrize("path", DISTRIBUTION, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_distribution_imports_its_own_modules_relatively(path):
    """``from ..card import ModelCard``: editors and type checkers follow it from the source
    tree, where ``kerasforge.serving`` means nothing until the project is installed."""
    bad = [name for name in own_imports(path) if not name.startswith(".")]
    assert bad == [], "import the project's own modules relatively (`from ..models import x`)"


@pytest.mark.parametrize("path", py_files("tests", "bench"), ids=lambda p: str(p.relative_to(ROOT)))
def test_tests_and_benchmarks_import_kerasforge_as_users_do(path):
    bad = [name for name in own_imports(path) if not name.startswith("kerasforge")]
    assert bad == [], "import through `kerasforge.<package>` only"


@pytest.mark.parametrize("path", py_files("models"), ids=lambda p: p.name)
def test_models_import_neither_pipelines_nor_serving(path):
    assert not top_levels(path) & {"pipelines", "serving"}


# what serving may import of pipelines/: the registry of tasks, which hands out their contracts
TASK_REGISTRY = "pipelines.tasks"
CONTRACTS = [path for path in py_files("pipelines/tasks") if path.name == "contract.py"]


@pytest.mark.parametrize("path", py_files("serving"), ids=lambda p: str(p.relative_to(ROOT)))
def test_serving_never_imports_training_code_or_mlflow(path):
    pipelines = {m for m in imported_modules(path) if m.split(".")[0] == "pipelines"}
    assert pipelines <= {TASK_REGISTRY}, "serving reads a task's contract through the registry"
    assert not top_levels(path) & {"mlflow", "sklearn", "yaml"}
    if "edge" in path.parts:
        assert not top_levels(path) & {"tensorflow", "keras", "models"}


@pytest.mark.parametrize("path", CONTRACTS, ids=lambda p: p.parent.name)
def test_a_contract_pulls_in_no_training_code(path):
    """A contract imports the registry (its ``Contract``), serving's shared pieces and NumPy;
    TensorFlow and the model builders only inside the function that builds the graphs."""
    module_level = {
        node.module
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.ImportFrom) and node.module is not None
    } | {
        alias.name
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not {m.split(".")[0] for m in module_level} & {"tensorflow", "keras", "mlflow"}
    pipelines = {m for m in imported_modules(path) if m.split(".")[0] == "pipelines"}
    assert pipelines <= {TASK_REGISTRY}, "a contract imports no training code"
    assert not top_levels(path) & {"mlflow", "sklearn", "yaml"}


def test_contracts_load_without_tensorflow_or_training_code():
    names = ", ".join(
        f"kerasforge.pipelines.tasks.{path.parent.name}.contract" for path in CONTRACTS
    )
    assert len(CONTRACTS) == 6
    loaded_check(names, ("tensorflow", "keras", "mlflow", "sklearn"))
    allowed_pipelines(names)


def test_the_package_boundary_helper_sees_prefixed_and_relative_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from kerasforge.pipelines import train\nfrom kerasforge import serving\n")
    assert top_levels(probe) == {"pipelines", "serving"}
    probe.write_text("import models\nfrom serving.edge import runtime\nfrom . import x\n")
    assert own_imports(probe) == ["models", "serving.edge", "."]
    # pipelines/training/train.py: `from ... import models`, `from ...serving.card import ...`
    assert {"models", "serving"} <= top_levels(ROOT / "pipelines" / "training" / "train.py")
    assert "serving.card" in imported_modules(ROOT / "serving" / "export" / "publish.py")


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def loaded_check(imports: str, forbidden: tuple[str, ...]) -> None:
    proc = run_python(
        f"import sys, {imports}\n"
        "bad = [m for m in sys.modules\n"
        f"       if m.removeprefix('kerasforge.').split('.')[0] in {forbidden!r}]\n"
        "assert not bad, bad\n"
    )
    assert proc.returncode == 0, proc.stderr


def test_importing_serving_edge_loads_no_tensorflow():
    loaded_check(
        "kerasforge.serving.edge, kerasforge.serving.edge.runtime, "
        "kerasforge.serving.edge.__main__",
        ("tensorflow", "keras", "mlflow"),
    )


def test_light_modules_stay_light():
    """The package root, serving/__init__, the client and the CLI load neither TF nor MLflow."""
    loaded_check(
        "kerasforge, kerasforge.serving, kerasforge.serving.clients.rest_client, "
        "kerasforge.pipelines, kerasforge.pipelines.cli",
        ("tensorflow", "keras", "mlflow"),
    )


def allowed_pipelines(imports: str) -> None:
    """After ``import <imports>``, the only ``pipelines`` modules loaded are the registry of
    tasks and the tasks' contracts (with their packages, whose ``__init__`` is a docstring)."""
    proc = run_python(
        f"import sys, re, {imports}\n"
        "bad = [m for m in sys.modules if m.startswith('kerasforge.pipelines') and not\n"
        "       re.fullmatch(r'kerasforge\\.pipelines(\\.tasks(\\.\\w+(\\.contract)?)?)?', m)]\n"
        "assert not bad, bad\n"
    )
    assert proc.returncode == 0, proc.stderr


def test_server_loads_no_training_code():
    imports = (
        "kerasforge.serving.server.embedded, kerasforge.serving.server.store, "
        "kerasforge.serving.export.publish, kerasforge.serving.edge.runtime"
    )
    loaded_check(imports, ("mlflow", "sklearn"))
    allowed_pipelines(imports)
