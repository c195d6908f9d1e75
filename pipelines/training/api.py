"""``kerasforge.train``: ``kerasforge train`` for notebooks and scripts.

The same flow as the command line (:func:`kerasforge.pipelines.training.train.train`),
with the config given as a path or a loaded config and the ``--set`` overrides as
keyword arguments with dotted keys.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.experiment import ExperimentConfig, describe_errors, load_config
from ..config.files import apply_overrides
from ..errors import ConfigError

if TYPE_CHECKING:
    from .train import TrainResult


def train(
    config: str | Path | ExperimentConfig,
    set: Mapping[str, Any] | Iterable[str] | None = None,  # named as the CLI's --set
    **overrides: Any,
) -> TrainResult:
    """Train an experiment and publish its model, as ``kerasforge train`` does.

    Args:
        config: an experiment YAML file (``configs/digits_cnn.yaml``) or a loaded
            :class:`~kerasforge.pipelines.config.experiment.ExperimentConfig`.
        set: overrides as ``{"train.epochs": 3}`` or ``["train.epochs=3"]`` (``--set``).
        **overrides: more overrides with dotted keys, ``**{"train.epochs": 3}``; a value is
            any YAML value (number, string, list, mapping), checked as in the YAML file.

    Returns:
        The :class:`~kerasforge.pipelines.training.train.TrainResult`: ``model`` (Keras),
        ``test_metrics`` (``{"test_accuracy": ...}``), ``headline`` (``("accuracy",
        0.98)``), ``run_dir``, ``run_id`` (MLflow), ``epochs_run``, ``card``, ``published``
        (where the SavedModel and ``.tflite`` went, its ``name`` and ``version``),
        ``outcome`` (the gate's verdict and the served labels), ``gate`` (its rules and the
        task's baseline), ``splits`` (the data) and ``sample_request``.

    Raises:
        ConfigError: a bad config or override, one line per problem, before TensorFlow
            starts.

    Example:
        >>> result = kerasforge.train("configs/digits_cnn.yaml", **{"train.epochs": 3})
        >>> result.headline
        ('accuracy', 0.97...)
    """
    cfg = resolve_config(config, [*_pairs(set), *_pairs(overrides)])
    from ...cli.console import start_tensorflow
    from ...cli.quiet import quiet_command

    start_tensorflow()  # TensorFlow's native start-up chatter hidden, as on the command line
    from .train import train as run_training

    # Quiet as `kerasforge train` is (the TFLite converter, MLflow's registry lines);
    # KERASFORGE_VERBOSE=1 shows them.
    with quiet_command():
        return run_training(cfg)


def resolve_config(config: str | Path | ExperimentConfig, pairs: list[str]) -> ExperimentConfig:
    """The frozen config: a file with ``KEY=VALUE`` ``pairs`` applied, or a loaded one with them."""
    if not isinstance(config, ExperimentConfig):
        return load_config(config, pairs)
    if not pairs:
        return config
    try:
        return ExperimentConfig.model_validate(apply_overrides(config.to_dict(), pairs))
    except ValueError as exc:
        errors = getattr(exc, "errors", None)
        raise ConfigError(describe_errors(exc, "config") if errors else str(exc)) from None


def _pairs(overrides: Mapping[str, Any] | Iterable[str] | None) -> list[str]:
    """``KEY=VALUE`` strings, values written as JSON (which the YAML reader takes)."""
    if overrides is None:
        return []
    if not isinstance(overrides, Mapping):
        if isinstance(overrides, str):
            return [overrides]
        return [str(item) for item in overrides]
    return [f"{key}={_value(key, value)}" for key, value in overrides.items()]


def _value(key: str, value: Any) -> str:
    try:
        return json.dumps(value, default=lambda v: str(v) if isinstance(v, Path) else _bad(v))
    except (TypeError, ValueError):
        raise ConfigError(
            f"override {key}: expected a YAML value (number, string, bool, list, mapping); "
            f"received {type(value).__name__} {value!r:.80}"
        ) from None


def _bad(value: Any) -> Any:
    raise TypeError(type(value).__name__)
