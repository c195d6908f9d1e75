"""One Optuna study shared by N processes or pods: its storage, parent run, trials and pruning.

A study lives in a database every worker reaches (the tracking PostgreSQL by
default), so ``kerasforge tune`` started N times with the same storage and
study name works on one search: the study's ``trials`` are shared, each trial
number runs once, the pruner compares trials across workers, and the first
worker's MLflow parent run (its id in the study's user attributes) holds every
trial's run. Without a shared database the study is in memory: one process.
"""

from __future__ import annotations

import time
from typing import Any

from ..config.tracking import TuneConfig
from ..errors import ConfigError

PARENT_ATTR = "mlflow_parent_run_id"
SCHEMA = "optuna"
"""PostgreSQL schema of the study tables: MLflow's database has its own ``alembic_version``."""
PARENT_WAIT_S = 120.0


def storage_url(explicit: str | None, configured: str | None, tracking_uri: str) -> str | None:
    """``--storage``, else ``tune.storage``, else the tracking store when it is PostgreSQL."""
    if explicit or configured:
        return explicit or configured
    return tracking_uri if tracking_uri.startswith("postgresql") else None


def shared(url: str | None) -> bool:
    """Whether several processes can work on a study at ``url`` (a database server)."""
    return url is not None and not url.startswith("sqlite")


def masked(url: str) -> str:
    """``url`` without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: say so with what was given
        return url.split("@")[-1]


def open_storage(url: str | None) -> Any:
    """Optuna's storage at ``url`` (``None``: in memory), reachable, tables created.

    Raises:
        ConfigError: the URL is malformed, its driver is missing, or its server is unreachable.
    """
    import sqlalchemy.exc

    if url is None:
        return None
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        kwargs["connect_args"] = {"connect_timeout": 10, "options": f"-csearch_path={SCHEMA}"}
    try:
        try:
            return _tables(url, kwargs)
        except sqlalchemy.exc.IntegrityError:  # pods creating the tables at once: one won
            return _tables(url, kwargs)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"tune storage {masked(url)}: its database driver is missing "
                          f"({exc}); pip install psycopg2-binary") from None  # fmt: skip
    except (sqlalchemy.exc.SQLAlchemyError, ValueError) as exc:
        reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
        raise ConfigError(
            f"tune storage {masked(url)} is unreachable or refused ({reason}); expected a "
            "running database, e.g. postgresql+psycopg2://user:password@host:5432/db; start it "
            "(make stack-up) or pass --storage / tune.storage with a reachable URL"
        ) from None


def _tables(url: str, engine_kwargs: dict[str, Any]) -> Any:
    import optuna

    if url.startswith("postgresql"):
        _create_schema(url)
    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)


def _create_schema(url: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 10})
    try:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    finally:
        engine.dispose()


def make_pruner(tune: TuneConfig, epochs: int) -> Any:
    """``tune.pruner`` as an Optuna pruner; steps are epochs."""
    import optuna

    if tune.pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=tune.startup_trials, n_warmup_steps=tune.warmup_epochs
        )
    if tune.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, tune.warmup_epochs),
                                              max_resource=max(epochs, 1))  # fmt: skip
    return optuna.pruners.NopPruner()


def open_study(storage: Any, name: str, direction: str, pruner: Any) -> tuple[Any, bool]:
    """Create the study, or load it when another worker did; ``(study, created_here)``.

    Creating is the one atomic step the storage offers, so the worker that creates
    the study is the one that opens the MLflow parent run.
    """
    import optuna

    try:
        study = optuna.create_study(storage=storage, study_name=name, direction=direction,
                                    pruner=pruner)  # fmt: skip
        return study, True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=storage, pruner=pruner)
    if study.direction.name.lower() != direction:
        raise ConfigError(f"study {name!r} already exists to {study.direction.name.lower()} "
                          f"its objective, this config would {direction} it; pass another "
                          "--study")  # fmt: skip
    return study, False


def wait_for_parent(study: Any, timeout_s: float = PARENT_WAIT_S) -> str:
    """The parent run id the creating worker records in the study."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = study.user_attrs.get(PARENT_ATTR)
        if found:
            return str(found)
        time.sleep(0.5)
    raise ConfigError(f"study {study.study_name!r} has no MLflow parent run after "
                      f"{timeout_s:.0f} s: the worker that created it stopped early; pass a new "
                      "--study")  # fmt: skip


def claim_trial(study: Any, total: int, seed: int) -> Any | None:
    """A new trial of ``study``, or ``None`` when its ``total`` trials are taken.

    Trial numbers are handed out atomically by the storage; a trial whose number
    comes after ``total`` live ones (running, finished or pruned) is surplus, told
    as failed with the user attribute ``surplus`` and never run. The sampler is
    seeded with ``seed + number``: workers draw different values, and a trial
    number draws the same ones again.
    """
    import optuna
    from optuna.trial import TrialState

    live = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
    if len(study.get_trials(deepcopy=False, states=live)) >= total:
        return None
    trial = study.ask()
    before = study.get_trials(deepcopy=False, states=live)
    if sum(t.number < trial.number for t in before) >= total:
        trial.set_user_attr("surplus", True)
        study.tell(trial, state=TrialState.FAIL)
        return None
    study.sampler = optuna.samplers.TPESampler(seed=seed + trial.number)
    return trial
