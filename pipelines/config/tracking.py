"""Typed sub-configs of tracking: the registry and its release gate, and the tuning space.

Imported by :mod:`kerasforge.pipelines.config.experiment`; no TensorFlow or MLflow here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from . import limits


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GateConfig(_Strict):
    """The release gate: a candidate must beat the task's trivial baseline by a margin,
    clear ``threshold`` and beat the champion (:mod:`kerasforge.pipelines.tracking.release`).

    ``metric`` is a test metric name without the ``test_`` prefix (default:
    the task's headline, e.g. ``accuracy``); its direction comes from the task.
    """

    metric: str | None = None
    threshold: float | None = None
    """Absolute bar on the test metric (at least for ``max`` metrics, at most for ``min``)."""
    min_improvement: Annotated[float, Field(ge=0.0)] = 0.0
    """How much better than the champion the candidate must be, strictly: a tie keeps
    the champion."""
    baseline_floor: bool = True
    """The headline must beat the task's trivial baseline (majority class, training mean,
    naive forecast, ...) by ``baseline_margin``, strictly."""
    baseline_margin: Annotated[float, Field(ge=0.0)] | None = None
    """In the headline's units; default: the task's own (e.g. 0.1 accuracy)."""
    on_fail: Literal["canary", "skip"] = "skip"
    """A failed candidate: ``skip`` keeps it out of the served repository (it stays in
    the registry as ``challenger``); ``canary`` serves it under the ``canary`` label
    beside a stable version. Unlabelled requests go to the highest served version
    (TF Serving's ``ServerCore::ServableRequestFromModelSpec``: no version, no label ->
    ``ServableRequest::Latest``), so canary and stable clients both name their label."""


class RegistryConfig(_Strict):
    """MLflow Model Registry: each tracked run registers a version, the gate sets aliases."""

    enabled: bool = True
    model_name: Annotated[str, Field(min_length=1, max_length=limits.MAX_NAME_LENGTH)] | None = None
    """Registered model name (default: ``export.model_name``)."""
    gate: GateConfig = Field(default_factory=GateConfig)


class ParamSpace(_Strict):
    """One searched config key: ``choices``, or a numeric range ``low``..``high``."""

    choices: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> ParamSpace:
        ranged = self.low is not None and self.high is not None
        if (self.choices is None) == (not ranged):
            raise ValueError("give either choices: [...] or both low and high")
        if self.choices is not None and not self.choices:
            raise ValueError("choices must not be empty")
        if ranged and self.low > self.high:  # type: ignore[operator]
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        if ranged and self.log and self.low <= 0:  # type: ignore[operator]
            raise ValueError(f"log ranges need low > 0 (received {self.low})")
        return self


class TuneConfig(_Strict):
    """Hyperparameter search (``make tune``): dotted config keys and their spaces."""

    trials: Annotated[int, Field(ge=1, le=1000)] = 10
    """Trials of the whole study: shared by every process or pod working on it."""
    space: dict[str, ParamSpace] = Field(default_factory=dict)
    """e.g. ``{"train.learning_rate": {low: 1e-4, high: 1e-2, log: true}}``."""
    storage: str | None = None
    """Optuna storage URL (``postgresql+psycopg2://user:pw@host:5432/db``); default: the
    tracking store when it is PostgreSQL, else in memory (one process)."""
    study: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    """Study name; default ``<tracking.experiment>-<name>``. Processes sharing it share trials."""
    pruner: Literal["median", "hyperband", "none"] = "median"
    """Stop a trial whose per-epoch validation headline is worse than the others' so far."""
    startup_trials: Annotated[int, Field(ge=0, le=100)] = 2
    """Trials finished before the median pruner prunes anything."""
    warmup_epochs: Annotated[int, Field(ge=0, le=1000)] = 1
    """Epochs of each trial never pruned (the first epochs are noisy)."""
