"""Turn ``model.options`` from a config into a builder's keyword arguments.

This is the one place where config values meet builder signatures: option
names must be parameters of the registered builder and values must match the
parameter's type annotation.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ..errors import clipped, shown


def model_names(task: str | None = None) -> list[str]:
    """Registered model names (of a kind that may serve ``task`` when given); imports no
    Keras."""
    from ... import models
    from ..tasks import contract

    return models.list_models(kinds=contract(task).backbones if task else None)


def model_tasks(name: str) -> tuple[str, ...]:
    """The tasks registered model ``name`` serves: those whose contract lists its kind."""
    from ... import models
    from ..tasks import contract, task_names

    kind = models.get_entry(name).kind
    return tuple(task for task in task_names() if kind in contract(task).backbones)


def check_model_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Validate ``options`` against builder ``name``'s keyword parameters.

    Integral floats are accepted for integer options (``1e3`` is 1000); a model
    too large for memory is refused later, when it is built
    (:func:`kerasforge.pipelines.config.limits.build_within_limit`).

    Returns:
        The options converted to the annotated types (lists become tuples, ...).

    Raises:
        ValueError: an unknown option or a value of the wrong type; the message
            starts with the option's name and says what was received and allowed.
    """
    from ... import models

    params = models.builder_options(name)
    converted: dict[str, Any] = {}
    for key, value in options.items():
        if key not in params:
            raise ValueError(
                f"{clipped(key)}: model {name!r} has no option {shown(key)} "
                f"(received {shown(value)}); its options are: {', '.join(params)}"
            )
        annotation = params[key].annotation
        if annotation is inspect.Parameter.empty:
            converted[key] = value
            continue
        try:
            converted[key] = TypeAdapter(annotation).validate_python(value)
        except ValidationError as exc:
            detail = re.sub(r"^\w+ should", "must", exc.errors(include_url=False)[0]["msg"])
            raise ValueError(f"{key} {detail}; received {shown(value)}") from None
    return converted
