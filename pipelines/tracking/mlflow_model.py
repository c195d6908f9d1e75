"""Log a Keras model as an MLflow Model (Keras flavor) with a signature and an input example.

Why not plain ``mlflow.keras.log_model(model, input_example=...)``: in MLflow
3.x, ``mlflow.keras.save_model`` writes ``input_example.json`` into the model
folder *before* it creates that folder (``_save_example`` runs ahead of
``os.makedirs(path/data)`` in ``mlflow/keras/save.py``). ``save_model`` called
by hand on an existing folder works, but ``log_model`` goes through
``Model.log``, which hands the flavor a fresh, not yet created
``<tmp>/<name>`` path, so the example's ``open(..., "w")`` raises
``FileNotFoundError``. Other flavors call
``_validate_and_prepare_target_save_path`` first; Keras does not.

The workaround here is the smallest one that keeps MLflow's own code path:
:data:`KERAS_FLAVOR` is a flavor object that creates the folder, then calls
``mlflow.keras.save_model`` unchanged, and it is passed to ``Model.log`` as
the flavor -- exactly what ``mlflow.keras.log_model`` does with the module.
``tests/pipelines/tracking/test_units.py`` keeps a test on the upstream bug,
so the workaround can go once MLflow fixes it.
"""

from __future__ import annotations

import importlib.metadata
import os
from typing import Any

import numpy as np


class _KerasFlavor:
    """``mlflow.keras`` with a save that first creates the model folder."""

    __name__ = "mlflow.keras"

    @staticmethod
    def save_model(path: str, **kwargs: Any) -> None:
        import mlflow.keras

        os.makedirs(path, exist_ok=True)
        mlflow.keras.save_model(path=path, **kwargs)


KERAS_FLAVOR = _KerasFlavor()


def requirements() -> list[str]:
    """Pinned pip requirements of the logged model (skips MLflow's slow inference)."""
    pins = []
    for dist in ("tensorflow", "keras", "numpy"):
        try:
            pins.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def log_keras_model(
    model: Any,
    example: np.ndarray | dict[str, np.ndarray],
    *,
    name: str = "model",
    registered_model_name: str | None = None,
) -> Any:
    """Log ``model`` to the active run with a signature inferred from ``example``.

    Args:
        model: a built ``keras.Model``.
        example: a few real inputs (batch first); saved as the input example.
        name: the logged model's name within the run.
        registered_model_name: also register a new version under this name.

    Returns:
        MLflow's ``ModelInfo`` (``model_uri``, ``registered_model_version``).
    """
    from mlflow.models import Model, infer_signature

    if not isinstance(example, dict):  # a model with named inputs keeps its dict
        example = np.asarray(example)
    signature = infer_signature(example, np.asarray(model.predict(example, verbose=0)))
    return Model.log(
        artifact_path=None,
        name=name,
        flavor=KERAS_FLAVOR,
        model=model,
        signature=signature,
        input_example=example,
        registered_model_name=registered_model_name,
        await_registration_for=60,
        pip_requirements=requirements(),
    )
