"""Typed, strict, frozen experiment configs.

A config is YAML on disk, overridden by ``--set a.b=c`` pairs, validated by
pydantic (unknown keys and bad values rejected with the key's path and the
received value), then frozen before anything runs.

Example:
    >>> cfg = load_config("configs/digits_cnn.yaml", ["train.epochs=3"])
    >>> cfg.train.epochs
    3
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from kerasforge.pipelines import limits, tasks
from kerasforge.pipelines.config_data import DataConfig, FeatureSpec, FileConfig, SeriesConfig
from kerasforge.pipelines.config_io import apply_overrides, read_yaml
from kerasforge.pipelines.config_rules import (
    Fraction,
    Name,
    Strict,
    complete,
    one_of,
    output_dir_problem,
    tracking_uri_problem,
)
from kerasforge.pipelines.data import get_source
from kerasforge.pipelines.errors import ConfigError, clipped, shown
from kerasforge.pipelines.options import check_model_options, model_names, model_tasks
from kerasforge.pipelines.tracking_config import RegistryConfig, TuneConfig

__all__ = [
    "ConfigError",
    "DataConfig",
    "ExperimentConfig",
    "FeatureSpec",
    "FileConfig",
    "SeriesConfig",
    "apply_overrides",
    "describe_errors",
    "flatten",
    "load_config",
    "read_yaml",
]

MAX_LINES = 10
"""The most problems one error lists; the rest are counted."""


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


class ScheduleConfig(Strict):
    """Learning-rate schedule over the epochs (``pipelines/schedules.py``).

    ``constant`` keeps ``train.learning_rate``; ``step`` multiplies it by
    ``decay_rate`` every ``decay_epochs``; ``exponential`` decays it smoothly by
    ``decay_rate`` per ``decay_epochs``; ``cosine`` anneals it to
    ``min_fraction`` of itself over ``decay_epochs`` (default: all epochs after
    warm-up); ``cosine_restarts`` restarts the cosine after ``decay_epochs``,
    each period ``restart_multiplier`` times longer. ``warmup_epochs`` ramps
    linearly from 0 before any of them.
    """

    name: Literal["constant", "step", "exponential", "cosine", "cosine_restarts"] = "constant"
    warmup_epochs: Annotated[float, Field(ge=0.0, le=limits.MAX_EPOCHS)] = 0.0
    decay_epochs: Annotated[float, Field(gt=0.0, le=limits.MAX_EPOCHS)] | None = None
    decay_rate: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    min_fraction: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    restart_multiplier: Annotated[float, Field(ge=1.0, le=10.0)] = 2.0


class PlateauConfig(Strict):
    """ReduceLROnPlateau on ``train.monitor``; only with a constant schedule."""

    enabled: bool = False
    factor: Fraction = 0.5
    patience: Annotated[int, Field(ge=0, le=limits.MAX_PATIENCE)] = 3
    min_learning_rate: Annotated[float, Field(ge=0.0)] = 1e-6


class RunControlConfig(Strict):
    """Resume after a crash, logs, NaN guard and determinism (``pipelines/resume.py``)."""

    resume: bool = True
    """Started again with the same config, an unfinished run continues where it stopped."""
    csv_log: bool = True
    tensorboard: bool = False
    terminate_on_nan: bool = True
    deterministic: bool = False
    """Op determinism (``tf.config.experimental.enable_op_determinism``) on top of the seed."""


class ScaleConfig(Strict):
    """Distribution strategy, mixed precision and XLA (``pipelines/strategy.py``)."""

    strategy: Literal["default", "mirrored", "multi_worker", "tpu"] = "default"
    mixed_precision: Literal["off", "mixed_float16", "mixed_bfloat16"] = "off"
    force_mixed_precision: bool = False
    """Allow mixed precision without a GPU (it is slower on CPUs)."""
    jit_compile: Literal["auto"] | bool = "auto"
    """XLA: ``true``, ``false`` or ``auto`` (Keras decides per model)."""


class TrainConfig(Strict):
    """Optimisation and callbacks."""

    epochs: Annotated[int, Field(ge=1, le=limits.MAX_EPOCHS)] = 40
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    learning_rate: Annotated[float, Field(gt=0.0, le=limits.MAX_LEARNING_RATE)] = 3e-3
    early_stopping_patience: Annotated[int, Field(ge=0, le=limits.MAX_PATIENCE)] = 6
    monitor: str = "val_loss"
    """``val_loss`` or ``val_<metric>`` of the task (``val_accuracy``, ``val_r2``, ...)."""
    momentum: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    """SGD and RMSprop momentum."""
    nesterov: bool = False
    """Nesterov momentum (SGD with ``momentum`` > 0)."""
    beta_1: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.9
    beta_2: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.999
    weight_decay: Annotated[float, Field(ge=0.0, lt=1.0)] | None = None
    """Decoupled weight decay in the optimizer; unset: AdamW's 0.004, none for the others."""
    clipnorm: Annotated[float, Field(gt=0.0)] | None = None
    clipvalue: Annotated[float, Field(gt=0.0)] | None = None
    l2: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    """L2 penalty added to the loss for every kernel (Dense, Conv) of the model."""
    label_smoothing: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    reduce_on_plateau: PlateauConfig = Field(default_factory=PlateauConfig)
    control: RunControlConfig = Field(default_factory=RunControlConfig)
    scale: ScaleConfig = Field(default_factory=ScaleConfig)

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0.0):
            raise complete(
                f"train.nesterov: Nesterov momentum needs optimizer 'sgd' with momentum > 0; "
                f"received optimizer {self.optimizer!r} with momentum {self.momentum}"
            )
        if self.momentum and self.optimizer not in ("sgd", "rmsprop"):
            raise complete(
                f"train.momentum: only 'sgd' and 'rmsprop' take momentum; received optimizer "
                f"{self.optimizer!r} (Adam's momentum is beta_1)"
            )
        if self.clipnorm is not None and self.clipvalue is not None:
            raise complete("train.clipnorm and train.clipvalue: set one, not both")
        if self.reduce_on_plateau.enabled and self.schedule.name != "constant":
            raise complete(
                "train.reduce_on_plateau: ReduceLROnPlateau changes a constant learning rate; "
                f"received schedule {self.schedule.name!r}: disable one of them"
            )
        return self


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


TFLITE_VARIANTS = ("float32", "float16", "dynamic", "int8")


class TFLiteConfig(Strict):
    """TFLite variants to convert and the accuracy budget choosing the edge model.

    ``export.tflite: true`` / ``false`` stays valid shorthand for ``enabled``.
    """

    enabled: bool = True
    variants: list[Literal["float32", "float16", "dynamic", "int8"]] = Field(
        default_factory=lambda: list(TFLITE_VARIANTS), min_length=1
    )
    budget: Annotated[float, Field(ge=0.0, le=100.0)] = 1.0
    """Largest accepted drop of the headline metric against Keras, in points (1 = 0.01)."""

    @field_validator("variants")
    @classmethod
    def _unique(cls, variants: list[str]) -> list[str]:
        if len(set(variants)) != len(variants):
            raise complete(f"export.tflite.variants: each variant once; received {variants}")
        return variants


class ExportConfig(Strict):
    """Where trained models are published (TF Serving's repository layout)."""

    enabled: bool = True
    model_name: Name = "digits_cnn"
    tflite: TFLiteConfig = Field(default_factory=TFLiteConfig)

    @field_validator("tflite", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"enabled": value} if isinstance(value, bool) else value


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
