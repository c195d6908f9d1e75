"""Tasks: one kind of problem each, the seam between the trainer and everything downstream.

Each task is a package here, ``pipelines/tasks/<name>/``, of two modules:

- ``training.py``: the :class:`~kerasforge.pipelines.tasks.base.Task` the trainer drives
  (the data it expects, what it wraps around a backbone from ``kerasforge.models``, its loss
  and metrics, its headline, the model card it writes, its evaluation artefacts), named
  ``TASK`` there;
- ``contract.py``: its serving contract, a :class:`Contract` named ``CONTRACT`` there (the
  signatures its SavedModel exports, its main output, the parity score over served outputs,
  the edge runtime's answer, the card facts a ``.tflite`` carries beside it, the input kinds
  it accepts). Serving and the edge runtime read only this module: it loads no training code,
  and TensorFlow only inside the function that builds the graphs.

This module is the one registry of tasks: a task is the package of its name, found on disk,
so adding one adds its package and touches nothing here. An unknown name is a one-line
:class:`UnknownTask` everywhere. Importing this module loads no task, Keras or TensorFlow.

Example:
    >>> from kerasforge.pipelines.tasks import contract, get_task
    >>> get_task("regression", {"standardize_target": True}).headline.metric
    'r2'
    >>> contract("classification").main_output
    'probabilities'
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

    from ...serving.card import ModelCard
    from ...serving.export.signatures import Endpoint
    from .base import Task


class UnknownTask(ValueError):
    """A task name no package under ``pipelines/tasks/`` answers to."""


def unit_scale(card: ModelCard, x: np.ndarray, y: np.ndarray) -> float:
    """The parity score's scale for most tasks: 1 (scores are in their own units)."""
    return 1.0


@dataclass(frozen=True)
class Contract:
    """What serving and the edge runtime know of a task, declared by the task.

    Attributes:
        name: the task's name (its package's, and the card's ``task``).
        inputs: the input kinds it accepts (``image``, ``tabular``, ``sequence``, ``series``,
            ``text``).
        backbones: the model kinds that may serve it (``models.registry.KINDS``).
        main_output: the output parity compares with Keras (max abs diff).
        endpoints: ``(model, card) -> {signature name: Endpoint}``, the SavedModel's
            signatures; imports TensorFlow when called.
        score: ``(y_true, served outputs, scale) -> headline`` over served outputs (NumPy), or
            ``None`` where the outputs have no ground truth.
        edge_answer: ``(outputs, card or None) -> JSON-ready answer`` of the edge runtime.
        labels: the card field the edge runtime fills from a ``.tflite``'s JSON sidecar's
            ``labels`` when no model card is beside the file.
        card_data: ``card.data`` keys copied into that sidecar (what the edge needs without
            the card).
        postprocessing: what a client does with the outputs, in the sidecar (``None``: nothing).
        score_scale: ``(card, x, y) -> scale`` passed to ``score`` (forecasting: the naive
            forecast's error, for MASE); 1 by default.
        encoded_images: its image models' ``serving_default`` can take encoded images
            (``export.image_input: encoded``; the endpoints use
            ``SignatureInputs.predict_endpoints``).
    """

    name: str
    inputs: tuple[str, ...]
    backbones: tuple[str, ...]
    main_output: str
    endpoints: Callable[[Any, ModelCard], dict[str, Endpoint]]
    score: Callable[[np.ndarray, dict[str, np.ndarray], float], float | None]
    edge_answer: Callable[[dict[str, np.ndarray], ModelCard | None], dict[str, Any]]
    labels: Literal["class_names", "target_names"] = "target_names"
    card_data: tuple[str, ...] = ()
    postprocessing: str | None = None
    score_scale: Callable[[ModelCard, np.ndarray, np.ndarray], float] = unit_scale
    encoded_images: bool = False


@functools.cache
def _found() -> tuple[str, ...]:
    """The packages under ``pipelines/tasks/``, read from disk once per process (the edge
    runtime looks its task's contract up for every answer)."""
    return tuple(sorted(found.name for found in pkgutil.iter_modules(__path__) if found.ispkg))


def task_names() -> list[str]:
    """Registered task names, sorted: the packages under ``pipelines/tasks/``."""
    return list(_found())


def _package(name: str, part: str) -> Any:
    if name not in task_names():
        raise UnknownTask(f"unknown task {name!r}; available: {', '.join(task_names())}")
    return importlib.import_module(f"{__name__}.{name}.{part}")


def contract(name: str) -> Contract:
    """The serving contract of task ``name`` (no training code is loaded).

    Raises:
        UnknownTask: no task of that name; the message lists the registered ones.
    """
    return _package(name, "contract").CONTRACT


def task_class(name: str) -> type[Task]:
    """The training side of task ``name``.

    Raises:
        UnknownTask: no task of that name; the message lists the registered ones.
    """
    return _package(name, "training").TASK


def get_task(name: str, options: dict[str, Any] | None = None) -> Task:
    """An instance of task ``name`` with validated ``options``."""
    cls = task_class(name)
    return cls(cls.Options.model_validate(options or {}))


__all__ = ["Contract", "UnknownTask", "contract", "get_task", "task_class", "task_names"]
