"""Tasks: one kind of problem each, the seam between the trainer and the problem.

A task owns what data it expects, what it wraps around a backbone from
``kerasforge.models`` (preprocessing fitted on the training split, the head
where the backbone has none), its loss and metrics, its headline metric, the
model card it writes and the evaluation artefacts it logs; its exported
signatures are its serving contract in ``kerasforge.serving.export.signatures_tasks``.
The trainer knows nothing of the problem. Importing this package loads no Keras.

Example:
    >>> from kerasforge.pipelines.tasks import get_task
    >>> task = get_task("regression", {"standardize_target": True})
    >>> task.headline.metric
    'r2'
"""

from __future__ import annotations

from typing import Any

from .anomaly import AnomalyDetection
from .base import Baseline, Headline, Task
from .classification import Classification
from .forecasting import Forecasting
from .generation import Generation
from .regression import Regression
from .seq2seq import Seq2Seq

TASKS: dict[str, type[Task]] = {
    cls.name: cls
    for cls in (Classification, Regression, Forecasting, AnomalyDetection, Generation, Seq2Seq)
}


def task_names() -> list[str]:
    """Registered task names, sorted."""
    return sorted(TASKS)


def task_class(name: str) -> type[Task]:
    """The task class registered as ``name``.

    Raises:
        ValueError: unknown name; the message lists the registered tasks.
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; available: {', '.join(task_names())}")
    return TASKS[name]


def get_task(name: str, options: dict[str, Any] | None = None) -> Task:
    """An instance of task ``name`` with validated ``options``."""
    cls = task_class(name)
    return cls(cls.Options.model_validate(options or {}))


__all__ = ["TASKS", "Baseline", "Headline", "Task", "get_task", "task_class", "task_names"]
