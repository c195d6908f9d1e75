"""No import loops among kerasforge's modules, counting the imports inside functions (only
those under ``TYPE_CHECKING`` do not count)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT
from tests.imports import resolve

PACKAGES = {"kerasforge": "kerasforge", "models": "models", "pipelines": "pipelines"}
PACKAGES["serving"] = "serving"
PACKAGES["cli"] = "cli"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for folder in PACKAGES.values():
        for path in sorted((ROOT / folder).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``path`` imports, at module level or inside a function (a lazy
    import that only dodges a loop is still a loop), by their name without ``kerasforge.``;
    ``if TYPE_CHECKING:`` blocks do not count."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(_own(alias.name, known) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = resolve(node, path)
            base = _own(module, known)
            for alias in node.names:
                sub = _own(f"{module}.{alias.name}", known)
                found.add(sub if sub in known else base)
    return {name for name in found if name in known}


def _own(dotted: str, known: dict[str, Path]) -> str:
    name = dotted.removeprefix("kerasforge.") if dotted != "kerasforge" else dotted
    return name if name.split(".")[0] in PACKAGES or name in known else ""


def loops(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_no_import_loop():
    known = modules()
    graph = {name: imports(path, known) - {name} for name, path in known.items()}
    assert [sorted(loop) for loop in loops(graph)] == []


def test_the_loop_finder_finds_a_loop():
    assert loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
