"""Publish a trained Keras model to a TF Serving model repository.

The SavedModel exports the signatures of the model's task (``serving.export.signatures``),
taking raw inputs (preprocessing is inside the model). Given training data
(``ExportData``), a publish also writes TF Serving warm-up records
(``serving.export.warmup``), passes the validation gate (``serving.export.gate``: a fresh
process replays them against the Keras model), converts the TFLite variants
(``serving.export.tflite``) and writes the parity report (``serving.export.parity``); the
most widely loadable variant within the accuracy budget becomes ``model.tflite``
(``parity.choose_edge_model``). The model
card ``kerasforge.json`` sits beside it all. Each publish writes a new version,
``highest + 1``, into a temporary directory first and renames it into place,
so TF Serving (and the embedded server) never see a half-written version; the
TF Serving configs in the repository root are regenerated afterwards
(``serving.export.tf_serving_config``).
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

import numpy as np

from .. import repository as repository_layout
from ..card import (
    CardError,
    Headline,
    ModelCard,
    SignatureInfo,
    TensorInfo,
    read_card,
)
from ..card import write_card as _write_card
from ..errors import ServingError
from ..monitoring.statistics import find_statistics
from ..repository import TFLITE_FILE
from ..wire import PREDICT_METHOD
from .contracts import contract_for, endpoints
from .gate import prepare as start_gate
from .gate import validate
from .parity import (
    ParityReport,
    choose_edge_model,
    compare,
    p50_ms,
    score,
    tflite_row,
)
from .signatures import (
    DEFAULT_SIGNATURE,
    ENCODED_IMAGES,
    PIXELS_SIGNATURE,
    Endpoint,
    write_method_names,
)
from .skew import with_statistics
from .text import with_tokenizer
from .tf_serving_config import write_configs
from .tflite import ExportData, TFLiteOptions, Variant, convert_variants, file_size
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


def write_saved_model(model: Any, path: str | Path, card: ModelCard) -> dict[str, SignatureInfo]:
    """Export ``model`` as a SavedModel with the signatures of ``card.task``.

    Returns:
        The card's description of each signature (method, named inputs and outputs).
    """
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    described = {}
    found = endpoints(card, model)
    if card.image_input == ENCODED_IMAGES and PIXELS_SIGNATURE not in found:
        raise ServingError(
            f"export.image_input: 'encoded' is not offered by task {card.task!r} (its "
            "serving_default takes the raw input); set export.image_input: pixels"
        )
    for name, endpoint in found.items():
        traced = archive.add_endpoint(
            name=name, fn=endpoint.fn, input_signature=endpoint.input_signature
        )
        described[name] = describe(endpoint, traced.get_concrete_function())
    archive.write_out(str(path), verbose=False)
    methods = {n: e.method_name for n, e in found.items() if e.method_name != PREDICT_METHOD}
    if methods:
        write_method_names(Path(path), methods)
    return described


def describe(endpoint: Endpoint, concrete: Any) -> SignatureInfo:
    """Method, named inputs (with the endpoint's facts) and outputs of one endpoint.

    ``concrete`` is the endpoint as the archive traced it, so nothing is traced twice.
    """
    facts = endpoint.input_facts or ({},) * len(endpoint.input_signature)
    inputs = [
        TensorInfo(name=s.name, dtype=s.dtype.name, shape=s.shape.as_list(), **f)
        for s, f in zip(endpoint.input_signature, facts, strict=True)
    ]
    outputs = [
        TensorInfo(name=k, dtype=t.dtype.name, shape=t.shape.as_list())
        for k, t in sorted(concrete.structured_outputs.items())
    ]
    return SignatureInfo(
        method_name=endpoint.method_name,
        description=endpoint.description,
        inputs=inputs,
        outputs=outputs,
        example_features=list(endpoint.example_features),
    )


def write_tflite(
    model: Any,
    staging: Path,
    card: ModelCard,
    options: TFLiteOptions,
    data: ExportData | None,
    progress: Progress = quiet,
) -> tuple[Path | None, dict[str, Any], ParityReport | None]:
    """Convert the variants, measure parity, publish the edge model as ``model.tflite``;
    each variant and the parity report are reported to ``progress`` as they finish.

    Returns:
        The edge model's path (``None`` when no variant qualifies), the card's
        ``tflite`` section, and the parity report (``None`` without test data).
    """
    variants = convert_variants(
        staging, staging / "tflite", options.variants, data, card, progress=progress
    )
    begun = time.monotonic()
    report = parity_report(model, staging, card, variants, options, data) if data else None
    if report is not None:
        report.write(staging)
        edge = report.edge_model
        progress(
            f"export: parity report on {report.examples} test examples: edge model {edge} "
            f"({time.monotonic() - begun:.1f} s)"
        )
    else:  # nothing to measure against: float32 is the only variant exact by construction
        edge = "float32" if variants.get("float32", Variant("", None)).path else None
    section: dict[str, Any] = {
        "edge_model": edge,
        "edge_reason": report.edge_reason if report else edge and f"{edge}: exact, no test data",
        "budget_points": options.budget,
        "variants": {name: v.card_facts() for name, v in variants.items()},
    }
    if edge is None:
        return None, section, report
    chosen = variants[edge]
    assert chosen.path is not None
    shutil.copyfile(chosen.path, staging / TFLITE_FILE)
    shutil.copyfile(chosen.path.with_suffix(".json"), (staging / TFLITE_FILE).with_suffix(".json"))
    return staging / TFLITE_FILE, section, report


def parity_report(
    model: Any,
    saved_model_dir: Path,
    card: ModelCard,
    variants: dict[str, Variant],
    options: TFLiteOptions,
    data: ExportData,
) -> ParityReport:
    """Keras vs the SavedModel vs each TFLite variant on the test split (``export.parity``).

    Compared over the raw input's signature (``serving_pixels`` where ``serving_default``
    takes encoded images), the one the TFLite variants convert.
    """
    import tensorflow as tf

    text = np.asarray(data.x_test).dtype.kind in "OSU"
    x, y = np.asarray(data.x_test, dtype=object if text else "float32"), np.asarray(data.y_test)
    found = endpoints(card, model)
    raw = PIXELS_SIGNATURE if PIXELS_SIGNATURE in found else DEFAULT_SIGNATURE
    endpoint = found[raw]
    reference = {k: v.numpy() for k, v in endpoint.fn(tf.constant(x)).items()}
    headline = card.headline or Headline(metric="metric", mode="max")
    scale = contract_for(card.task).score_scale(card, x, y)
    report = ParityReport(
        headline.metric,
        headline.mode,
        options.budget,
        score(card.task, y, reference, scale),
        len(x),
    )
    signature = tf.saved_model.load(str(saved_model_dir)).signatures[raw]
    input_name = endpoint.input_signature[0].name

    def served(batch: np.ndarray) -> dict[str, np.ndarray]:
        return {k: v.numpy() for k, v in signature(**{input_name: tf.constant(batch)}).items()}

    row = compare("saved_model", card.task, reference, served(x), y, scale)
    row.size_bytes = sum(f.stat().st_size for f in _saved_model_files(saved_model_dir))
    row.p50_ms, row.verdict = p50_ms(served, x[:1]), "served by TF Serving"
    report.rows.append(row)
    report.rows.extend(tflite_row(v, card.task, reference, x, y, scale) for v in variants.values())
    choose_edge_model(report, headline.mode)
    return report


def _saved_model_files(folder: Path) -> list[Path]:
    return [folder / "saved_model.pb", *(folder / "variables").glob("*")]


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
    model_dir = Path(repository) / repository_layout.check_model_name(name)
    repository_layout.clean_stale_staging(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=model_dir))
    seconds: dict[str, float] = {}
    try:
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
        card = with_statistics(staging, model, card, statistics, data, signatures)
        tflite_path, section, report = None, {}, None
        if tflite:
            options = tflite if isinstance(tflite, TFLiteOptions) else TFLiteOptions()
            begun = time.monotonic()
            tflite_path, section, report = write_tflite(
                model, staging, card, options, data, progress
            )
            seconds["TFLite"] = time.monotonic() - begun
        card = card.model_copy(
            update={
                "model_name": name,
                "signatures": signatures,
                "tflite": section,
                "created": time.time(),
                "versions": _installed("kerasforge", "tensorflow", "keras"),
            }
        )
        version, final = move_into_place(staging, model_dir, card)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    write_configs(Path(repository), published=name)
    tflite_final = final / TFLITE_FILE if tflite_path else None
    card = card.model_copy(update={"version": version})
    return Published(name, version, final, tflite_final, card, report, seconds)


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
