"""Checks on a data set before training: errors where training cannot be right,
warnings where it is only risky. Each finding reaches the user once: errors in the
raised :class:`DataError`, warnings returned for the caller to print. They are also
logged (``kerasforge.data``) for an application that configures logging; without
that, the logger prints nothing (a library's ``NullHandler``), so the command line
shows no second copy."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import DataError
from .types import Dataset

log = logging.getLogger("kerasforge.data")
log.addHandler(logging.NullHandler())  # no last-resort copy on stderr beside the caller's line

IMBALANCE_WARNING = 10.0
"""Warn when the largest class has this many times the examples of the smallest."""


@dataclass(frozen=True)
class Finding:
    """One problem found in the data."""

    level: Literal["error", "warning"]
    message: str


def check_dataset(data: Dataset) -> list[Finding]:
    """Shapes, dtypes, NaN/Inf, label range and class balance of ``data``."""
    x, y, name = data.x, data.y, data.info.name
    if len(x) != len(y):
        return [Finding("error", f"{name}: {len(x)} inputs but {len(y)} targets")]
    if len(x) == 0:
        return [Finding("error", f"{name}: no examples")]
    findings: list[Finding] = []
    if data.info.streamed:  # file paths: the source checked them; decoded in tf.data
        return _class_findings(name, y, len(data.info.class_names))
    if data.info.inputs == "text":  # strings: the source read them; tokenised in the model
        findings = _text_findings(name, "inputs", x)
        if data.info.targets == "text":
            return findings + _text_findings(name, "targets", y)
        return findings + _class_findings(name, y, len(data.info.class_names))
    if not np.issubdtype(x.dtype, np.number):
        findings.append(Finding("error", f"{name}: inputs must be numbers; dtype is {x.dtype}"))
        return findings
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if bad.any():
        first = np.flatnonzero(bad)[:5].tolist()
        findings.append(
            Finding("error", f"{name}: {int(bad.sum())} examples hold NaN or Inf (first: {first})")
        )
    if data.info.targets == "classes":
        findings += _class_findings(name, y, len(data.info.class_names))
    elif not np.isfinite(y).all():
        findings.append(
            Finding("error", f"{name}: {int((~np.isfinite(y)).sum())} targets are NaN/Inf")
        )
    return findings


def _text_findings(name: str, part: str, values: np.ndarray) -> list[Finding]:
    """Every input (or text target) a string with more than whitespace in it."""
    blank = [i for i, text in enumerate(values) if not isinstance(text, str) or not text.strip()]
    if blank:
        message = f"{name}: {len(blank)} {part} are empty texts (first: {blank[:5]})"
        return [Finding("error", message)]
    return []


def _class_findings(name: str, y: np.ndarray, classes: int) -> list[Finding]:
    if not np.issubdtype(y.dtype, np.integer):
        return [Finding("error", f"{name}: class labels must be integers; dtype is {y.dtype}")]
    outside = (y < 0) | (y >= classes)
    if outside.any():
        return [
            Finding(
                "error",
                f"{name}: labels must lie in 0..{classes - 1}; {int(outside.sum())} do not "
                f"(e.g. {int(y[outside][0])})",
            )
        ]
    counts = np.bincount(y, minlength=classes)
    findings = []
    empty = np.flatnonzero(counts == 0).tolist()
    if empty:
        findings.append(Finding("error", f"{name}: classes {empty} have no examples"))
    present = counts[counts > 0]
    if present.size and present.max() >= IMBALANCE_WARNING * present.min():
        findings.append(
            Finding(
                "warning",
                f"{name}: classes are imbalanced ({int(present.max())} vs {int(present.min())} "
                "examples); consider task.options.class_weight=balanced",
            )
        )
    return findings


def validate(data: Dataset) -> list[Finding]:
    """Log every finding; raise :class:`DataError` listing the errors, if any.

    Returns:
        The warnings, for the caller to show (nothing here prints them).
    """
    findings = check_dataset(data)
    for finding in findings:
        (log.error if finding.level == "error" else log.warning)(finding.message)
    errors = [f.message for f in findings if f.level == "error"]
    if errors:
        raise DataError("data checks failed: " + "; ".join(errors) + "; fix the data and retry")
    return findings
