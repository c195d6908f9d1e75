"""Typed, strict, frozen experiment configs: the root config and how it is loaded.

A config is YAML on disk, overridden by ``--set a.b=c`` pairs, validated by
pydantic (unknown keys and bad values rejected with the key's path and the
received value), then frozen before anything runs.

This module holds :class:`ExperimentConfig` with the checks that span its
sections, the small ``tracking`` section, :func:`load_config` and the one-line
error messages. The other sections live beside it: ``task`` and ``model`` in
``pipelines/config/model.py``, ``data`` in ``pipelines/config/data.py``,
``train`` in ``pipelines/config/train.py``, ``export`` in
``pipelines/config/export.py``, and the tracking registry and ``tune`` in
``pipelines/config/tracking.py``; YAML reading and overrides are in
``pipelines/config/files.py``, the rules the sections share in
``pipelines/config/rules.py``.

Example:
    >>> cfg = load_config("configs/digits_cnn.yaml", ["train.epochs=3"])
    >>> cfg.train.epochs
    3
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from .. import tasks
from ..data.pipeline import get_source
from ..errors import ConfigError, clipped, shown
from . import limits
from .data import DataConfig, FeatureSpec, FileConfig, SeriesConfig
from .export import ExportConfig, image_input_problem
from .files import apply_overrides, read_yaml
from .model import ModelConfig, TaskConfig
from .options import model_names, model_tasks
from .rules import (
    Name,
    Strict,
    complete,
    output_dir_problem,
    tracking_uri_problem,
)
from .tracking import RegistryConfig, TuneConfig
from .train import ScheduleConfig, TrainConfig

__all__ = [
    "ConfigError",
    "DataConfig",
    "ExperimentConfig",
    "FeatureSpec",
    "FileConfig",
    "ScheduleConfig",
    "SeriesConfig",
    "TrainConfig",
    "apply_overrides",
    "describe_errors",
    "flatten",
    "load_config",
    "read_yaml",
]

MAX_LINES = 10
"""The most problems one error lists; the rest are counted."""


class TrackingConfig(Strict):
    """MLflow tracking. ``uri`` unset: ``MLFLOW_TRACKING_URI``, else a local SQLite store."""

    enabled: bool = True
    experiment: Annotated[str, Field(min_length=1, max_length=limits.MAX_NAME_LENGTH)] = (
        "kerasforge"
    )
    uri: str | None = None
    registry: RegistryConfig = Field(default_factory=RegistryConfig)

    @field_validator("uri")
    @classmethod
    def _known_store(cls, uri: str | None) -> str | None:
        problem = tracking_uri_problem(uri) if uri else None
        if problem:
            raise complete(f"tracking.uri: {problem}")
        return uri


class ExperimentConfig(Strict):
    """One runnable experiment."""

    name: Name = "digits_cnn"
    seed: Annotated[int, Field(ge=0, lt=limits.SEED_LIMIT)] = 42
    output_dir: Path = Path("artifacts")
    task: TaskConfig = Field(default_factory=TaskConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    tune: TuneConfig = Field(default_factory=TuneConfig)

    @field_validator("output_dir")
    @classmethod
    def _a_folder(cls, path: Path) -> Path:
        problem = output_dir_problem(path)
        if problem:
            raise complete(f"output_dir: {problem}")
        return path

    @model_validator(mode="after")
    def _parts_fit_the_task(self) -> ExperimentConfig:
        task = tasks.task_class(self.task.name)
        served = model_tasks(self.model.name)
        if task.name not in served:
            raise complete(
                f"model.name: model {self.model.name!r} serves {', '.join(served)}, not task "
                f"{task.name!r}; models for it: {', '.join(model_names(task.name))}"
            )
        source = get_source(self.data.source)
        if source.inputs not in task.inputs or source.targets != task.targets:
            raise complete(
                f"data.source: {self.data.source!r} holds {source.inputs} inputs with "
                f"{source.targets} as targets; task {task.name!r} needs "
                f"{' or '.join(task.inputs)} inputs with {task.targets}"
            )
        problem = image_input_problem(self.export.image_input, task.name, source.inputs)
        if problem:
            raise complete(problem)
        if task.targets == "text" and self.data.augmentation.text.enabled:
            raise complete(
                f"data.augmentation.text: task {task.name!r} pairs each source text with its "
                "target text; word operations would change the source and leave the target "
                "wrong: remove data.augmentation.text"
            )
        allowed = ["val_loss", *(f"val_{m}" for m in task.metrics)]
        if self.train.monitor not in allowed:
            raise complete(
                f"train.monitor: {self.train.monitor!r} is not reported by task "
                f"{task.name!r}; choose one of: {', '.join(allowed)}"
            )
        return self

    @model_validator(mode="after")
    def _gate_metric_reported(self) -> ExperimentConfig:
        metric = self.tracking.registry.gate.metric
        known = ["loss", *tasks.task_class(self.task.name).metrics]
        if metric is not None and metric not in known:
            raise complete(
                f"tracking.registry.gate.metric: {metric!r} is not a test metric of task "
                f"{self.task.name!r}; choose one of: {', '.join(known)}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-safe values."""
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def flat(self) -> dict[str, Any]:
        """``{"train.epochs": 40, ...}``, for MLflow params."""
        return flatten(self.to_dict())


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None
) -> ExperimentConfig:
    """Read, override, validate and freeze an experiment config.

    Args:
        path: YAML file; ``None`` starts from the defaults.
        overrides: ``KEY=VALUE`` pairs with dotted keys.

    Returns:
        The frozen config.

    Raises:
        ConfigError: one line per problem, naming the key path, the value
            received and what is allowed.
    """
    tree = read_yaml(path) if path is not None else {}
    tree = apply_overrides(tree, list(overrides or []))
    try:
        return ExperimentConfig.model_validate(tree)
    except ValidationError as exc:
        source = f"config {shown(str(path))}" if path is not None else "config"
        raise ConfigError(describe_errors(exc, source)) from None


def describe_errors(exc: ValidationError, source: str) -> str:
    """One line per pydantic error (at most :data:`MAX_LINES`): key path, received value, rule."""
    errors = exc.errors(include_url=False)
    lines = [_describe(err, source) for err in errors[:MAX_LINES]]
    if len(errors) > MAX_LINES:
        lines.append(f"{source}: ... and {len(errors) - MAX_LINES} more problems")
    return "\n".join(lines)


def _describe(err: Any, source: str) -> str:
    loc = [str(p) for p in err["loc"]]
    key = clipped(".".join(loc), 120) or "<top level>"
    received = shown(err.get("input"))
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(loc[:-1]))
        return (
            f"{source}: unknown key {key!r} (value {received}); "
            f"allowed keys there: {allowed}; check the spelling"
        )
    if err["type"] == "kerasforge":
        return f"{source}: {err['msg']}"
    msg = re.sub(r"^(Input|String|Value|List|Dictionary) should", "must", err["msg"])
    return f"{source}: {key} {msg}; received {received}"


def _allowed_keys(loc: list[str]) -> list[str]:
    model: type[BaseModel] = ExperimentConfig
    for part in loc:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)
