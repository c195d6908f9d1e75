"""Config files and ``--set`` overrides: YAML text to a plain, bounded tree.

What comes out is small plain data whatever came in: a file must be UTF-8
text of at most :data:`~kerasforge.pipelines.config.limits.MAX_CONFIG_BYTES`, nesting
is capped at :data:`~kerasforge.pipelines.config.limits.MAX_YAML_DEPTH` levels and
YAML aliases may not expand the tree past
:data:`~kerasforge.pipelines.config.limits.MAX_YAML_VALUES` values (a "billion laughs"
file is refused in milliseconds, not quoted back in a 36 MB message). Every
problem is one :class:`ConfigError` line.

Numbers in exponent form without a dot (``1e9``, ``3e-4``) are floats, as in
YAML 1.2 and JSON; PyYAML's YAML 1.1 rules would read them as strings.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, clipped, shown
from .limits import MAX_CONFIG_BYTES, MAX_YAML_DEPTH, MAX_YAML_VALUES


class ConfigLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with YAML 1.2 exponent floats and a nesting cap."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        # Composing recurses once per level: cap it before Python's recursion limit.
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nesting deeper than {MAX_YAML_DEPTH} levels", self.get_mark()
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml(text: str, name: str) -> Any:
    """Parse YAML ``text`` (from ``name``, used in marks) into a bounded plain tree.

    Raises:
        ConfigError: invalid YAML, too deep, or aliases that expand too far or
            form a cycle; the message starts with ``name`` and is one line.
    """
    try:
        tree = _load(text, name)
    except yaml.reader.ReaderError as exc:
        raise ConfigError(
            f"{name} is not YAML text (character #x{exc.character:04x} at position "
            f"{exc.position} is not allowed); a config must be UTF-8 YAML text"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name} is not valid YAML: {_yaml_problem(exc)}") from None
    problem = _expansion_problem(tree)
    if problem:
        raise ConfigError(f"{name}: {problem}")
    return tree


def _load(text: str, name: str) -> Any:
    loader = ConfigLoader(text)  # checks the characters: may raise ReaderError
    loader.name = name
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line report as one short line."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        text = exc.problem
        if exc.problem_mark is not None:
            text += f" at line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1}"
        if exc.context:
            mark = exc.context_mark
            where = f" at line {mark.line + 1}" if mark is not None else ""
            text += f" ({exc.context}{where})"
    else:
        text = " ".join(str(exc).split())
    return clipped(text, 300)


def _expansion_problem(tree: Any) -> str | None:
    """Why ``tree`` is refused (aliases expanding too far, or a cycle), else ``None``."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        key = id(node)
        if key in sizes:  # an alias: counted again, computed once
            return sizes[key]
        if key in open_:
            raise _Cycle
        open_.add(key)
        total = 1
        for child in node.values() if isinstance(node, dict) else node:
            total += size(child)
            if total > MAX_YAML_VALUES:
                break
        open_.discard(key)
        sizes[key] = total
        return total

    try:
        total = size(tree)
    except _Cycle:
        return "an alias refers to a value that contains it; a config must be a tree, not a cycle"
    if total > MAX_YAML_VALUES:
        return (
            f"anchors and aliases expand to more than {MAX_YAML_VALUES:,} values; "
            "a config needs far fewer: write the values out instead of nesting aliases"
        )
    return None


class _Cycle(Exception):
    pass


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML config file: UTF-8 text holding a mapping of sections.

    Raises:
        ConfigError: the file is missing, not a file, too large, not UTF-8
            text, not valid YAML, unbounded, or not a mapping.
    """
    path = Path(path)
    name = f"config file {shown(str(path))}"
    try:
        if not path.exists():
            raise ConfigError(f"{name} not found; pass an existing YAML file")
        if not path.is_file():
            raise ConfigError(f"{name} is not a file; pass a YAML file")
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{name} has {size:,} bytes; a config is a small YAML file (at most "
                f"{MAX_CONFIG_BYTES:,} bytes): is this the right file?"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{name} cannot be read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{name} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "a config must be UTF-8 YAML text: pass the YAML file, or re-save it as UTF-8"
        ) from None
    tree = parse_yaml(text, name)
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise ConfigError(
            f"{name} must hold a mapping of sections "
            f"(data, model, train, ...); got a {type(tree).__name__}"
        )
    return tree


def apply_overrides(tree: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b=c`` pairs; values are parsed as YAML (``3``, ``true``, ``[1, 2]``).

    Raises:
        ConfigError: a pair is not ``KEY=VALUE``, descends into a value, or its
            value is not valid, bounded YAML.
    """
    tree = copy.deepcopy(tree)  # aliases stay shared, so this stays cheap
    for item in overrides:
        key, sep, raw = item.partition("=")
        where = f"--set {shown(item)}"
        if not sep or not key.strip():
            raise ConfigError(f"{where}: expected KEY=VALUE with a dotted key, e.g. train.epochs=3")
        parts = key.strip().split(".")
        if len(parts) > MAX_YAML_DEPTH:
            raise ConfigError(f"{where}: a key is at most {MAX_YAML_DEPTH} levels deep")
        node = tree
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                held = ".".join(parts[: i + 1])
                raise ConfigError(f"{where}: {held} holds a value ({shown(child)}), not a section")
            node = child
        node[parts[-1]] = parse_yaml(raw, where) if raw.strip() else None
    return tree
