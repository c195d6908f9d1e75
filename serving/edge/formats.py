"""JSON for the edge runtime's answers: the model card's task answers as its serving contract
says (``pipelines/tasks/<task>/contract.py``, ``edge_answer``); a bare ``.tflite`` without a
card answers its named outputs as lists. Generated images can also be written as one PNG
(:func:`write_png`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...pipelines.tasks import Contract, UnknownTask, contract
from ..card import ModelCard
from .inputs import EdgeError


def write_png(images: np.ndarray, path: Path) -> Path:
    """A batch of 0-255 images ``[N, H, W, C]`` side by side in one PNG (Pillow, no TensorFlow).

    Raises:
        EdgeError: not a batch of grey or RGB images, or ``path`` cannot be written.
    """
    from PIL import Image

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise EdgeError(
            f"--output writes images of shape [N, height, width, 1 or 3]; the model answered "
            f"shape {list(images.shape)}: leave --output out to print the answer as JSON"
        )
    row = np.concatenate(list(np.clip(np.rint(images), 0, 255).astype("uint8")), axis=1)
    picture = Image.fromarray(row[..., 0] if row.shape[-1] == 1 else row)
    try:
        picture.save(path, format="PNG")
    except OSError as exc:
        raise EdgeError(f"--output: cannot write {str(path)!r} ({exc})") from None
    return path


def named_outputs(outputs: dict[str, np.ndarray], card: ModelCard | None) -> dict[str, Any]:
    return {name: np.asarray(value).tolist() for name, value in sorted(outputs.items())}


def task_contract(task: str) -> Contract:
    """The serving contract of ``task`` (``pipelines/tasks/<task>/contract.py``).

    Raises:
        EdgeError: no such task (the message lists the known ones).
    """
    try:
        return contract(task)
    except UnknownTask as exc:
        raise EdgeError(f"the model card names {exc}") from None


def format_outputs(outputs: dict[str, np.ndarray], card: ModelCard | None) -> dict[str, Any]:
    """JSON-ready answer for a batch: the card's task's answer, else (a bare ``.tflite``
    without a card or its JSON) the named outputs.

    Raises:
        EdgeError: the card names a task kerasforge does not know.
    """
    if card is None:
        return named_outputs(outputs, card)
    return task_contract(card.task).edge_answer(outputs, card)
