"""``data.extra``: more sources whose examples join the main source's before the split.

The loop back to training (``kerasforge monitor --to-dataset``) turns logged requests into
a ``tfrecord`` source with a labels file; a config then trains on its original source plus
that labelled live data. Classes are matched by name: an extra source's class ``"7"`` is
the main source's class ``"7"``, whatever ids each gave it.

Example (YAML):
    data:
      source: digits
      extra:
        - source: tfrecord
          file: {path: live/requests.tfrecord, labels: live/labels.csv,
                 spec: {pixels: {dtype: float32, shape: [8, 8, 1]}}}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DataError
from .pipeline import load_source
from .types import Dataset


def add_extra(data: Dataset, extras: Sequence[Any]) -> Dataset:
    """``data`` with the examples of every ``data.extra`` source (``ExtraSource``) appended.

    Raises:
        DataError: an extra source holds other inputs (kind or shape), other targets, or a
            class the main source does not have.
    """
    for extra in extras:
        more = load_source(extra.source, extra.file)
        data = _append(data, more, extra.source)
    return data


def _append(data: Dataset, more: Dataset, name: str) -> Dataset:
    where = f"data.extra ({name} {more.info.name!r})"
    if (more.info.inputs, more.info.targets) != (data.info.inputs, data.info.targets):
        raise DataError(
            f"{where} holds {more.info.inputs} inputs with {more.info.targets} targets; the "
            f"main source {data.info.name!r} holds {data.info.inputs} inputs with "
            f"{data.info.targets} targets: an extra source must hold the same kind"
        )
    if more.x.shape[1:] != data.x.shape[1:]:
        raise DataError(
            f"{where} examples have shape {list(more.x.shape[1:])}; the main source's have "
            f"{list(data.x.shape[1:])}: write the extra data in the model's input shape"
        )
    y = more.y
    if data.info.targets == "classes":
        known = list(data.info.class_names)
        unknown = [c for c in more.info.class_names if c not in known]
        if unknown:
            raise DataError(
                f"{where} has classes {unknown} that the main source lacks; its classes "
                f"are {known}: fix those labels"
            )
        ids = np.array([known.index(c) for c in more.info.class_names], dtype=data.y.dtype)
        y = ids[more.y] if len(more.y) else more.y.astype(data.y.dtype)
    x = np.concatenate([data.x, more.x.astype(data.x.dtype)])
    info = dataclasses.replace(data.info, name=f"{data.info.name}+{more.info.name}")
    return Dataset(x, np.concatenate([data.y, y.astype(data.y.dtype)]), info)
