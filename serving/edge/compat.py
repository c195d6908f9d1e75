"""Which TFLite runtime loads which variant: versions, the installed runtime, one clear error.

Every variant on the model card records ``min_runtime``: the oldest TFLite
runtime that loads it, as the converter wrote it into the flatbuffer's
``min_runtime_version`` metadata (the highest runtime any of its builtin op
versions needs; ``serving.export.tflite_sidecar.runtime_needs`` reads it at export). Those
versions count in TensorFlow releases (``"2.14.0"``), which is also how
``tflite-runtime`` numbers itself. ``ai-edge-litert`` numbers its releases
on its own (1.x, 2.x), so its place in that line is a lower bound from its
release dates (``LITERT_FLOORS``).

Example:
    >>> runs_on("2.17.0", "2.14.0")
    False
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from ..card import CardError, ModelCard
from .inputs import EdgeError

OLDEST_RUNTIME = "2.14.0"
"""``tflite-runtime``'s last release (October 2023), what ``pip`` gives a Raspberry Pi user
on Python <= 3.11: a variant that loads here loads on every runtime kerasforge supports."""
LITERT_FLOORS = (((2, 0), "2.20.0"), ((1, 1), "2.18.0"), ((1, 0), "2.17.0"))
"""``ai-edge-litert`` release -> the TFLite runtime it holds at least: each release came
after that TensorFlow release (1.0.1: August 2024, after TF 2.17; 1.1.0: February 2025,
after 2.18; 2.0.2: September 2025, after 2.20), and LiteRT only adds op versions."""
DISTRIBUTIONS = {"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime"}
_UNSUPPORTED_OP = re.compile(r"Didn't find op for builtin opcode '(\w+)' version '(\d+)'")


def version_tuple(text: str | None) -> tuple[int, ...] | None:
    """``"2.14.0"`` -> ``(2, 14, 0)``; ``None`` for a missing or unreadable version."""
    match = re.match(r"^\s*(\d+(?:\.\d+)*)", text or "")
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


def runs_on(min_runtime: str | None, runtime: str) -> bool | None:
    """Whether a runtime of version ``runtime`` loads a model needing ``min_runtime``.

    ``None`` when either version is unknown (a card written before kerasforge recorded it).
    """
    needed, have = version_tuple(min_runtime), version_tuple(runtime)
    if needed is None or have is None:
        return None
    width = max(len(needed), len(have))
    return needed + (0,) * (width - len(needed)) <= have + (0,) * (width - len(have))


def litert_equivalent(litert_version: str) -> str:
    """The TFLite runtime an ``ai-edge-litert`` release holds at least (``LITERT_FLOORS``)."""
    found = version_tuple(litert_version) or (0,)
    for release, runtime in LITERT_FLOORS:
        if found[:2] >= release:
            return runtime
    return LITERT_FLOORS[-1][1]


def installed_runtime(interpreter: Any) -> tuple[str, str, str]:
    """The runtime an ``Interpreter`` class comes from.

    Returns:
        Its distribution (``tflite-runtime``), its own version, and that version in
        TensorFlow's numbering (what ``min_runtime`` compares with).
    """
    module = interpreter.__module__.partition(".")[0]
    distribution = DISTRIBUTIONS.get(module, module)
    try:
        own = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        own = str(getattr(sys.modules.get(module), "__version__", "0"))
    tflite = litert_equivalent(own) if module == "ai_edge_litert" else own
    return distribution, own, tflite


def unsupported_op(message: str) -> tuple[str, int] | None:
    """``(op, version)`` when an interpreter's load error says it lacks that op version."""
    match = _UNSUPPORTED_OP.search(message)
    return (match.group(1), int(match.group(2))) if match else None


def card_folder(model_path: Path) -> Path:
    """The version folder of a model file: beside ``model.tflite``, one up from ``tflite/``."""
    return model_path.parent.parent if model_path.parent.name == "tflite" else model_path.parent


def loadable_variants(model_path: Path, card: ModelCard, runtime: str) -> list[str]:
    """The other model files of the version (``tflite/<variant>.tflite``, ``model.tflite``)
    whose recorded ``min_runtime`` this runtime meets, relative to the version folder."""
    folder = card_folder(model_path)
    variants = _variants(card)
    files = [(v.file, v.min_runtime) for v in variants.values() if v.file]
    edge = variants.get(str(card.tflite.get("edge_model")))
    if edge is not None:
        files.append(("model.tflite", edge.min_runtime))
    found = []
    for name, min_runtime in files:
        path = folder / name
        if path.resolve() == model_path.resolve() or not path.is_file():
            continue
        if runs_on(min_runtime, runtime):
            found.append(f"{name} (TFLite >= {min_runtime})")
    return found


def unsupported_op_error(
    model_path: Path, card: ModelCard | None, op: tuple[str, int], installed: tuple[str, str, str]
) -> EdgeError:
    """One line: the op version this runtime lacks, the variants it loads, how to fix it.

    Args:
        model_path: the ``.tflite`` file the interpreter refused.
        card: its model card (``None`` for a bare file).
        op: the operator and version the runtime lacks (``unsupported_op``).
        installed: the runtime, as ``installed_runtime`` names it.
    """
    distribution, own, runtime = installed
    variants = _variants(card)
    needed = variants.get(_variant_of(model_path, card))
    known = needed is not None and needed.min_runtime
    needs = f" (TFLite runtime >= {needed.min_runtime}, says its model card)" if known else ""
    fix = (
        "upgrade it (pip install -U ai-edge-litert)"
        if distribution == "ai-edge-litert"
        else "install ai-edge-litert instead (pip install 'kerasforge[edge]')"
    )
    head = (
        f"{str(model_path)!r} needs {op[0]} version {op[1]}{needs}, which the installed "
        f"{distribution} {own} cannot run: {fix}"
    )
    if card is None or not variants:
        return EdgeError(f"{head}; no model card beside it lists the other variants")
    folder = str(card_folder(model_path))
    loadable = loadable_variants(model_path, card, runtime)
    if loadable:
        return EdgeError(
            f"{head}, or run a variant it loads from {folder!r}: {', '.join(loadable)}"
        )
    return EdgeError(
        f"{head}; no other variant in {folder!r} is recorded as loadable by TFLite {runtime} "
        "(republish with this kerasforge if its card lacks min_runtime)"
    )


def _variants(card: ModelCard | None) -> dict[str, Any]:
    """The card's variants; empty for no card or a malformed section (the error still helps)."""
    try:
        return card.tflite_variants() if card is not None else {}
    except CardError:
        return {}


def _variant_of(model_path: Path, card: ModelCard | None) -> str:
    """The variant a file is: its stem under ``tflite/``, the card's edge model for ``model``."""
    if model_path.parent.name != "tflite" and card is not None:
        return str(card.tflite.get("edge_model"))
    return model_path.stem
