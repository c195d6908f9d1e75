"""``kerasforge runs list`` and ``runs compare``: which run won, read from MLflow alone.

A training leaves in its MLflow run everything shown here
(:mod:`~kerasforge.pipelines.tracking.run`, :mod:`~kerasforge.pipelines.tracking.publishing`,
:mod:`~kerasforge.pipelines.tracking.release`): the flattened config as params, the test
metrics with ``test_baseline_<metric>``, and the tags ``gate`` (passed / failed),
``gate_metric`` and ``gate_mode`` (what the gate judged, which way is better),
``model_name`` and ``model_version``. The registry adds the version's aliases
(``champion``, ``challenger``, ``previous``).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from typing import Any

from . import store as mlflow_store
from .release import GATE_METRIC_TAG, GATE_MODE_TAG, GATE_TAG

MIN_PREFIX = 6  # shortest run id prefix accepted
SEARCH_LIMIT = 5000  # runs read to resolve a prefix or `best`
SPECIAL = ("latest", "best")


class RunsError(LookupError):
    """No store, experiment or run to show; the message says what exists and what to do."""


@dataclass(frozen=True)
class RunView:
    """One run as ``runs list`` and ``runs compare`` show it.

    Attributes:
        run_id: MLflow's run id.
        name: the run's name: the experiment config's ``name``.
        status: ``FINISHED``, ``RUNNING``, ``FAILED`` or ``KILLED``.
        start_time: when it started, in milliseconds since the epoch.
        metric: the metric the release gate judged (the task's headline by default).
        mode: ``max`` or ``min``: which way ``metric`` is better.
        value: ``test_<metric>`` of the run, or None.
        baseline: the task's trivial baseline on the test split (``test_baseline_<metric>``).
        gate: ``passed``, ``failed`` or None (not judged).
        model: the registered model's name, or None.
        version: the registered version number, or None.
        aliases: the registry's aliases of that version (``champion``, ...).
        params: every param (the flattened config).
        metrics: the last value of every metric.
    """

    run_id: str
    name: str
    status: str
    start_time: int
    metric: str | None
    mode: str | None
    value: float | None
    baseline: float | None
    gate: str | None
    model: str | None
    version: str | None
    aliases: tuple[str, ...] = ()
    params: dict[str, str] = field(default_factory=dict, repr=False)
    metrics: dict[str, float] = field(default_factory=dict, repr=False)

    @property
    def started(self) -> str:
        """The start time, local, to the minute."""
        stamp = datetime.datetime.fromtimestamp(self.start_time / 1000)
        return stamp.strftime("%Y-%m-%d %H:%M")

    @property
    def headline(self) -> str:
        """``accuracy 0.9852``, or ``-`` when the run has no judged metric."""
        return "-" if self.value is None else f"{self.metric} {self.value:.4f}"

    @property
    def model_text(self) -> str:
        """``digits_cnn v2 (challenger)``, or ``-``."""
        if not self.model or not self.version:
            return "-"
        aliases = f" ({', '.join(self.aliases)})" if self.aliases else ""
        return f"{self.model} v{self.version}{aliases}"

    def summary(self) -> dict[str, Any]:
        """What ``runs list --json`` prints of the run (no params, headline metrics only)."""
        found = asdict(self)
        found.pop("params")
        found.pop("metrics")
        found["aliases"] = list(self.aliases)
        found["started"] = self.started
        return found


def open_experiment(uri: str, experiment: str) -> tuple[Any, str]:
    """An ``MlflowClient`` on ``uri`` and the id of ``experiment``.

    Raises:
        RunsError: no store at ``uri`` (a SQLite file not there, a server that does not
            answer), or no such experiment (with the experiments there).
    """
    db = mlflow_store.sqlite_path(uri)
    if db is not None and not db.is_file():
        raise RunsError(
            f"no tracking store at {db}: train a model first (`make train`), or pass the "
            "store with --uri or the config that names it with --config"
        )
    problem = mlflow_store.probe(uri)
    if problem:
        raise RunsError(f"tracking server {uri} cannot be read: {problem}")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        names = sorted(e.name for e in client.search_experiments())
        raise RunsError(
            f"no experiment {experiment!r} in {uri}; experiments there: "
            f"{', '.join(names) or 'none'} (choose one with --experiment)"
        )
    return client, found.experiment_id


def recent_runs(client: Any, experiment_id: str, limit: int) -> list[RunView]:
    """The ``limit`` most recent runs of the experiment, newest first."""
    runs = client.search_runs(
        [experiment_id], max_results=limit, order_by=["attributes.start_time DESC"]
    )
    return views(client, runs)


def views(client: Any, runs: Iterable[Any]) -> list[RunView]:
    """:class:`RunView` of each MLflow run, with its version's aliases from the registry."""
    aliases: dict[tuple[str, str], tuple[str, ...]] = {}
    found = []
    for run in runs:
        model, version = run.data.tags.get("model_name"), run.data.tags.get("model_version")
        version = None if version in (None, "", "none") else version
        if model and version and (model, version) not in aliases:
            aliases[model, version] = _aliases(client, model, version)
        found.append(view(run, aliases.get((model or "", version or ""), ())))
    return found


def _aliases(client: Any, model: str, version: str) -> tuple[str, ...]:
    from mlflow.exceptions import MlflowException

    with suppress(MlflowException):
        return tuple(sorted(client.get_model_version(model, version).aliases))
    return ()


def view(run: Any, aliases: tuple[str, ...] = ()) -> RunView:
    """One MLflow run as a :class:`RunView`."""
    tags, metrics = run.data.tags, dict(run.data.metrics)
    metric, mode = tags.get(GATE_METRIC_TAG), tags.get(GATE_MODE_TAG)
    if metric is None:  # a run from before the gate's metric was tagged: its baseline says
        floors = [
            k.removeprefix("test_baseline_") for k in metrics if k.startswith("test_baseline_")
        ]
        metric = floors[0] if len(floors) == 1 else None
    version = tags.get("model_version")
    return RunView(
        run_id=run.info.run_id,
        name=run.info.run_name or "",
        status=run.info.status,
        start_time=int(run.info.start_time or 0),
        metric=metric,
        mode=mode,
        value=metrics.get(f"test_{metric}") if metric else None,
        baseline=metrics.get(f"test_baseline_{metric}") if metric else None,
        gate=tags.get(GATE_TAG),
        model=tags.get("model_name"),
        version=None if version in (None, "", "none") else version,
        aliases=aliases,
        params=dict(run.data.params),
        metrics=metrics,
    )


def find_run(client: Any, experiment_id: str, ref: str) -> RunView:
    """The run ``ref`` names: a run id, a prefix of one (at least :data:`MIN_PREFIX`
    characters), ``latest`` (the newest run) or ``best`` (the finished run with the best
    judged metric, among those judged by the newest judged run's metric).

    Raises:
        RunsError: no run matches, or a prefix matches several, or is too short.
    """
    from mlflow.exceptions import MlflowException

    ref = ref.strip()
    if ref not in SPECIAL and len(ref) < MIN_PREFIX:
        raise RunsError(
            f"run {ref!r} is too short: give a run id, at least {MIN_PREFIX} of its first "
            f"characters, `latest` or `best` (`kerasforge runs list` shows the ids)"
        )
    if ref not in SPECIAL and len(ref) == 32:  # a whole id: any experiment
        with suppress(MlflowException):
            return views(client, [client.get_run(ref)])[0]
    runs = client.search_runs(
        [experiment_id], max_results=SEARCH_LIMIT, order_by=["attributes.start_time DESC"]
    )
    if not runs:
        raise RunsError("no runs in this experiment yet: train one first (`make train`)")
    if ref == "latest":
        return views(client, runs[:1])[0]
    if ref == "best":
        return _best(client, runs)
    matches = [r for r in runs if r.info.run_id.startswith(ref.lower())]
    if len(matches) == 1:
        return views(client, matches)[0]
    if not matches:
        raise RunsError(f"no run {ref!r} in this experiment; `kerasforge runs list` shows the ids")
    ids = ", ".join(r.info.run_id[:12] for r in matches[:5])
    raise RunsError(f"run {ref!r} matches {len(matches)} runs ({ids}, ...): give more characters")


def _best(client: Any, runs: list[Any]) -> RunView:
    judged = [v for v in views(client, runs) if v.value is not None and v.mode in ("max", "min")]
    finished = [v for v in judged if v.status == "FINISHED"]
    if not finished:
        raise RunsError(
            "no finished run with a judged test metric (tag gate_metric), so none is `best`; "
            "name a run by its id"
        )
    newest = finished[0]
    same = [v for v in finished if (v.metric, v.mode) == (newest.metric, newest.mode)]
    sign = 1 if newest.mode == "max" else -1
    return max(same, key=lambda v: (sign * (v.value or 0.0), v.start_time))


def winner(a: RunView, b: RunView) -> str:
    """One line: which of the two runs is better on the metric their gates judge."""
    if a.value is None or b.value is None or (a.metric, a.mode) != (b.metric, b.mode):
        return "better: not comparable (the runs do not share a judged test metric)"
    shown = f"test {a.metric}: {a.value:.4f} vs {b.value:.4f}, {a.mode} is better"
    if a.value == b.value:
        return f"better: neither, a tie ({shown})"
    first = (a.value > b.value) == (a.mode == "max")
    return f"better: {'A' if first else 'B'} {(a if first else b).run_id[:8]} ({shown})"


def list_table(rows: list[RunView]) -> str:
    """``runs list``: one line per run, newest first, under a header."""
    header = ("run", "started", "config", "status", "test metric", "baseline", "gate", "model")
    lines = [
        (
            r.run_id[:8],
            r.started,
            r.name,
            r.status,
            r.headline,
            "-" if r.baseline is None else f"{r.baseline:.4f}",
            r.gate or "-",
            r.model_text,
        )
        for r in rows
    ]
    return _columns([header, *lines])


def _columns(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def differing_params(a: RunView, b: RunView, everything: bool = False) -> dict[str, tuple]:
    """``{param: (value in a, value in b)}``: the ones that differ (all with ``everything``);
    a param one run lacks is ``None`` there."""
    keys = sorted(a.params.keys() | b.params.keys())
    pairs = {k: (a.params.get(k), b.params.get(k)) for k in keys}
    return pairs if everything else {k: v for k, v in pairs.items() if v[0] != v[1]}


def metric_rows(a: RunView, b: RunView) -> dict[str, tuple]:
    """``{metric: (a, b, b - a)}``, test metrics first; a metric one run lacks is ``None``."""
    keys = sorted(a.metrics.keys() | b.metrics.keys(), key=lambda k: (not k.startswith("test_"), k))
    found = {}
    for key in keys:
        x, y = a.metrics.get(key), b.metrics.get(key)
        found[key] = (x, y, None if x is None or y is None else y - x)
    return found


def comparison(a: RunView, b: RunView, everything: bool = False) -> dict[str, Any]:
    """``runs compare --json``: both runs, their params that differ, metrics, the winner."""
    return {
        "a": a.summary(),
        "b": b.summary(),
        "params": {k: list(v) for k, v in differing_params(a, b, everything).items()},
        "metrics": {k: list(v) for k, v in metric_rows(a, b).items()},
        "better": winner(a, b).removeprefix("better: "),
    }


def comparison_text(a: RunView, b: RunView, everything: bool = False) -> str:
    """``runs compare``: the two runs side by side, params, metrics and the winner."""

    def number(value: float | None, signed: bool = False) -> str:
        return "-" if value is None else (f"{value:+.4f}" if signed else f"{value:.4f}")

    runs = [
        ("", "A", "B"),
        ("run", a.run_id, b.run_id),
        ("config", a.name, b.name),
        ("status", a.status, b.status),
        ("started", a.started, b.started),
        ("test metric", a.headline, b.headline),
        ("baseline", number(a.baseline), number(b.baseline)),
        ("gate", a.gate or "-", b.gate or "-"),
        ("model", a.model_text, b.model_text),
    ]
    params = differing_params(a, b, everything)
    total = len(a.params.keys() | b.params.keys())
    title = "params" if everything else f"params that differ ({len(params)} of {total}; --all)"
    shown = [(f"  {k}", str(x), str(y)) for k, (x, y) in params.items()]
    metrics = [
        (f"  {k}", number(x), number(y), number(d, True))
        for k, (x, y, d) in metric_rows(a, b).items()
    ]
    parts = [_columns(runs), f"{title}:", _columns(shown) if shown else "  (none)"]
    parts += [_columns([("metrics", "A", "B", "B - A"), *metrics]) if metrics else "metrics: none"]
    return "\n".join([*parts, winner(a, b)])
