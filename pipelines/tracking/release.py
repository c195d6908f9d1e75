"""The release gate, and the one path that publishes a gated version for serving.

A trained version is released in two steps, whichever way it arrives (the end
of a training, ``kerasforge publish``, ``kerasforge runs replay``):

1. :func:`gate_version` judges it by the rules of its :class:`GateSpec` and sets
   the registry's aliases: passing makes it ``champion`` (the old one becomes
   ``previous``), failing makes it ``challenger``. The verdict goes to a run
   tag, a model-version tag and ``gate_report.json``, which lists every rule
   with its threshold and value.
2. :func:`kerasforge.pipelines.tracking.model_registry.release` puts what the aliases say
   into the TF Serving repository: ``stable`` <- champion, ``canary`` <-
   challenger (when the config allows a canary and a stable version exists
   beside it), under a ``specific`` version policy. A version that failed its
   gate is never ``stable`` and never served by a ``latest`` policy.

The rules (``GateSpec.rules``): the headline metric must beat the task's
trivial baseline by a margin (strictly), clear the optional absolute
threshold, and beat the champion by ``min_improvement`` (strictly: a tie keeps
the champion).
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CHAMPION, PREVIOUS, CHALLENGER = "champion", "previous", "challenger"
STABLE, CANARY = "stable", "canary"
GATE_TAG = "gate"
GATE_METRIC_TAG, GATE_MODE_TAG = "gate_metric", "gate_mode"  # the judged metric, its direction
GATE_REPORT = "gate_report.json"


@dataclass(frozen=True)
class GateSpec:
    """What the gate judges a candidate by; recorded with the run so a replay judges alike.

    Attributes:
        metric: the test metric, without ``test_`` (the task's headline by default).
        mode: ``max`` or ``min``: which way is better.
        threshold: an absolute bar (at least for ``max``, at most for ``min``), or None.
        min_improvement: how much better than the champion (strictly) a candidate must be.
        baseline: the task's trivial baseline on the test split, or None (floor off).
        baseline_name: what the baseline predicts ("majority class", ...).
        margin: how far (strictly) past the baseline the candidate must be.
        on_fail: ``canary`` (serve a failed candidate under the canary label beside a
            stable version) or ``skip`` (do not put it in the repository).
    """

    metric: str
    mode: str
    threshold: float | None = None
    min_improvement: float = 0.0
    baseline: float | None = None
    baseline_name: str = ""
    margin: float = 0.0
    on_fail: str = "canary"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def metrics(self) -> dict[str, float]:
        """What the run and the card record of the floor: ``test_baseline_<metric>`` and
        ``baseline_margin`` (none with the floor off)."""
        if self.baseline is None:
            return {}
        return {f"test_baseline_{self.metric}": self.baseline, "baseline_margin": self.margin}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GateSpec:
        return cls(**values)

    @property
    def floor(self) -> float | None:
        """The value the candidate must strictly beat to clear the baseline."""
        if self.baseline is None:
            return None
        return self.baseline + self._sign * self.margin

    @property
    def _sign(self) -> int:
        return 1 if self.mode == "max" else -1

    def better(self, a: float, b: float) -> bool:
        """``a`` strictly better than ``b`` in this metric's direction."""
        return a > b if self.mode == "max" else a < b

    def rules(self, candidate: float, champion: float | None) -> list[Rule]:
        """Every rule the gate applies to ``candidate``, in order, with its outcome."""
        rules = []
        if self.floor is not None:
            rules.append(
                Rule(
                    "baseline",
                    self.floor,
                    candidate,
                    self.better(candidate, self.floor),
                    f"beat the {self.baseline_name} baseline ({self.baseline:.4f}) by more "
                    f"than {self.margin:g}",
                )
            )
        if self.threshold is not None:
            ok = candidate >= self.threshold if self.mode == "max" else candidate <= self.threshold
            word = "at least" if self.mode == "max" else "at most"
            rules.append(Rule("threshold", self.threshold, candidate, ok, f"{word} the threshold"))
        if champion is not None:
            needed = champion + self._sign * self.min_improvement
            rules.append(
                Rule(
                    "champion",
                    needed,
                    candidate,
                    self.better(candidate, needed),
                    f"beat the champion ({champion:.4f}) by more than {self.min_improvement:g}"
                    " (a tie keeps the champion)",
                )
            )
        return rules


@dataclass(frozen=True)
class Rule:
    """One rule of the gate: its name, the bar, the candidate's value and the outcome."""

    rule: str
    threshold: float
    value: float
    passed: bool
    requires: str

    def reason(self) -> str:
        verdict = "meets" if self.passed else "misses"
        return f"{verdict} {self.rule}: {self.value:.4f} vs {self.threshold:.4f} ({self.requires})"


@dataclass
class GateDecision:
    """What the gate decided for one candidate version, and why."""

    model_name: str
    version: str
    metric: str
    mode: str
    candidate: float
    champion_version: str | None
    champion: float | None
    passed: bool
    rules: list[Rule] = field(default_factory=list)
    baseline: float | None = None
    baseline_name: str = ""
    margin: float = 0.0

    @property
    def reasons(self) -> list[str]:
        found = [r.reason() for r in self.rules]
        return found if self.champion is not None else [*found, "no champion yet"]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reasons": self.reasons}


def judge(
    spec: GateSpec,
    name: str,
    version: str,
    candidate: float,
    champion: tuple[str, float] | None,
) -> GateDecision:
    """The decision for ``candidate`` against ``champion`` (its version and value)."""
    value = champion[1] if champion else None
    rules = spec.rules(candidate, value)
    return GateDecision(
        name,
        str(version),
        spec.metric,
        spec.mode,
        candidate,
        champion[0] if champion else None,
        value,
        all(r.passed for r in rules),
        rules,
        spec.baseline,
        spec.baseline_name,
        spec.margin,
    )


def served_text(labels: dict[str, int]) -> str:
    """``stable=1, canary=2``, or ``nothing``: what a model's ``models.config`` entry serves."""
    return ", ".join(f"{label}={v}" for label, v in labels.items()) or "nothing"


def baseline_line(spec: GateSpec, candidate: float) -> str:
    """One line for the training summary: did the model beat its baseline, by how much."""
    if spec.baseline is None:
        return "baseline: floor off (tracking.registry.gate.baseline_floor: false)"
    gap = (candidate - spec.baseline) * (1 if spec.mode == "max" else -1)
    verdict = (
        "beats"
        if spec.floor is not None and spec.better(candidate, spec.floor)
        else ("does not beat")
    )
    return (
        f"baseline: {spec.metric} {candidate:.4f} {verdict} the {spec.baseline_name} baseline "
        f"{spec.baseline:.4f} by {gap:+.4f} (margin {spec.margin:g})"
    )


@contextmanager
def release_lock(repository: Path, name: str) -> Iterator[None]:
    """Serialise gates and releases of one model on this machine (two replays that race)."""
    folder = repository / name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".release.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def champion_of(client: Any, name: str, metric: str) -> tuple[str, float] | None:
    """The ``champion`` alias's version and its run's ``test_<metric>``, or None."""
    from mlflow.exceptions import MlflowException

    try:
        old = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    value = client.get_run(old.run_id).data.metrics.get(f"test_{metric}") if old.run_id else None
    return (str(old.version), float(value)) if value is not None else None


def gate_version(
    client: Any, name: str, version: str, spec: GateSpec, candidate: float, folder: Path
) -> GateDecision:
    """Judge registered ``version`` against the registry as it is now; set aliases and tags.

    Writes ``folder/gate_report.json`` and logs it to the version's run. Call it
    under :func:`release_lock` where two gates may race.
    """
    run_id = client.get_model_version(name, str(version)).run_id
    champion = champion_of(client, name, spec.metric)
    decision = judge(spec, name, version, candidate, champion)
    if decision.passed:
        if champion is not None:
            client.set_registered_model_alias(name, PREVIOUS, champion[0])
        client.set_registered_model_alias(name, CHAMPION, str(version))
        _drop_alias(client, name, CHALLENGER)
    else:
        client.set_registered_model_alias(name, CHALLENGER, str(version))
    verdict = "passed" if decision.passed else "failed"
    reasons = "; ".join(decision.reasons)
    client.set_model_version_tag(name, str(version), GATE_TAG, verdict)
    if run_id:
        client.set_tag(run_id, GATE_TAG, verdict)
        client.set_tag(run_id, "gate_reasons", reasons[:5000])
    report = folder / GATE_REPORT
    folder.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({**decision.to_dict(), "spec": spec.to_dict()}, indent=2))
    if run_id:
        client.log_artifact(run_id, str(report))
    print(f"release gate {verdict} for {name} version {version}: {reasons}", flush=True)
    return decision


def _drop_alias(client: Any, name: str, alias: str) -> None:
    from mlflow.exceptions import MlflowException

    with suppress(MlflowException):
        client.delete_registered_model_alias(name, alias)
