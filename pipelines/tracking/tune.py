"""Hyperparameter search with Optuna: each trial a nested MLflow run under one parent.

The space is the config's ``tune.space``: dotted config keys with ``choices``
or a ``low``..``high`` range. Each trial trains the config with the sampled
overrides (export off) and is judged by the task's headline metric on the
validation split (best epoch). The best trial's config is written as a
runnable YAML: ``kerasforge train --config <it>``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ..config.experiment import ExperimentConfig, load_config
from ..config.tracking import ParamSpace


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


def objective_value(history: dict[str, list[float]], metric: str, mode: str) -> float:
    """The best epoch's validation ``metric`` (``val_<metric>``)."""
    values = history[f"val_{metric}"]
    return max(values) if mode == "max" else min(values)


def tune(config: Path, overrides: list[str], trials: int | None = None) -> dict[str, Any]:
    """Search ``tune.space`` of the config; return the best trial and the YAML written.

    Raises:
        ConfigError: the config declares no space, or a sampled value is refused.
    """
    from ..errors import ConfigError
    from . import store as mlflow_store
    from .run import tracking_uri

    base = load_config(config, overrides)
    if not base.tune.space:
        raise ConfigError(
            f"config {str(config)!r} declares no tune.space; add e.g. tune: {{space: "
            "{train.learning_rate: {low: 0.0001, high: 0.01, log: true}}}"
        )
    uri = tracking_uri(base.tracking.uri, base.output_dir)
    with mlflow_store.scoped_uris():
        experiment_id = mlflow_store.prepare(
            uri, base.tracking.experiment, base.output_dir / "mlartifacts"
        )
        return _search(base, config, overrides, trials, uri, experiment_id)


def _search(
    base: ExperimentConfig,
    config: Path,
    overrides: list[str],
    trials: int | None,
    uri: str,
    experiment_id: str,
) -> dict[str, Any]:
    """The Optuna study under one parent run; each trial a nested training run."""
    import mlflow
    import optuna

    from ..tasks import get_task
    from ..training.train import train

    task = get_task(base.task.name, base.task.options)
    metric, mode = task.headline.metric, task.headline.mode
    study = optuna.create_study(
        direction="maximize" if mode == "max" else "minimize",
        sampler=optuna.samplers.TPESampler(seed=base.seed),
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        chosen = sample(trial, base.tune.space)
        extra = [_override(k, v) for k, v in chosen.items()]
        cfg = load_config(config, [*overrides, *extra, "export.enabled=false",
                                   "tracking.registry.enabled=false"])  # fmt: skip
        result = train(cfg)  # its run nests under the active parent run
        mlflow.MlflowClient(uri).set_tag(result.run_id, "kerasforge.trial", str(trial.number))
        value = _trial_value(uri, result.run_id, metric, mode)
        trial.set_user_attr("overrides", extra)
        trial.set_user_attr("run_id", result.run_id)
        return value

    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{base.name}-tune") as parent:
        mlflow.log_params({f"space.{k}": v.model_dump_json() for k, v in base.tune.space.items()})
        study.optimize(objective, n_trials=trials or base.tune.trials)
        best = study.best_trial
        best_cfg = load_config(config, [*overrides, *best.user_attrs["overrides"]])
        path = write_best(best_cfg, base.output_dir / "tune" / f"{base.name}-best.yaml")
        mlflow.log_metric(f"best_val_{metric}", best.value)
        mlflow.set_tags({"best_trial": best.number, "best_run_id": best.user_attrs["run_id"]})
        mlflow.log_artifact(str(path))
    return {"best_value": best.value, "best_trial": best.number, "config": path,
            "parent_run_id": parent.info.run_id, "metric": f"val_{metric}"}  # fmt: skip


def _trial_value(uri: str, run_id: str, metric: str, mode: str) -> float:
    """The trial's objective: the best epoch's validation headline, from its MLflow run."""
    from mlflow.tracking import MlflowClient

    history = MlflowClient(uri).get_metric_history(run_id, f"val_{metric}")
    return objective_value({f"val_{metric}": [m.value for m in history]}, metric, mode)


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
