"""``kerasforge publish``, ``tune`` and ``runs list|compare|gc|replay``: MLflow's side of the CLI.

Added by :func:`kerasforge.pipelines.cli.add_commands`; importing this module
loads the standard library only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...cli.console import UsageError

DEFAULT_CONFIG = "configs/digits_cnn.yaml"


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``publish`` and ``runs`` to the ``kerasforge`` subcommands ``sub``."""
    pub = sub.add_parser(
        "publish", help="copy a registered MLflow model version into the TF Serving repository"
    )
    pub.add_argument("--model", required=True, help="registered model name")
    which = pub.add_mutually_exclusive_group()
    which.add_argument("--alias", help="registry alias (default: champion)")
    which.add_argument("--version", help="registry version number")
    pub.add_argument("--repository", default="artifacts/models", help="TF Serving model repository")
    _store_arguments(pub)
    pub.set_defaults(func=cmd_publish)

    tune = sub.add_parser("tune", help="search the config's tune.space with Optuna")
    tune.add_argument("--config", default=DEFAULT_CONFIG, help="experiment YAML with tune.space")
    tune.add_argument("--trials", type=int, default=None, help="trials (default: tune.trials)")
    tune.add_argument(
        "--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE", help="overrides"
    )
    _tune_sharing_arguments(tune)
    tune.set_defaults(func=cmd_tune)

    runs = sub.add_parser("runs", help="MLflow runs: list, compare, mark orphans, replay fallbacks")
    actions = runs.add_subparsers(dest="action", required=True, metavar="ACTION")
    gc = actions.add_parser("gc", help="mark runs left RUNNING by a killed training as KILLED")
    _store_arguments(gc)
    gc.add_argument(
        "--stale-after",
        type=float,
        default=None,
        metavar="HOURS",
        help="also mark runs of other hosts idle this long",
    )
    gc.add_argument("--dry-run", action="store_true", help="list, do not change")
    gc.set_defaults(func=cmd_gc)
    replay = actions.add_parser("replay", help="send a local tracking fallback to the server")
    replay.add_argument("folders", nargs="+", type=Path, help="<output_dir>/mlflow-fallback/<id>")
    replay.add_argument("--uri", default=None, help="tracking server (default: the run's own)")
    replay.set_defaults(func=cmd_replay)
    _add_view_commands(actions)


def _add_view_commands(actions: argparse._SubParsersAction) -> None:
    """``runs list`` and ``runs compare``: which run won, without the MLflow UI."""
    listing = actions.add_parser(
        "list", help="recent runs: test metric, baseline, gate verdict, model version"
    )
    _store_arguments(listing)
    listing.add_argument("--experiment", default=None, help="default: the config's")
    listing.add_argument("--limit", type=int, default=10, help="runs to show (default: 10)")
    listing.add_argument("--json", action="store_true", help="one JSON list, for scripts")
    listing.set_defaults(func=cmd_list)
    compare = actions.add_parser(
        "compare", help="two runs side by side: params that differ, metrics, gates, versions"
    )
    for run in ("a", "b"):
        compare.add_argument(run, metavar=run.upper(), help="run id (or 6+ chars), latest, best")
    _store_arguments(compare)
    compare.add_argument("--experiment", default=None, help="default: the config's")
    compare.add_argument("--all", action="store_true", help="show every param, not only differing")
    compare.add_argument("--json", action="store_true", help="one JSON object, for scripts")
    compare.set_defaults(func=cmd_compare)


def _store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="experiment YAML (store, names)")
    parser.add_argument("--uri", default=None, help="tracking URI (default: from the config)")


def _store(args: argparse.Namespace) -> tuple[str, str]:
    """The tracking URI and experiment name the command works on."""
    from ..config.experiment import load_config
    from .store import tracking_uri

    cfg = load_config(args.config)
    return args.uri or tracking_uri(cfg.tracking.uri, cfg.output_dir), cfg.tracking.experiment


def cmd_publish(args: argparse.Namespace) -> int:
    """Release the chosen version into ``<repository>/<model>/<N>/``; update models.config.

    The labels come from the registry's aliases (stable = champion, canary = the
    challenger), as after a training; ``tracking.registry.gate.on_fail`` of the
    config decides whether a challenger not asked for by name is served.
    """
    from ..config.experiment import load_config
    from .model_registry import publish_version

    uri, _ = _store(args)
    on_fail = load_config(args.config).tracking.registry.gate.on_fail
    try:
        released = publish_version(
            uri,
            args.model,
            Path(args.repository),
            alias=args.alias,
            version=args.version,
            on_fail=on_fail,
        )
    except LookupError as exc:
        raise UsageError(str(exc)) from None
    assert released.path is not None
    print(f"published {args.model} version {released.path.name}: {released.path}")
    print(released.note)
    print(f"models.config: {Path(args.repository) / 'models.config'}")
    return 0


def _tune_sharing_arguments(tune: argparse.ArgumentParser) -> None:
    tune.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="Optuna storage shared by workers, postgresql+psycopg2://... "
        "(default: tune.storage, else the tracking PostgreSQL, else in memory)",
    )
    tune.add_argument(
        "--study",
        default=None,
        metavar="NAME",
        help="study name (default: tune.study, else <experiment>-<name>)",
    )
    tune.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="local processes working on the one study (needs a shared storage)",
    )
    tune.add_argument(
        "--publish-best",
        action="store_true",
        help="then train the best config (export on) and send it through the release gate",
    )


def cmd_tune(args: argparse.Namespace) -> int:
    """Run the search (N local workers); print the best value and the runnable YAML written."""
    from ...cli.console import sign_of_life, start_tensorflow
    from ..config.experiment import load_config

    load_config(args.config, args.set)  # a bad config fails before TensorFlow starts
    if args.trials is not None and args.trials < 1:
        raise UsageError(f"--trials must be at least 1 (received {args.trials})")
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1 (received {args.workers})")
    storage = args.storage
    if args.workers > 1:  # the workers run the trials; this process then summarises the study
        from .tune import launch_workers

        storage = launch_workers(Path(args.config), args.set, args.workers, trials=args.trials,
                                 storage=storage, study=args.study)  # fmt: skip
    sign_of_life(f"tuning {args.config}")
    start_tensorflow()
    from .tune import tune

    best = tune(Path(args.config), args.set, args.trials, storage=storage, study=args.study)
    print("\n".join(tune_summary(best)))
    if args.publish_best:
        from .tune import publish_best

        publish_best(best["config"])
    return 0


def tune_summary(best: dict) -> list[str]:
    """What ``tune`` prints at the end: the study, the best trial, its run and config.

    The trial is counted from 1, as each trial's first line (``trial 1 of N: ...``) counts
    it; Optuna and the parent run's ``best_trial`` tag count from 0.
    """
    storage = best["storage"]
    where = storage if storage == "in memory" else f"in {storage}"
    number = best["best_trial"]
    return [
        f"study {best['study']} {where}: {best['finished']} finished, {best['pruned']} pruned, "
        f"{best['trials_run_here']} run by this process",
        f"best {best['metric']}: {best['best_value']:.4f} (trial {number + 1}; number {number} "
        "in Optuna and MLflow)",
        f"parent run: {best['parent_run_id']}",
        f"best config: {best['config']}  (kerasforge train --config {best['config']})",
    ]


def cmd_gc(args: argparse.Namespace) -> int:
    """Mark orphaned RUNNING runs KILLED; print their ids."""
    from .store import collect_orphans

    uri, experiment = _store(args)
    stale = args.stale_after * 3600 if args.stale_after is not None else None
    marked = collect_orphans(uri, experiment, stale_after_s=stale, dry_run=args.dry_run)
    verb = "would mark" if args.dry_run else "marked"
    for run_id in marked:
        print(f"{verb} KILLED: {run_id}")
    print(f"{len(marked)} orphaned run(s) in experiment {experiment!r}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Send each fallback folder to its tracking server."""
    from .fallback import META, replay

    for folder in args.folders:
        if not (folder / META).is_file():
            raise UsageError(
                f"{str(folder)!r} is not a tracking fallback folder (no {META}); pass "
                "<output_dir>/mlflow-fallback/<id> as printed by the training's warning"
            )
        try:
            done = replay(folder, args.uri)
        except RuntimeError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            continue
        print(f"replayed {done['records']} record(s) of {folder} into run {done['run_id']}")
        for note in done["notes"]:
            print(f"warning: {note}", file=sys.stderr)
    return 0


def _opened(args: argparse.Namespace) -> tuple[object, str, str]:
    """The MLflow client, the experiment's id and name (``--experiment``, else the config's)."""
    from ...cli.console import quiet_native_logs
    from .runs_view import RunsError, open_experiment

    uri, experiment = _store(args)
    experiment = args.experiment or experiment
    try:
        with quiet_native_logs():
            client, experiment_id = open_experiment(uri, experiment)
    except RunsError as exc:
        raise UsageError(str(exc)) from None
    return client, experiment_id, experiment


def cmd_list(args: argparse.Namespace) -> int:
    """Print the experiment's most recent runs (a table, or JSON with ``--json``)."""
    import json

    from .runs_view import list_table, recent_runs

    if args.limit < 1:
        raise UsageError(f"--limit must be at least 1 (received {args.limit})")
    client, experiment_id, experiment = _opened(args)
    rows = recent_runs(client, experiment_id, args.limit)
    if not rows:
        raise UsageError(f"no runs in experiment {experiment!r} yet: train one (`make train`)")
    print(json.dumps([row.summary() for row in rows], indent=2) if args.json else list_table(rows))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Print runs A and B side by side (or JSON with ``--json``)."""
    import json

    from .runs_view import RunsError, comparison, comparison_text, find_run

    client, experiment_id, _ = _opened(args)
    try:
        a, b = (find_run(client, experiment_id, ref) for ref in (args.a, args.b))
    except RunsError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(comparison(a, b, args.all), indent=2))
    elif a.run_id == b.run_id:  # after a first training, `best latest` is that run twice
        print(f"{args.a} and {args.b} are the same run, {a.run_id[:8]}: nothing to compare; "
              "train again for a second run, or name another (`kerasforge runs list`)")  # fmt: skip
    else:
        print(comparison_text(a, b, args.all))
    return 0
