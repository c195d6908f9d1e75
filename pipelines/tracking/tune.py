"""Hyperparameter search with Optuna: each trial a nested MLflow run under one parent.

The space is the config's ``tune.space``: dotted config keys with ``choices``
or a ``low``..``high`` range. Each trial trains the config with the sampled
overrides (export off) and is judged by the task's headline metric on the
validation split (best epoch); the pruner may stop it early on the per-epoch
value. The study may be shared by N processes or pods (:mod:`.study`). The best
trial's config is written as a runnable YAML: ``kerasforge train --config <it>``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ..config.experiment import ExperimentConfig, load_config
from ..config.tracking import ParamSpace
from ..errors import ConfigError


def sample(trial: Any, space: dict[str, ParamSpace]) -> dict[str, Any]:
    """One value per searched key, drawn by an Optuna ``trial``."""
    values: dict[str, Any] = {}
    for key, spec in space.items():
        if spec.choices is not None:
            index = trial.suggest_categorical(key, list(range(len(spec.choices))))
            values[key] = spec.choices[index]
        elif spec.integer:
            values[key] = trial.suggest_int(key, int(spec.low), int(spec.high), log=spec.log)
        else:
            values[key] = trial.suggest_float(key, spec.low, spec.high, log=spec.log)
    return values


def _override(key: str, value: Any) -> str:
    return f"{key}={json.dumps(value)}"  # JSON is YAML: lists and numbers parse back


def _shown(value: Any) -> str:
    """A sampled value for the trial line: floats to 3 significant digits."""
    return f"{value:.3g}" if isinstance(value, float) else json.dumps(value)


def objective_value(history: dict[str, list[float]], metric: str, mode: str) -> float:
    """The best epoch's validation ``metric`` (``val_<metric>``)."""
    values = history[f"val_{metric}"]
    return max(values) if mode == "max" else min(values)


def tune(
    config: Path,
    overrides: list[str],
    trials: int | None = None,
    *,
    storage: str | None = None,
    study: str | None = None,
) -> dict[str, Any]:
    """Search ``tune.space`` of the config; return the best trial and the YAML written.

    Args:
        config: the experiment YAML with a ``tune`` section.
        overrides: ``key=value`` overrides of it.
        trials: trials of the whole study (default ``tune.trials``).
        storage: Optuna storage URL (default ``tune.storage``, else the tracking
            PostgreSQL, else in memory).
        study: the study's name (default ``tune.study``, else ``<experiment>-<name>``).

    Raises:
        ConfigError: no space, a sampled value refused, or the storage unreachable.
    """
    from . import store as mlflow_store
    from . import study as shared
    from .run import tracking_uri

    base = load_config(config, overrides)
    if not base.tune.space:
        raise ConfigError(
            f"config {str(config)!r} declares no tune.space; add e.g. tune: {{space: "
            "{train.learning_rate: {low: 0.0001, high: 0.01, log: true}}}"
        )
    uri = tracking_uri(base.tracking.uri, base.output_dir)
    url = shared.storage_url(storage, base.tune.storage, uri)
    name = study or base.tune.study or study_name(base)
    total = trials or base.tune.trials
    search = Search(base, config, overrides, total, name, shared.open_storage(url))
    with mlflow_store.scoped_uris():
        experiment_id = mlflow_store.prepare(
            uri, base.tracking.experiment, base.output_dir / "mlartifacts"
        )
        summary = search.run(uri, experiment_id)
    return {**summary, "storage": shared.masked(url) if url else "in memory"}


def study_name(cfg: ExperimentConfig) -> str:
    """The default study: one per experiment and config name."""
    return f"{cfg.tracking.experiment}-{cfg.name}"


class Search:
    """One worker's part of a (possibly shared) study under one MLflow parent run."""

    def __init__(self, base: ExperimentConfig, config: Path, overrides: list[str], total: int,
                 name: str, storage: Any) -> None:  # fmt: skip
        from ..tasks import get_task
        from . import study as shared

        self.base, self.config, self.overrides, self.total = base, config, overrides, total
        task = get_task(base.task.name, base.task.options)
        self.metric, self.mode = task.headline.metric, task.headline.mode
        pruner = shared.make_pruner(base.tune, base.train.epochs)
        direction = "maximize" if self.mode == "max" else "minimize"
        self.study, self.created = shared.open_study(storage, name, direction, pruner)

    def run(self, uri: str, experiment_id: str) -> dict[str, Any]:
        """Run trials until the study has its ``total``; summarise it on the parent run."""
        import mlflow
        import optuna

        from . import study as shared

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if self.created:
            active = mlflow.start_run(
                experiment_id=experiment_id, run_name=f"{self.base.name}-tune"
            )
            mlflow.log_params({f"space.{k}": v.model_dump_json()
                               for k, v in self.base.tune.space.items()})  # fmt: skip
            mlflow.set_tags({"kerasforge.study": self.study.study_name})
            self.study.set_user_attr(shared.PARENT_ATTR, active.info.run_id)
        else:
            active = mlflow.start_run(run_id=shared.wait_for_parent(self.study))
        ran = 0
        with active as parent:
            while (trial := shared.claim_trial(self.study, self.total, self.base.seed)) is not None:
                self._run_trial(trial, uri)
                ran += 1
            summary = self._summarise()
        return {**summary, "parent_run_id": parent.info.run_id, "trials_run_here": ran,
                "study": self.study.study_name}  # fmt: skip

    def _run_trial(self, trial: Any, uri: str) -> None:
        """Train one sampled config as a nested run; tell the study its value or its pruning."""
        import mlflow
        from optuna.trial import TrialState

        from ..training.train import train
        from .pruning import PruningCallback

        sampled = sample(trial, self.base.tune.space)
        extra = [_override(k, v) for k, v in sampled.items()]
        trial.set_user_attr("overrides", extra)
        # A sign of life before the trial's first epoch, which can be a minute away.
        shown = " ".join(f"{k}={_shown(v)}" for k, v in sampled.items())
        print(f"trial {trial.number + 1} of {self.total}: {shown}", flush=True)
        pruning = PruningCallback(trial, f"val_{self.metric}")
        try:
            cfg = load_config(self.config, [*self.overrides, *extra, *TRIAL_SETTINGS])
            result = train(cfg, extra_callbacks=[pruning])
        except BaseException:
            self.study.tell(trial, state=TrialState.FAIL)
            raise
        trial.set_user_attr("run_id", result.run_id)
        tags = {"kerasforge.trial": trial.number, "kerasforge.study": self.study.study_name,
                "kerasforge.pruned": str(pruning.pruned).lower()}  # fmt: skip
        client = mlflow.MlflowClient(uri)
        for key, value in tags.items():
            client.set_tag(result.run_id, key, str(value))
        if pruning.pruned:
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self.study.tell(trial, objective_value(
                {f"val_{self.metric}": pruning.values}, self.metric, self.mode))  # fmt: skip

    def _summarise(self) -> dict[str, Any]:
        """The best trial so far: its YAML written and logged, its value on the parent run."""
        import mlflow
        from optuna.trial import TrialState

        finished = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not finished:
            raise ConfigError(f"study {self.study.study_name!r} has no finished trial; see the "
                              "trials' errors above, or raise tune.startup_trials")  # fmt: skip
        best = self.study.best_trial
        best_cfg = load_config(self.config, [*self.overrides, *best.user_attrs["overrides"]])
        path = write_best(best_cfg, self.base.output_dir / "tune" / f"{self.base.name}-best.yaml")
        mlflow.log_metric(f"best_val_{self.metric}", best.value)
        mlflow.set_tags({"best_trial": best.number, "best_run_id": best.user_attrs["run_id"]})
        mlflow.log_artifact(str(path))
        pruned = self.study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
        return {"best_value": best.value, "best_trial": best.number, "config": path,
                "metric": f"val_{self.metric}", "finished": len(finished),
                "pruned": len(pruned)}  # fmt: skip


TRIAL_SETTINGS = ("export.enabled=false", "tracking.registry.enabled=false",
                  "train.control.resume=false")  # fmt: skip
"""Trials compare configs: they never export or register, and always start afresh."""


def write_best(cfg: ExperimentConfig, path: Path) -> Path:
    """The best trial's full resolved config, without its tune section, as YAML."""
    tree = cfg.to_dict()
    tree.pop("tune", None)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# written by `kerasforge tune`: the best trial's config\n"
        + yaml.safe_dump(tree, sort_keys=False)
    )
    return path


def launch_workers(
    config: Path,
    overrides: list[str],
    workers: int,
    *,
    trials: int | None = None,
    storage: str | None = None,
    study: str | None = None,
) -> str:
    """Run ``workers`` local ``kerasforge tune`` processes on one study; return its storage URL.

    The MLflow store, the experiment and the study's tables are created here once,
    before the workers start, so that they do not race to create them.

    Raises:
        ConfigError: the study's storage is not a database server every worker reaches.
    """
    import subprocess
    import sys

    from . import store as mlflow_store
    from . import study as shared
    from .run import tracking_uri

    base = load_config(config, overrides)
    uri = tracking_uri(base.tracking.uri, base.output_dir)
    url = shared.storage_url(storage, base.tune.storage, uri)
    if not shared.shared(url):
        raise ConfigError(
            f"{workers} tune workers need a study storage on a database server; received "
            f"{shared.masked(url) if url else 'none (the study would be in memory)'}: pass "
            "--storage postgresql+psycopg2://user:password@host:5432/db (the compose stack's "
            "PostgreSQL) or track to a PostgreSQL store; a SQLite study is one process's"
        )
    shared.open_storage(url)
    with mlflow_store.scoped_uris():
        mlflow_store.prepare(uri, base.tracking.experiment, base.output_dir / "mlartifacts")
    command = [sys.executable, "-m", "kerasforge.cli.main", "tune", "--config", str(config),
               "--storage", url, *(["--trials", str(trials)] if trials else []),
               *(["--study", study] if study else []),
               *(["--set", *overrides] if overrides else [])]  # fmt: skip
    procs = [subprocess.Popen(command) for _ in range(workers)]
    failed = [i for i, proc in enumerate(procs) if proc.wait() != 0]
    if failed:
        print(f"warning: tune worker(s) {failed} failed (output above); this process "
              "finishes the study's remaining trials", file=sys.stderr)  # fmt: skip
    return url


def publish_best(path: Path) -> Any:
    """Train the best trial's config with export on; print the run and the gate's verdict."""
    from ..training.summary import from_result, render
    from ..training.train import train

    result = train(load_config(path, ["export.enabled=true"]))
    print("\n".join(render(from_result(result))))  # its `release gate:` line is the verdict
    return result
