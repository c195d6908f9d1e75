"""``kerasforge monitor``: a drift report of logged requests or a data file against the
training data of the model version that served them; ``--to-dataset`` turns the logged
requests into training data.

Exit status: 0 when no feature alerts (``ok``, ``warn`` or ``no_data``), 3 when some
feature alerts (:data:`ALERT_EXIT`), 2 for a usage or data error (one line). Importing
this module loads the standard library only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ...cli.console import UsageError, sign_of_life, start_tensorflow

ALERT_EXIT = 3
"""``kerasforge monitor``'s exit status when some feature's verdict is ``alert``."""


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``monitor`` to the ``kerasforge`` subcommands ``sub``."""
    cmd = sub.add_parser(
        "monitor",
        help="drift report of request logs or a data file against a model version's "
        f"training data (exit {ALERT_EXIT} on an alert)",
    )
    cmd.add_argument("--model", required=True, help="the model's name in the repository")
    which = cmd.add_mutually_exclusive_group()
    which.add_argument("--version", type=int, help="a version number (default: the served one)")
    which.add_argument("--label", help="a version label of models.config (stable, canary)")
    cmd.add_argument("--repository", default="artifacts/models", help="the model repository")
    source = cmd.add_mutually_exclusive_group(required=True)
    source.add_argument("--logs", help="folder (or file) of PredictionLog TFRecords")
    source.add_argument("--data", help="a data file, image folder or glob a training source reads")
    cmd.add_argument(
        "--out", help="report folder (default: artifacts/monitor/<model>-<version>-<time>)"
    )
    cmd.add_argument("--to-dataset", metavar="DIR", help="with --logs: write the logged inputs "
                     "as a tfrecord source and a labels.csv to fill in, into DIR")  # fmt: skip
    cmd.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI, "
                     "else mlflow.db beside the repository)")  # fmt: skip
    cmd.add_argument("--no-mlflow", action="store_true", help="do not log the report to MLflow")
    cmd.set_defaults(func=cmd_monitor)


def cmd_monitor(args: argparse.Namespace) -> int:
    """Check the arguments, then write (and log) the report and print one line per feature."""
    repository = Path(args.repository)
    if args.to_dataset and not args.logs:
        raise UsageError("monitor: --to-dataset turns logged requests into data; pass --logs DIR")
    if args.logs and not Path(args.logs).exists():
        raise UsageError(f"monitor: no request logs at {args.logs!r}; the server writes them "
                         "only for a model whose models.config entry has a logging_config "
                         "(README: Request logging): pass the folder of its filename_prefix, "
                         "or --data FILE to check a data file instead")  # fmt: skip
    if not (repository / args.model).is_dir():
        raise UsageError(f"monitor: no model {args.model!r} in {str(repository)!r}; pass "
                         "--repository or the name of a published model")  # fmt: skip
    traffic = f"the request logs in {args.logs}" if args.logs else args.data
    sign_of_life(f"monitor: {traffic} against {args.model}'s training data")
    start_tensorflow()
    from ...serving.errors import ServingError
    from ...serving.monitoring.statistics import StatisticsError
    from ..errors import KerasforgeError
    from ..tracking.store import tracking_uri
    from .monitor import live_traffic, monitor, open_version

    uri = None if args.no_mlflow else tracking_uri(args.tracking_uri, repository.parent)
    try:
        found = open_version(args.model, args.version, args.label, repository)
        traffic = live_traffic(found, Path(args.logs) if args.logs else None, args.data)
        outcome = monitor(
            found, traffic, out=Path(args.out) if args.out else None, tracking_uri=uri
        )
    except (ServingError, StatisticsError, KerasforgeError) as exc:
        raise UsageError(f"monitor: {exc}") from None
    print("\n".join(_summary(outcome)), flush=True)
    if args.to_dataset:
        from .dataset import write_dataset

        try:
            written = write_dataset(traffic, found.card, Path(args.to_dataset))
        except KerasforgeError as exc:
            raise UsageError(f"monitor: {exc}") from None
        print(f"dataset: {written.rows} rows in {written.records}; fill in the label column of "
              f"{written.labels}, then add to your config:\n{written.snippet}", end="")  # fmt: skip
    return ALERT_EXIT if outcome.monitored.report.alerts() else 0


def _summary(outcome: object) -> list[str]:
    from .report import verdict_lines

    found = outcome.monitored  # type: ignore[attr-defined]
    report = found.report
    lines = [f"{found.model} v{found.version}: {report.verdict} on {report.live_rows} live rows "
             f"({found.source})", *verdict_lines(report)]  # fmt: skip
    lines.append(f"report: {outcome.out / 'report.md'}")  # type: ignore[attr-defined]
    if outcome.mlflow_run:  # type: ignore[attr-defined]
        lines.append(f"mlflow: run {outcome.mlflow_run} in {found.model}-monitoring")  # type: ignore[attr-defined]
    return lines
