"""The project's own imports as ``ast`` reads them: which module a source file is, and which
module an import names once a relative import is resolved against its file."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from tests.conftest import ROOT

# package -> folder, as pyproject's package-dir maps them (kerasforge.serving -> serving/)
PACKAGE_DIRS = {
    package: ROOT / folder
    for package, folder in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
        "setuptools"
    ]["package-dir"].items()
}


def module_name(path: Path) -> str | None:
    """``kerasforge.serving.card`` for ``serving/card.py``; None outside the distribution."""
    for package, folder in PACKAGE_DIRS.items():
        if path.resolve().is_relative_to(folder):
            parts = [*package.split("."), *path.resolve().relative_to(folder).with_suffix("").parts]
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    return None


def resolve(node: ast.ImportFrom, path: Path) -> str:
    """The absolute module named by ``node``'s ``from`` part (``from ..card import x`` in
    ``serving/export/publish.py`` -> ``kerasforge.serving.card``)."""
    if not node.level:
        return node.module or ""
    name = module_name(path)
    if name is None:
        raise ValueError(f"{path}: a relative import outside the distribution")
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])
