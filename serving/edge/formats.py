"""Task-appropriate JSON for the edge runtime's answers, chosen by the model card's task.

The classification task's output formatting lives here and nowhere else on
the edge: ``class_ids`` with ``probabilities`` and the card's ``class_names``.
Regression answers ``values`` in the target's units, forecasting ``forecast``, anomaly
detection ``anomaly_score`` and ``is_anomaly``, generation ``image`` (or a PNG file,
``write_png``). Any other task gets its signature's
named outputs as lists.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..card import ModelCard
from .inputs import EdgeError


def classification(outputs: dict[str, np.ndarray], card: ModelCard | None) -> dict[str, Any]:
    result = {
        "class_ids": np.asarray(outputs["class_ids"]).astype(int).tolist(),
        "probabilities": np.asarray(outputs["probabilities"]).tolist(),
    }
    if card and card.class_names:
        result["class_names"] = [card.class_names[i] for i in result["class_ids"]]
    return result


def regression(outputs: dict[str, np.ndarray], card: ModelCard | None) -> dict[str, Any]:
    result: dict[str, Any] = {"values": np.asarray(outputs["values"]).tolist()}
    if card and card.target_names:
        result["target_names"] = list(card.target_names)
    return result


def forecasting(outputs: dict[str, np.ndarray], card: ModelCard | None) -> dict[str, Any]:
    """``{"forecast": [[step 1, ..., step h] per window]}`` in the target's units."""
    result: dict[str, Any] = {"forecast": np.asarray(outputs["forecast"]).tolist()}
    if card and card.target_names:
        result["target_names"] = list(card.target_names)
    return result


def anomaly_detection(outputs: dict[str, np.ndarray], card: ModelCard | None) -> dict[str, Any]:
    return {
        "anomaly_score": np.asarray(outputs["anomaly_score"]).reshape(-1).tolist(),
        "is_anomaly": np.asarray(outputs["is_anomaly"]).astype(bool).reshape(-1).tolist(),
    }


def generation(outputs: dict[str, np.ndarray], card: ModelCard | None) -> dict[str, Any]:
    """``{"image": [N, H, W, C] 0-255 pixels}``: generated, or a VAE's reconstruction."""
    return {"image": np.asarray(outputs["image"]).tolist()}


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


def seq2seq(outputs: dict[str, np.ndarray], card: ModelCard | None) -> dict[str, Any]:
    """``{"output": [decoded string per example], "token_ids": [...]}`` (the card's tokens
    turn ids into characters; the ``.tflite`` has no string outputs)."""
    from .text import decode_ids

    ids = np.asarray(outputs["token_ids"])
    result: dict[str, Any] = {"token_ids": ids.tolist()}
    facts = card.data.get("seq2seq") if card else None
    if facts:
        result["output"] = decode_ids(ids, facts["tokens"], int(facts["end_id"]))
    return result


FORMATS: dict[str, Callable[[dict[str, np.ndarray], ModelCard | None], dict[str, Any]]] = {
    "classification": classification,
    "regression": regression,
    "forecasting": forecasting,
    "anomaly_detection": anomaly_detection,
    "generation": generation,
    "seq2seq": seq2seq,
}


def format_outputs(outputs: dict[str, np.ndarray], card: ModelCard | None) -> dict[str, Any]:
    """JSON-ready answer for a batch: the task's format, else the named outputs."""
    fmt = FORMATS.get(card.task, named_outputs) if card else named_outputs
    return fmt(outputs, card)
