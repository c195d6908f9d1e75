"""Publish a trained Keras model to a TF Serving model repository.

The SavedModel exports the signatures of the model's task (``serving.signatures``),
taking raw inputs (preprocessing is inside the model). A ``model.tflite`` and
the model card ``kerasforge.json`` sit beside it in the version directory. Each
publish writes a new version, ``highest + 1``, into a temporary directory first
and renames it into place, so TF Serving (and the embedded server) never see a
half-written version.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from kerasforge.serving import repository as repository_layout
from kerasforge.serving.card import CardError, ModelCard, SignatureInfo, TensorInfo, read_card
from kerasforge.serving.card import write_card as _write_card
from kerasforge.serving.errors import ServingError
from kerasforge.serving.repository import TFLITE_FILE
from kerasforge.serving.signatures import Endpoint, endpoints


@dataclass(frozen=True)
class Published:
    """Where one publish landed."""

    name: str
    version: int
    path: Path
    tflite_path: Path | None
    card: ModelCard


def write_saved_model(model: Any, path: str | Path, card: ModelCard) -> dict[str, SignatureInfo]:
    """Export ``model`` as a SavedModel with the signatures of ``card.task``.

    Returns:
        The card's description of each signature (named inputs and outputs).
    """
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    described = {}
    for name, endpoint in endpoints(card.task, model).items():
        archive.add_endpoint(name=name, fn=endpoint.fn, input_signature=endpoint.input_signature)
        described[name] = describe(endpoint, card)
    archive.write_out(str(path), verbose=False)
    return described


def describe(endpoint: Endpoint, card: ModelCard) -> SignatureInfo:
    """Named inputs and outputs of one endpoint, with the data's facts on the raw input."""
    import tensorflow as tf

    concrete = tf.function(endpoint.fn).get_concrete_function(*endpoint.input_signature)
    facts = {k: card.data[k] for k in ("value_range", "feature_names") if card.data.get(k)}
    inputs = [
        TensorInfo(name=s.name, dtype=s.dtype.name, shape=s.shape.as_list(), **facts)
        for s in endpoint.input_signature
    ]
    outputs = [
        TensorInfo(name=k, dtype=t.dtype.name, shape=t.shape.as_list())
        for k, t in sorted(concrete.structured_outputs.items())
    ]
    return SignatureInfo(inputs=inputs, outputs=outputs)


def write_tflite(saved_model_dir: str | Path, path: str | Path) -> Path:
    """Convert a SavedModel to a float32 ``.tflite`` file (signatures kept)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    Path(path).write_bytes(converter.convert())
    return Path(path)


def _installed(*packages: str) -> dict[str, str]:
    found = {}
    for package in packages:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found


def publish(
    model: Any, repository: str | Path, name: str, *, card: ModelCard, tflite: bool = True
) -> Published:
    """Publish ``model`` as the next version of ``name`` in ``repository``.

    Args:
        model: a built Keras model taking raw inputs.
        repository: the model repository root (TF Serving's ``--model_base_path`` parent).
        name: the model's name in the repository and in request URLs.
        card: the model card from training; its task picks the signatures. The
            published copy adds the name, version, signatures and library versions.
        tflite: also write a float32 ``model.tflite`` beside the SavedModel.

    Returns:
        The published name, version, paths and card.
    """
    model_dir = Path(repository) / repository_layout.check_model_name(name)
    repository_layout.clean_stale_staging(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=model_dir))
    try:
        signatures = write_saved_model(model, staging, card)
        tflite_path = write_tflite(staging, staging / TFLITE_FILE) if tflite else None
        card = card.model_copy(
            update={
                "model_name": name,
                "signatures": signatures,
                "created": time.time(),
                "versions": _installed("kerasforge", "tensorflow", "keras"),
            }
        )
        version, final = _move_into_place(staging, model_dir, card)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    tflite_final = final / TFLITE_FILE if tflite_path else None
    return Published(
        name, version, final, tflite_final, card.model_copy(update={"version": version})
    )


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
    import keras

    try:
        model = keras.models.load_model(checkpoint)
    except (ValueError, OSError) as exc:
        raise ServingError(
            f"cannot load {str(checkpoint)!r} as a Keras model ({exc}); pass a .keras file "
            "written by `kerasforge train` (artifacts/runs/<run>/checkpoints/best.keras)"
        ) from None
    return publish(model, repository, name, card=card, tflite=tflite)


def _move_into_place(staging: Path, model_dir: Path, card: ModelCard) -> tuple[int, Path]:
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
