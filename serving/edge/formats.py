"""Task-appropriate JSON for the edge runtime's answers, chosen by the model card's task.

The classification task's output formatting lives here and nowhere else on
the edge: ``class_ids`` with ``probabilities`` and the card's ``class_names``.
Regression answers ``values`` in the target's units, forecasting ``forecast``, anomaly
detection ``anomaly_score`` and ``is_anomaly``. Any other task gets its signature's
named outputs as lists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from kerasforge.serving.card import ModelCard


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


def named_outputs(outputs: dict[str, np.ndarray], card: ModelCard | None) -> dict[str, Any]:
    return {name: np.asarray(value).tolist() for name, value in sorted(outputs.items())}


def seq2seq(outputs: dict[str, np.ndarray], card: ModelCard | None) -> dict[str, Any]:
    """``{"output": [decoded string per example], "token_ids": [...]}`` (the card's tokens
    turn ids into characters; the ``.tflite`` has no string outputs)."""
    from kerasforge.serving.edge.text import decode_ids

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
    "seq2seq": seq2seq,
}


def format_outputs(outputs: dict[str, np.ndarray], card: ModelCard | None) -> dict[str, Any]:
    """JSON-ready answer for a batch: the task's format, else the named outputs."""
    fmt = FORMATS.get(card.task, named_outputs) if card else named_outputs
    return fmt(outputs, card)
