"""Every import of the project's own modules resolves from the source tree alone, as an editor
or a type checker sees a fresh clone: basedpyright, over a copy of the package folders, with
nothing of kerasforge installed."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.imports import PACKAGE_DIRS

pytestmark = pytest.mark.heavy

BASEDPYRIGHT = Path(sys.executable).with_name("basedpyright")
# import resolution only: the project is not type-checked here
CONFIG = {
    "typeCheckingMode": "off",
    "reportMissingImports": "error",
    "reportAttributeAccessIssue": "error",
    "pythonVersion": "3.11",
}


def fresh_copy(target: Path) -> Path:
    """The package folders and pyproject.toml alone: no install, no .egg-info, no caches."""
    for folder in PACKAGE_DIRS.values():
        shutil.copytree(folder, target / folder.name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", target)
    return target


def own_import(path: Path, line: int) -> bool:
    """Whether ``line`` (0-based) of ``path`` is inside an import of the project's own code."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.lineno - 1 <= line <= node.end_lineno - 1:
            return node.level > 0 or (node.module or "").split(".")[0] == "kerasforge"
        if isinstance(node, ast.Import) and node.lineno - 1 == line:
            return any(alias.name.split(".")[0] == "kerasforge" for alias in node.names)
    return False


def unresolved_own_imports(tree: Path, include: list[str] | None = None) -> list[str]:
    """basedpyright's missing imports and unknown imported names, where the import is own,
    in the files under ``include`` (default: every package folder)."""
    folders = [folder.name for folder in PACKAGE_DIRS.values()]
    config = {**CONFIG, "include": include or folders}
    (tree / "pyrightconfig.json").write_text(json.dumps(config))
    proc = subprocess.run(
        [str(BASEDPYRIGHT), "--outputjson", "--pythonpath", sys.executable],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(proc.stdout)
    assert report["summary"]["filesAnalyzed"] >= (1 if include else 100), report["summary"]
    found = []
    for diagnostic in report["generalDiagnostics"]:
        if diagnostic.get("rule") not in ("reportMissingImports", "reportAttributeAccessIssue"):
            continue
        path, line = Path(diagnostic["file"]), diagnostic["range"]["start"]["line"]
        if own_import(path, line):
            found.append(f"{path.relative_to(tree)}:{line + 1}: {diagnostic['message']}")
    return found


def test_every_own_import_resolves_from_a_fresh_tree(tmp_path):
    assert unresolved_own_imports(fresh_copy(tmp_path)) == []


def test_the_check_sees_a_broken_import(tmp_path):
    tree = fresh_copy(tmp_path)
    wire = tree / "serving" / "wire.py"
    wire.write_text(
        wire.read_text()
        + "from .gone import x\nfrom .card import no_such_name\nimport kerasforge.serving.card\n"
    )
    found = unresolved_own_imports(tree, include=["serving/wire.py"])
    assert [line.split(": ", 1)[1] for line in found] == [
        'Import ".gone" could not be resolved',
        '"no_such_name" is unknown import symbol',
        'Import "kerasforge.serving.card" could not be resolved',
    ]
