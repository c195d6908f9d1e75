"""The ``task`` and ``model`` sections of an experiment config: what is trained, and with what.

Each names a registered entry (``kerasforge.pipelines.tasks``, ``kerasforge.models``)
and its options, checked against that entry's own schema or builder signature.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator

from .. import tasks
from ..errors import shown
from . import limits
from .options import check_model_options, model_names
from .rules import Strict, complete, one_of


class TaskConfig(Strict):
    """The kind of problem (``kerasforge.pipelines.tasks``) and its options."""

    name: str = "classification"
    options: dict[str, Any] = Field(default_factory=dict, validate_default=True)

    @field_validator("name")
    @classmethod
    def _registered(cls, name: str) -> str:
        return one_of("task.name", "task", name, tasks.task_names())

    @field_validator("options")
    @classmethod
    def _options_fit_task(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if "name" not in info.data:  # the name was rejected already
            return options
        name = info.data["name"]
        schema = tasks.task_class(name).Options
        try:
            return schema.model_validate(options).model_dump()
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(schema.model_fields) or "none"
                raise complete(
                    f"task.options: task {name!r} has no option {shown(key)} (received "
                    f"{shown(err['input'])}); its options are: {allowed}"
                ) from None
            msg = re.sub(r"^(Input|String|Value) should", "must", err["msg"])
            raise complete(f"task.options.{key} {msg}; received {shown(err['input'])}") from None


class ModelConfig(Strict):
    """A registered model and the keyword arguments its builder accepts."""

    name: str = "digits_cnn"
    options: dict[str, Any] = Field(default_factory=dict)
    max_params: Annotated[int, Field(ge=1)] = limits.DEFAULT_MAX_PARAMS
    """Refuse a model with more parameters, before allocating its weights."""

    @field_validator("name")
    @classmethod
    def _registered(cls, name: str) -> str:
        return one_of("model.name", "model", name, model_names(), "`kerasforge models` lists them")

    @field_validator("options")
    @classmethod
    def _options_fit_builder(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if "name" not in info.data:  # the name was rejected already
            return options
        try:
            return check_model_options(info.data["name"], options)
        except ValueError as exc:
            raise complete(f"model.options.{exc}") from None
