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

import difflib
import importlib.metadata
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kerasforge.pipelines import limits, tasks
from kerasforge.pipelines.augment import AugmentConfig
from kerasforge.pipelines.config_io import apply_overrides, read_yaml
from kerasforge.pipelines.data import get_source, source_names
from kerasforge.pipelines.errors import ConfigError, clipped, shown
from kerasforge.pipelines.options import check_model_options, model_names, model_tasks
from kerasforge.pipelines.tracking_config import RegistryConfig, TuneConfig

__all__ = [
    "ConfigError",
    "ExperimentConfig",
    "apply_overrides",
    "describe_errors",
    "flatten",
    "load_config",
    "read_yaml",
]

Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]
Name = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=limits.MAX_NAME_LENGTH)
]
MAX_LINES = 10
"""The most problems one error lists; the rest are counted."""

# Tracking stores MLflow registers itself (mlflow.tracking._tracking_service.utils);
# a database scheme may name a driver: postgresql+psycopg2.
DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
TRACKING_SCHEMES = ("file", *DATABASE_SCHEMES, "http", "https", "databricks", "databricks-uc", "uc")


def _complete(message: str) -> PydanticCustomError:
    """An error whose message already names the key and the received value."""
    return PydanticCustomError("kerasforge", message.replace("{", "{{").replace("}", "}}"))


MAX_LISTED = 12
"""Names an unknown-name error lists; longer registries point at their listing command."""


def _one_of(key: str, kind: str, value: str, names: list[str], hint: str = "") -> str:
    """``value`` if it is a registered name, else a complete error listing the names."""
    if value not in names:
        extra = f" ({hint})" if hint else ""
        close = difflib.get_close_matches(str(value), names, n=3, cutoff=0.6)
        guess = f"did you mean {', '.join(close)}? " if close else ""
        listed = ", ".join(names[:MAX_LISTED])
        if len(names) > MAX_LISTED:
            listed += f", ... ({len(names)} in all)"
        raise _complete(f"{key}: unknown {kind} {shown(value)}; {guess}available: {listed}{extra}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class FeatureSpec(_Strict):
    """One fixed-length tf.Example feature of a ``tfrecord`` source."""

    dtype: Literal["float32", "int64"] = "float32"
    shape: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list)
    """Empty: a scalar; ``[h, w, c]`` for the one feature of an image source."""


class FileConfig(_Strict):
    """A user's data file, for the ``csv`` and ``numpy`` sources (``pipelines/filesources.py``).

    CSV: ``label`` names the class column; ``columns`` types the feature
    columns (``float``, ``int``, ``category`` one-hot encoded; empty: every
    other column as ``float``); ``missing`` is what empty cells do (``error``,
    ``drop`` the row, ``mean`` of the column). NumPy: a ``.npz`` with arrays
    ``features`` and ``label``, or a ``.npy`` of features with the labels in
    the last column.
    """

    path: Path | None = None
    label: Annotated[str, Field(min_length=1)] = "label"
    features: Annotated[str, Field(min_length=1)] = "x"
    columns: dict[str, Literal["float", "int", "category"]] = Field(default_factory=dict)
    missing: Literal["error", "drop", "mean"] = "error"
    image_size: tuple[
        Annotated[int, Field(ge=1, le=limits.MAX_IMAGE_SIDE)],
        Annotated[int, Field(ge=1, le=limits.MAX_IMAGE_SIDE)],
    ] = (64, 64)
    """``image_folder``: every image is resized to ``[height, width]``."""
    channels: Literal[1, 3] = 3
    """``image_folder``: 1 (grayscale) or 3 (RGB)."""
    spec: dict[str, FeatureSpec] = Field(default_factory=dict)
    """``tfrecord``: the tf.Example input features (the label feature is ``label``)."""
    text: Annotated[str, Field(min_length=1)] = "text"
    """``csv_text``: the column holding each example's text."""


class SeriesConfig(_Strict):
    """Windows of a time-series source (``pipelines/series.py``), for forecasting.

    ``columns``: the input columns (empty: all); ``target``: the column to
    forecast (empty: the first input column; always an input too); ``window``
    steps in, ``horizon`` steps ahead out, a window starting every ``stride`` steps.
    """

    columns: list[str] = Field(default_factory=list)
    target: str | None = None
    window: Annotated[int, Field(ge=1, le=10_000)] = 24
    horizon: Annotated[int, Field(ge=1, le=1_000)] = 1
    stride: Annotated[int, Field(ge=1, le=10_000)] = 1


class DataConfig(_Strict):
    """Where examples come from and how they are batched."""

    source: str = "digits"
    file: FileConfig = Field(default_factory=FileConfig)
    series: SeriesConfig = Field(default_factory=SeriesConfig)
    validation_fraction: Fraction = 0.15
    test_fraction: Fraction = 0.15
    batch_size: Annotated[int, Field(ge=1, le=limits.MAX_BATCH_SIZE)] = 64
    shuffle_buffer: Annotated[int, Field(ge=1, le=limits.MAX_SHUFFLE_BUFFER)] = 2048
    cache: bool = True
    cache_dir: Path | None = None
    """Streamed sources (``image_folder``): cache decoded images in files here, not memory."""
    augmentation: AugmentConfig = Field(default_factory=AugmentConfig)
    """Training-time image augmentation (``pipelines/augment.py``)."""

    @field_validator("source")
    @classmethod
    def _known_source(cls, source: str) -> str:
        return _one_of("data.source", "data source", source, source_names())

    @model_validator(mode="after")
    def _file_when_needed(self) -> DataConfig:
        if get_source(self.source).needs_file and self.file.path is None:
            raise _complete(
                f"data.file.path: source {self.source!r} reads a file; set data.file.path "
                "to your data file (or image folder)"
            )
        return self

    @model_validator(mode="after")
    def _leave_training_data(self) -> DataConfig:
        if self.validation_fraction + self.test_fraction >= 0.9:
            raise _complete(
                "data.validation_fraction + data.test_fraction must stay below 0.9 so that "
                f"training keeps data; received {self.validation_fraction} + {self.test_fraction}"
            )
        return self


class TaskConfig(_Strict):
    """The kind of problem (``kerasforge.pipelines.tasks``) and its options."""

    name: str = "classification"
    options: dict[str, Any] = Field(default_factory=dict, validate_default=True)

    @field_validator("name")
    @classmethod
    def _registered(cls, name: str) -> str:
        return _one_of("task.name", "task", name, tasks.task_names())

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
                raise _complete(
                    f"task.options: task {name!r} has no option {shown(key)} (received "
                    f"{shown(err['input'])}); its options are: {allowed}"
                ) from None
            msg = re.sub(r"^(Input|String|Value) should", "must", err["msg"])
            raise _complete(f"task.options.{key} {msg}; received {shown(err['input'])}") from None


class ModelConfig(_Strict):
    """A registered model and the keyword arguments its builder accepts."""

    name: str = "digits_cnn"
    options: dict[str, Any] = Field(default_factory=dict)
    max_params: Annotated[int, Field(ge=1)] = limits.DEFAULT_MAX_PARAMS
    """Refuse a model with more parameters, before allocating its weights."""

    @field_validator("name")
    @classmethod
    def _registered(cls, name: str) -> str:
        return _one_of("model.name", "model", name, model_names(), "`kerasforge models` lists them")

    @field_validator("options")
    @classmethod
    def _options_fit_builder(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if "name" not in info.data:  # the name was rejected already
            return options
        try:
            return check_model_options(info.data["name"], options)
        except ValueError as exc:
            raise _complete(f"model.options.{exc}") from None


class ScheduleConfig(_Strict):
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


class PlateauConfig(_Strict):
    """ReduceLROnPlateau on ``train.monitor``; only with a constant schedule."""

    enabled: bool = False
    factor: Fraction = 0.5
    patience: Annotated[int, Field(ge=0, le=limits.MAX_PATIENCE)] = 3
    min_learning_rate: Annotated[float, Field(ge=0.0)] = 1e-6


class RunControlConfig(_Strict):
    """Resume after a crash, logs, NaN guard and determinism (``pipelines/resume.py``)."""

    resume: bool = True
    """Started again with the same config, an unfinished run continues where it stopped."""
    csv_log: bool = True
    tensorboard: bool = False
    terminate_on_nan: bool = True
    deterministic: bool = False
    """Op determinism (``tf.config.experimental.enable_op_determinism``) on top of the seed."""


class ScaleConfig(_Strict):
    """Distribution strategy, mixed precision and XLA (``pipelines/strategy.py``)."""

    strategy: Literal["default", "mirrored", "multi_worker", "tpu"] = "default"
    mixed_precision: Literal["off", "mixed_float16", "mixed_bfloat16"] = "off"
    force_mixed_precision: bool = False
    """Allow mixed precision without a GPU (it is slower on CPUs)."""
    jit_compile: Literal["auto"] | bool = "auto"
    """XLA: ``true``, ``false`` or ``auto`` (Keras decides per model)."""


class TrainConfig(_Strict):
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
            raise _complete(
                f"train.nesterov: Nesterov momentum needs optimizer 'sgd' with momentum > 0; "
                f"received optimizer {self.optimizer!r} with momentum {self.momentum}"
            )
        if self.momentum and self.optimizer not in ("sgd", "rmsprop"):
            raise _complete(
                f"train.momentum: only 'sgd' and 'rmsprop' take momentum; received optimizer "
                f"{self.optimizer!r} (Adam's momentum is beta_1)"
            )
        if self.clipnorm is not None and self.clipvalue is not None:
            raise _complete("train.clipnorm and train.clipvalue: set one, not both")
        if self.reduce_on_plateau.enabled and self.schedule.name != "constant":
            raise _complete(
                "train.reduce_on_plateau: ReduceLROnPlateau changes a constant learning rate; "
                f"received schedule {self.schedule.name!r}: disable one of them"
            )
        return self


class TrackingConfig(_Strict):
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
            raise _complete(f"tracking.uri: {problem}")
        return uri


TFLITE_VARIANTS = ("float32", "float16", "dynamic", "int8")


class TFLiteConfig(_Strict):
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
            raise _complete(f"export.tflite.variants: each variant once; received {variants}")
        return variants


class ExportConfig(_Strict):
    """Where trained models are published (TF Serving's repository layout)."""

    enabled: bool = True
    model_name: Name = "digits_cnn"
    tflite: TFLiteConfig = Field(default_factory=TFLiteConfig)

    @field_validator("tflite", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"enabled": value} if isinstance(value, bool) else value


class ExperimentConfig(_Strict):
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
            raise _complete(f"output_dir: {problem}")
        return path

    @model_validator(mode="after")
    def _parts_fit_the_task(self) -> ExperimentConfig:
        task = tasks.task_class(self.task.name)
        served = model_tasks(self.model.name)
        if task.name not in served:
            raise _complete(
                f"model.name: model {self.model.name!r} serves {', '.join(served)}, not task "
                f"{task.name!r}; models for it: {', '.join(model_names(task.name))}"
            )
        source = get_source(self.data.source)
        if source.inputs not in task.inputs or source.targets != task.targets:
            raise _complete(
                f"data.source: {self.data.source!r} holds {source.inputs} inputs with "
                f"{source.targets} as targets; task {task.name!r} needs "
                f"{' or '.join(task.inputs)} inputs with {task.targets}"
            )
        allowed = ["val_loss", *(f"val_{m}" for m in task.metrics)]
        if self.train.monitor not in allowed:
            raise _complete(
                f"train.monitor: {self.train.monitor!r} is not reported by task "
                f"{task.name!r}; choose one of: {', '.join(allowed)}"
            )
        return self

    @model_validator(mode="after")
    def _gate_metric_reported(self) -> ExperimentConfig:
        metric = self.tracking.registry.gate.metric
        known = ["loss", *tasks.task_class(self.task.name).metrics]
        if metric is not None and metric not in known:
            raise _complete(
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


def tracking_uri_problem(uri: str) -> str | None:
    """Why MLflow would refuse ``uri`` as a tracking store, else ``None``; imports no MLflow."""
    if uri in ("databricks", "databricks-uc", "uc"):
        return None
    try:
        parsed = urlsplit(uri)
    except ValueError as exc:
        return f"{shown(uri)} is not a URI ({exc})"
    scheme = parsed.scheme.lower()
    if len(scheme) <= 1:  # a local path; a Windows drive letter parses as a scheme
        return None
    database, _, driver = scheme.partition("+")
    if scheme in ("http", "https") and not parsed.netloc:
        return f"{shown(uri)} names no host; e.g. http://127.0.0.1:5000"
    if scheme in TRACKING_SCHEMES or (database in DATABASE_SCHEMES and "+" not in driver):
        return None
    if scheme in {e.name for e in importlib.metadata.entry_points(group="mlflow.tracking_store")}:
        return None  # an installed MLflow plugin
    return (
        f"MLflow has no tracking store for scheme {shown(scheme)} (received {shown(uri)}); "
        "use a local path or a URI starting file:, sqlite:, postgresql:, mysql:, mssql: "
        "(a driver may follow: postgresql+psycopg2:), http:, https: or databricks"
    )


def output_dir_problem(path: Path) -> str | None:
    """Why runs cannot be written under ``path``, else ``None`` (a missing folder is created)."""
    if "\x00" in str(path):
        return f"{shown(str(path))} contains a NUL character"
    try:
        existing = next((p for p in (path, *path.parents) if p.exists()), None)
        if existing is None or existing.is_dir():
            if existing is None or os.access(existing, os.W_OK | os.X_OK):
                return None
            return (
                f"{shown(str(existing))} is not writable by this user; "
                "point output_dir at a folder you can write to"
            )
    except OSError as exc:
        return f"{shown(str(path))} cannot be used: {exc.strerror or exc}"
    if existing == path:
        return f"{shown(str(path))} is a file, not a folder; point output_dir at a folder"
    return (
        f"{shown(str(path))} cannot be a folder: {shown(str(existing))} is a file; "
        "point output_dir at a folder"
    )
