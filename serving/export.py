"""Publish a trained Keras model to a TF Serving model repository.

The SavedModel's ``serving_default`` signature takes raw inputs (preprocessing
is inside the model) and returns ``class_ids`` and ``probabilities``. A
``model.tflite`` and a ``kerasforge.json`` description sit beside it in the
version directory. Each publish writes a new version, ``highest + 1``, into a
temporary directory first and renames it into place, so TF Serving (and the
embedded server) never see a half-written version.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kerasforge.serving.errors import ServingError
from kerasforge.serving.repository import METADATA_FILE, TFLITE_FILE, read_metadata

SIGNATURE = "serving_default"


@dataclass(frozen=True)
class Published:
    """Where one publish landed."""

    name: str
    version: int
    path: Path
    tflite_path: Path | None


def write_saved_model(model: Any, path: str | Path) -> dict[str, Any]:
    """Export ``model`` as a SavedModel with a classifier ``serving_default`` signature.

    Returns:
        A description of the signature: input name, shape and dtype, output names.
    """
    import keras
    import tensorflow as tf

    input_name = model.inputs[0].name.split(":")[0]
    shape = (None, *model.inputs[0].shape[1:])
    spec = tf.TensorSpec(shape, tf.float32, name=input_name)

    def serve(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = model(inputs, training=False)
        return {
            "class_ids": tf.argmax(probabilities, axis=-1, output_type=tf.int64),
            "probabilities": probabilities,
        }

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name=SIGNATURE, fn=serve, input_signature=[spec])
    archive.write_out(str(path), verbose=False)
    return {
        "signature": SIGNATURE,
        "inputs": {input_name: {"shape": list(shape), "dtype": "float32"}},
        "outputs": ["class_ids", "probabilities"],
    }


def write_tflite(saved_model_dir: str | Path, path: str | Path) -> Path:
    """Convert a SavedModel to a float32 ``.tflite`` file (signatures kept)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    Path(path).write_bytes(converter.convert())
    return Path(path)


def publish(
    model: Any,
    repository: str | Path,
    name: str,
    *,
    metadata: dict[str, Any] | None = None,
    tflite: bool = True,
) -> Published:
    """Publish ``model`` as the next version of ``name`` in ``repository``.

    Args:
        model: a built Keras classifier taking raw inputs.
        repository: the model repository root (TF Serving's ``--model_base_path`` parent).
        name: the model's name in the repository and in request URLs.
        metadata: extra facts for ``kerasforge.json`` (class names, input value range, run id).
        tflite: also write a float32 ``model.tflite`` beside the SavedModel.

    Returns:
        The published name, version and paths.
    """
    model_dir = Path(repository) / name
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=model_dir))
    try:
        description = write_saved_model(model, staging)
        tflite_path = write_tflite(staging, staging / TFLITE_FILE) if tflite else None
        card = {"model_name": name, "created": time.time(), **description, **(metadata or {})}
        version, final = _move_into_place(staging, model_dir, card)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    tflite_final = final / TFLITE_FILE if tflite_path else None
    return Published(name, version, final, tflite_final)


def publish_checkpoint(
    checkpoint: str | Path, repository: str | Path, name: str, *, tflite: bool = True
) -> Published:
    """Publish a ``.keras`` checkpoint written by ``kerasforge train`` as a new version.

    The run folder's model card (``<run>/kerasforge.json``, beside ``checkpoints/``)
    travels with it.

    Raises:
        ServingError: the checkpoint is missing or is not a Keras model file.
    """
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise ServingError(f"checkpoint {str(checkpoint)!r} not found; pass a .keras file")
    import keras

    try:
        model = keras.models.load_model(checkpoint)
    except (ValueError, OSError) as exc:
        raise ServingError(
            f"cannot load {str(checkpoint)!r} as a Keras model ({exc}); pass a .keras file "
            "written by `kerasforge train` (artifacts/runs/<run>/checkpoints/best.keras)"
        ) from None
    metadata = read_metadata(checkpoint.parent.parent)
    return publish(model, repository, name, metadata=metadata, tflite=tflite)


def _move_into_place(staging: Path, model_dir: Path, card: dict[str, Any]) -> tuple[int, Path]:
    """Rename ``staging`` to the next free version; retry if another publish won the race."""
    for _ in range(100):
        taken = [int(p.name) for p in model_dir.iterdir() if p.name.isdigit()]
        version = max(taken, default=0) + 1
        (staging / METADATA_FILE).write_text(json.dumps({**card, "version": version}, indent=2))
        final = model_dir / str(version)
        try:
            os.mkdir(final)  # claim the number; fails if another process has it
        except FileExistsError:
            continue
        os.replace(staging, final)  # atomic: replaces the empty claimed directory
        return version, final
    raise RuntimeError(f"could not claim a new version under {model_dir} after 100 tries")
