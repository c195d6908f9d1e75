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
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kerasforge.pipelines.data import source_names
from kerasforge.pipelines.errors import ConfigError
from kerasforge.pipelines.options import check_model_options, model_names

PositiveInt = Annotated[int, Field(ge=1)]
Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]


def _complete(message: str) -> PydanticCustomError:
    """An error whose message already names the key and the received value."""
    return PydanticCustomError("kerasforge", message.replace("{", "{{").replace("}", "}}"))


def _one_of(key: str, kind: str, value: str, names: list[str], hint: str = "") -> str:
    """``value`` if it is a registered name, else a complete error listing the names."""
    if value not in names:
        extra = f" ({hint})" if hint else ""
        raise _complete(f"{key}: unknown {kind} {value!r}; available: {', '.join(names)}{extra}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class DataConfig(_Strict):
    """Where examples come from and how they are batched."""

    source: str = "digits"
    validation_fraction: Fraction = 0.15
    test_fraction: Fraction = 0.15
    batch_size: PositiveInt = 64
    shuffle_buffer: PositiveInt = 2048
    cache: bool = True

    @field_validator("source")
    @classmethod
    def _known_source(cls, source: str) -> str:
        return _one_of("data.source", "data source", source, source_names())

    @model_validator(mode="after")
    def _leave_training_data(self) -> DataConfig:
        if self.validation_fraction + self.test_fraction >= 0.9:
            raise _complete(
                "data.validation_fraction + data.test_fraction must stay below 0.9 so that "
                f"training keeps data; received {self.validation_fraction} + {self.test_fraction}"
            )
        return self


class ModelConfig(_Strict):
    """A registered model and the keyword arguments its builder accepts."""

    name: str = "digits_cnn"
    options: dict[str, Any] = Field(default_factory=dict)

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


class TrainConfig(_Strict):
    """Optimisation and callbacks."""

    epochs: PositiveInt = 40
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    learning_rate: Annotated[float, Field(gt=0.0, le=10.0)] = 3e-3
    early_stopping_patience: Annotated[int, Field(ge=0)] = 6
    monitor: Literal["val_loss", "val_accuracy"] = "val_loss"


class TrackingConfig(_Strict):
    """MLflow tracking. ``uri`` unset: ``MLFLOW_TRACKING_URI``, else a local SQLite store."""

    enabled: bool = True
    experiment: Annotated[str, Field(min_length=1)] = "kerasforge"
    uri: str | None = None


class ExportConfig(_Strict):
    """Where trained models are published (TF Serving's repository layout)."""

    enabled: bool = True
    model_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] = "digits_cnn"
    tflite: bool = True


class ExperimentConfig(_Strict):
    """One runnable experiment."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] = "digits_cnn"
    seed: Annotated[int, Field(ge=0)] = 42
    output_dir: Path = Path("artifacts")
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)

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


def apply_overrides(tree: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b=c`` pairs; values are parsed as YAML (``3``, ``true``, ``[1, 2]``)."""
    tree = yaml.safe_load(yaml.safe_dump(tree))  # deep copy of plain data
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. train.epochs=3"
            )
        parts = key.strip().split(".")
        node = tree
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                raise ConfigError(
                    f"--set {item!r}: {where} holds a value ({child!r}), not a section"
                )
            node = child
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None
    return tree


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML file that must hold a mapping."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} not found; pass an existing YAML file")
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    if not isinstance(tree, dict):
        raise ConfigError(
            f"config file {str(path)!r} must hold a mapping of sections "
            f"(data, model, train, ...); got a {type(tree).__name__}"
        )
    return tree


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
        source = f"config {str(path)!r}" if path is not None else "config"
        raise ConfigError(describe_errors(exc, source)) from None


def describe_errors(exc: ValidationError, source: str) -> str:
    """One line per pydantic error: key path, received value, what is allowed."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc) or "<top level>"
        received = err.get("input")
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(loc[:-1]))
            lines.append(
                f"{source}: unknown key {key!r} (value {received!r}); "
                f"allowed keys there: {allowed}; check the spelling"
            )
            continue
        if err["type"] == "kerasforge":
            lines.append(f"{source}: {err['msg']}")
            continue
        msg = re.sub(r"^(Input|String|Value|List|Dictionary) should", "must", err["msg"])
        lines.append(f"{source}: {key} {msg}; received {received!r}")
    return "\n".join(lines)


def _allowed_keys(loc: list[str]) -> list[str]:
    model: type[BaseModel] = ExperimentConfig
    for part in loc:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)
