"""``kerasforge monitor`` as a library call: live traffic against a version's training data.

:func:`monitor` loads the version (``serving.loading``), reads its training statistics
(``statistics.json`` beside the card), reads the live traffic (``traffic.py``), summarises
it on the training bins (``serving.monitoring.window.LiveWindow``), writes the report
(``report.py``) and logs it to MLflow (``tracking.py``).

Example:
    >>> found = monitor("digits_cnn", logs=Path("artifacts/request_logs"))
    >>> found.monitored.report.verdict
    'alert'
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ...serving.card import ModelCard
from ...serving.loading import LocalModel, load
from ...serving.monitoring.statistics import read_statistics
from ...serving.monitoring.window import LiveWindow
from ..errors import DataError
from .report import Monitored, write_report
from .traffic import Traffic, read_data, read_logs

DEFAULT_REPOSITORY = Path("artifacts/models")
MAX_ROWS = 200_000
"""Live rows summarised at most (the last ones)."""


@dataclass(frozen=True)
class Outcome:
    """One monitor run: the report, its folder, and the MLflow run (``None``: not logged)."""

    monitored: Monitored
    out: Path
    files: list[Path]
    mlflow_run: str | None
    traffic: Traffic


def open_version(
    model: str, version: int | None, label: str | None, repository: Path
) -> LocalModel:
    """The published version ``model`` / ``version`` or ``label`` (default: the served one)."""
    return load(model, version, label, repository)


def live_traffic(found: LocalModel, logs: Path | None, data: str | None) -> Traffic:
    """The logged requests under ``logs``, or the files ``data`` names with the outputs."""
    return read_logs(logs, found) if logs is not None else read_data(str(data), found)


def monitor(
    found: LocalModel,
    traffic: Traffic,
    *,
    out: Path | None = None,
    tracking_uri: str | None = None,
) -> Outcome:
    """Compare ``traffic`` with ``found``'s training statistics; write and log the report.

    Args:
        out: the report folder (default ``<repository>/../monitor/<model>-<version>-<time>``).
        tracking_uri: the MLflow store to log to; ``None``: not logged.

    Raises:
        DataError: the version has no card or no training statistics.
    """
    card = _card(found)
    if not card.statistics:
        raise DataError(f"{found.path} has no training statistics (statistics.json); retrain "
                        "with export.statistics: true to monitor it")  # fmt: skip
    training = read_statistics(found.path / card.statistics)
    window = LiveWindow(training, size=MAX_ROWS, vocabulary=_vocabulary(card))
    window.add(traffic.inputs[-MAX_ROWS:], {k: v[-MAX_ROWS:] for k, v in traffic.outputs.items()})
    live = window.statistics()
    monitored = Monitored(
        found.name, found.version, traffic.source, training, live,
        window.report(), dict(traffic.skipped),
    )  # fmt: skip
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = out or found.path.parents[2] / "monitor" / f"{found.name}-{found.version}-{stamp}"
    files = write_report(monitored, out)
    run = None
    if tracking_uri:
        from .tracking import log_report

        artifacts = found.path.parents[2] / "mlartifacts"
        run = log_report(monitored, out, tracking_uri, card.run_id, artifacts)
    return Outcome(monitored, out, files, run, traffic)


def _card(found: LocalModel) -> ModelCard:
    if found.card is None:
        raise DataError(f"{found.path} has no model card (kerasforge.json); republish it")
    return found.card


def _vocabulary(card: ModelCard) -> list[str] | None:
    tokenizer = card.preprocessing.get("tokenizer") or {}
    return tokenizer.get("vocabulary")
