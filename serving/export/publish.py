"""Publish a trained Keras model to a TF Serving model repository.

The SavedModel exports the signatures of the model's task
(``serving.export.saved_model``, ``serving.export.signatures``), taking raw inputs
(preprocessing is inside the model). Given training data (``ExportData``), a publish
also writes TF Serving warm-up records (``serving.export.warmup``), passes the
validation gate (``serving.export.gate``: a fresh process replays them against the
Keras model), checks for skew (``serving.export.skew``), converts the TFLite
variants and writes the parity report (``serving.export.edge_model``); the most
widely loadable variant within the accuracy budget becomes ``model.tflite``
(``parity.choose_edge_model``). The model card ``kerasforge.json`` sits beside it
all. Each publish writes a new version, ``highest + 1``, into a temporary directory
first and renames it into place, so TF Serving (and the embedded server) never see a
half-written version; the TF Serving configs in the repository root are regenerated
afterwards (``serving.export.tf_serving_config``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .. import repository as repository_layout
from ..card import CardError, ModelCard, SignatureInfo, read_card
from ..card import write_card as _write_card
from ..errors import ServingError
from ..monitoring.statistics import find_statistics
from ..repository import TFLITE_FILE
from .edge_model import write_tflite
from .gate import prepare as start_gate
from .gate import validate
from .parity import ParityReport
from .saved_model import write_saved_model
from .skew import with_statistics
from .text import with_tokenizer
from .tf_serving_config import write_configs
from .tflite import ExportData, TFLiteOptions, file_size
from .warmup import write_warmup


@dataclass(frozen=True)
class Published:
    """Where one publish landed."""

    name: str
    version: int
    path: Path
    tflite_path: Path | None
    card: ModelCard
    parity: ParityReport | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time per step: ``SavedModel``, ``gate`` (warm-up and replay), ``TFLite``
    (the variants and the parity report)."""


Progress = Callable[[str], None]
"""Where a publish reports each step as it finishes (one line each)."""


def print_progress(line: str) -> None:
    """The default :data:`Progress`: the line on standard output, at once."""
    print(line, flush=True)


def quiet(line: str) -> None:
    """A :data:`Progress` that reports nothing."""


def _installed(*packages: str) -> dict[str, str]:
    found = {}
    for package in packages:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found


def publish(
    model: Any,
    repository: str | Path,
    name: str,
    *,
    card: ModelCard,
    tflite: bool | TFLiteOptions = True,
    data: ExportData | None = None,
    progress: Progress = print_progress,
    statistics: str | Path | None = None,
) -> Published:
    """Publish ``model`` as the next version of ``name`` in ``repository``, reporting each
    step (SavedModel, validation gate, each TFLite variant, parity) to ``progress``.

    Args:
        model: a built Keras model taking raw inputs.
        repository: the model repository root (TF Serving's ``--model_base_path`` parent).
        name: the model's name in the repository and in request URLs.
        card: the model card from training; its task picks the signatures. The
            published copy adds the name, version, signatures and library versions.
        tflite: write the TFLite variants (``True``: all, budget 1 point; or
            ``TFLiteOptions``) and the edge model ``model.tflite`` beside the SavedModel.
        data: training-split and test-split examples (``ExportData``): the
            warm-up records, int8 calibration and the parity report need them;
            without, no warm-up is written, int8 is reported as not converted
            and float32 becomes the edge model.
        statistics: the run's ``statistics.json``, copied beside the card (its
            ``statistics`` field); with ``data``, the export is first checked for skew
            against the Keras model (``serving.export.skew``).

    Returns:
        The published name, version, paths and card.
    """
    model_dir, staging = _new_staging(repository, name)
    seconds: dict[str, float] = {}
    try:
        card, signatures = _write_and_gate(model, staging, name, card, data, progress, seconds)
        card = with_statistics(staging, model, card, statistics, data, signatures)
        tflite_path, section, report = _write_edge(
            model, staging, card, tflite, data, progress, seconds
        )
        card = _published_card(card, name, signatures, section)
        version, final = move_into_place(staging, model_dir, card)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    write_configs(Path(repository), published=name)
    tflite_final = final / TFLITE_FILE if tflite_path else None
    card = card.model_copy(update={"version": version})
    return Published(name, version, final, tflite_final, card, report, seconds)


def _new_staging(repository: str | Path, name: str) -> tuple[Path, Path]:
    """The model's folder (made if new, stale staging folders removed) and a fresh
    staging folder inside it."""
    model_dir = Path(repository) / repository_layout.check_model_name(name)
    repository_layout.clean_stale_staging(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    return model_dir, Path(tempfile.mkdtemp(prefix=".staging-", dir=model_dir))


def _write_and_gate(
    model: Any,
    staging: Path,
    name: str,
    card: ModelCard,
    data: ExportData | None,
    progress: Progress,
    seconds: dict[str, float],
) -> tuple[ModelCard, dict[str, SignatureInfo]]:
    """The SavedModel (the card gains the tokenizer), then, given ``data``, the warm-up
    records and the validation gate that replays them; each step timed in ``seconds``."""
    if data is not None:
        start_gate()  # its TensorFlow import runs while the SavedModel is written
    card = with_tokenizer(card, model)
    begun = time.monotonic()
    signatures = write_saved_model(model, staging, card)
    seconds["SavedModel"] = time.monotonic() - begun
    progress(
        f"export: SavedModel written ({file_size(_folder_bytes(staging))}, "
        f"{len(signatures)} signatures) in {seconds['SavedModel']:.1f} s"
    )
    if data is not None:  # warm-up records, then the gate replays them
        begun = time.monotonic()
        write_warmup(staging, name, signatures, data.representative)
        validate(staging, model, card)
        seconds["gate"] = time.monotonic() - begun
        progress(
            "export: validation gate passed (warm-up requests replayed against the Keras "
            f"model) in {seconds['gate']:.1f} s"
        )
    return card, signatures


def _write_edge(
    model: Any,
    staging: Path,
    card: ModelCard,
    tflite: bool | TFLiteOptions,
    data: ExportData | None,
    progress: Progress,
    seconds: dict[str, float],
) -> tuple[Path | None, dict[str, Any], ParityReport | None]:
    """:func:`~.edge_model.write_tflite` when ``tflite`` asks for it, timed in ``seconds``."""
    if not tflite:
        return None, {}, None
    options = tflite if isinstance(tflite, TFLiteOptions) else TFLiteOptions()
    begun = time.monotonic()
    written = write_tflite(model, staging, card, options, data, progress)
    seconds["TFLite"] = time.monotonic() - begun
    return written


def _published_card(
    card: ModelCard, name: str, signatures: dict[str, SignatureInfo], tflite: dict[str, Any]
) -> ModelCard:
    """The card as published: name, signatures, ``tflite`` section, time, library versions."""
    return card.model_copy(
        update={
            "model_name": name,
            "signatures": signatures,
            "tflite": tflite,
            "created": time.time(),
            "versions": _installed("kerasforge", "tensorflow", "keras"),
        }
    )


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def publish_checkpoint(
    checkpoint: str | Path, repository: str | Path, name: str, *, tflite: bool = True
) -> Published:
    """Publish a ``.keras`` checkpoint written by ``kerasforge train`` as a new version.

    The run folder's model card (``<run>/kerasforge.json``, beside ``checkpoints/``)
    travels with it and names the task, hence the signatures.

    Raises:
        ServingError: the checkpoint is missing, is not a Keras model file, or
            has no readable model card beside its run.
    """
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise ServingError(f"checkpoint {str(checkpoint)!r} not found; pass a .keras file")
    try:
        card = read_card(checkpoint.parent.parent)
    except CardError as exc:
        raise ServingError(f"cannot republish {str(checkpoint)!r}: {exc}") from None
    from ...models.registry import load_model  # registers the zoo's custom layers

    try:
        model = load_model(checkpoint)
    except (ValueError, OSError, TypeError) as exc:
        raise ServingError(
            f"cannot load {str(checkpoint)!r} as a Keras model ({exc}); pass a .keras file "
            "written by `kerasforge train` (artifacts/runs/<run>/checkpoints/best.keras)"
        ) from None
    statistics = find_statistics(checkpoint.parent.parent)
    return publish(model, repository, name, card=card, tflite=tflite, statistics=statistics)


def run_model_name(checkpoint: str | Path) -> str:
    """The model name the checkpoint's run publishes under: ``model_name`` on the run
    folder's model card (beside ``checkpoints/``), the config's ``export.model_name``.

    Raises:
        ServingError: no readable run card names one; pass ``--name``.
    """
    run_dir = Path(checkpoint).parent.parent
    try:
        name = read_card(run_dir).model_name
    except CardError as exc:
        name, reason = None, f"({exc})"
    else:
        reason = "(it names no model; written before kerasforge recorded it)"
    if not name:
        raise ServingError(
            f"no model name for {str(checkpoint)!r}: the run's model card in {str(run_dir)!r} "
            f"is missing or unreadable {reason}; pass --name NAME"
        )
    return name


def move_into_place(staging: Path, model_dir: Path, card: ModelCard) -> tuple[int, Path]:
    """Rename ``staging`` to the next free version; retry if another publish won the race."""
    for _ in range(100):
        taken = [
            int(p.name) for p in model_dir.iterdir() if repository_layout.is_version_name(p.name)
        ]
        version = max(taken, default=0) + 1
        _write_card(staging, card.model_copy(update={"version": version}))
        final = model_dir / str(version)
        try:
            os.mkdir(final)  # claim the number; fails if another process has it
        except FileExistsError:
            continue
        os.replace(staging, final)  # atomic: replaces the empty claimed directory
        return version, final
    raise RuntimeError(f"could not claim a new version under {model_dir} after 100 tries")
