"""``kerasforge.load``: a served model in a notebook, without a server.

The version is chosen as the server chooses it (a number, a label of the
repository's ``models.config``, else the highest version it serves), loaded by
the server's own loader (:func:`kerasforge.serving.server.loaded.load_version`)
and called through the server's one request path
(:func:`kerasforge.serving.server.predict.run`), with the REST API's value rules
for Python lists (:func:`kerasforge.serving.server.predict.parse_request`). So a
prediction here is what ``kerasforge serve`` answers for the same inputs. No
MLflow and no training code.

Example:
    >>> model = kerasforge.load("digits_cnn")  # artifacts/models, highest served version
    >>> model.predict(x_test[:4])["probabilities"].argmax(axis=1)
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import repository as repo
from . import wire
from .card import PIXELS_SIGNATURE, ModelCard, read_card
from .errors import ServingError

DEFAULT_REPOSITORY = "artifacts/models"
DEFAULT_SIGNATURE = "serving_default"


@dataclass
class LocalModel:
    """One version of a served model, loaded in this process.

    Attributes:
        name: the model's name in the repository.
        version: the version loaded.
        path: its folder (``<repository>/<name>/<version>``).
        card: its model card (``kerasforge.json``), or None for a SavedModel without one.
        signatures: the SavedModel's signature names (``serving_default``, ...).
    """

    name: str
    version: int
    path: Path
    card: ModelCard | None
    loaded: Any = field(repr=False)

    @property
    def signatures(self) -> list[str]:
        return sorted(self.loaded.signatures)

    def inputs(self, signature: str | None = None) -> dict[str, tuple[str, list[int | None]]]:
        """``{input: (dtype, shape)}`` of a signature (``None`` in a shape: any size)."""
        from .server.predict import input_specs

        specs = input_specs(self.loaded.signature(signature))
        return {k: (s.dtype.name, s.shape.as_list()) for k, s in specs.items()}

    def predict(self, inputs: Any, signature: str | None = None) -> dict[str, np.ndarray]:
        """Run a signature on a batch; its outputs by name.

        Args:
            inputs: a batch for a one-input signature (a NumPy array, or nested lists of
                numbers or strings; ``bytes`` for encoded images), or ``{input: batch}``.
            signature: the signature to call; default ``serving_default``, except that a
                numeric array goes to ``serving_pixels`` when ``serving_default`` takes
                encoded images (as ``kerasforge predict`` sends arrays).

        Raises:
            ServingError: inputs that do not fit the signature, with what it expects.
        """
        from .server.predict import input_specs, run

        chosen = self.loaded.signature(signature or self._signature_for(inputs))
        return run(chosen, to_arrays(inputs, input_specs(chosen)))

    def _signature_for(self, inputs: Any) -> str:
        numeric = isinstance(inputs, np.ndarray) and inputs.dtype.kind in "biuf"
        default = self.inputs(DEFAULT_SIGNATURE) if DEFAULT_SIGNATURE in self.signatures else {}
        takes_bytes = bool(default) and all(d == "string" for d, _ in default.values())
        if numeric and takes_bytes and PIXELS_SIGNATURE in self.signatures:
            return PIXELS_SIGNATURE
        return DEFAULT_SIGNATURE


def load(
    name: str,
    version: int | None = None,
    label: str | None = None,
    repository: str | Path = DEFAULT_REPOSITORY,
) -> LocalModel:
    """Load a published model version for predictions in this process.

    Args:
        name: the model's name (``export.model_name``, e.g. ``digits_cnn``).
        version: a version number; default: the highest version ``models.config``
            serves, else the highest on disk (TF Serving's choice for a request that
            names neither a version nor a label).
        label: a version label of ``models.config`` (``stable``, ``canary``) instead.
        repository: the model repository (``<repository>/<name>/<version>/``).

    Returns:
        A :class:`LocalModel`; ``predict`` runs its signatures.

    Raises:
        ServingError: no such model, version or label (saying what there is).
    """
    from ..cli.console import quiet_native_logs
    from .server.loaded import load_version

    root = Path(repository)
    chosen = choose_version(root, name, version, label)
    path = repo.version_dirs(root / name)[chosen].resolve()  # the notebook may change folder
    with quiet_native_logs():
        loaded = load_version(name, chosen, path)
    card = read_card(path) if (path / "kerasforge.json").is_file() else None
    return LocalModel(name, chosen, path, card, loaded)


def choose_version(
    root: Path, name: str, version: int | None = None, label: str | None = None
) -> int:
    """The version of ``root/name`` that ``version`` or ``label`` names, else the one
    the server answers a bare model name with (the newest ``models.config`` serves).

    The one rule for every reader of a repository that is not the server itself
    (:func:`load`, ``kerasforge batch-predict``), with one wording for its errors.

    Raises:
        ServingError: a bad model name, both a version and a label, or no such model,
            version or label (saying what there is and how to choose).
    """
    from .export.tf_serving_config import MODELS_CONFIG, released_entries, served_version

    repo.check_model_name(name)
    if version is not None and label is not None:
        raise ServingError(f"give a version or a label, not both (received {version}, {label!r})")
    on_disk = repo.version_dirs(root / name)
    if not on_disk:
        names = ", ".join(repo.model_names(root)) if root.is_dir() else ""
        raise ServingError(
            f"no published model {name!r} in {str(root)!r}: expected "
            f"{root / name}/<version>/saved_model.pb; models there: {names or 'none'} "
            "(publish one with `kerasforge train` or `kerasforge export`, or choose "
            "another repository)",
            status=404,
        )
    entry = released_entries(root).get(name)
    if label is not None:
        labels = dict(entry.labels) if entry else {}
        if label not in labels:
            known = ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "none"
            raise ServingError(
                f"model {name!r} has no version label {label!r} in "
                f"{str(root / MODELS_CONFIG)!r} (labels: {known}); name a version instead, "
                "or release one with that label",
                status=404,
            )
        version = labels[label]
    if version is None:
        return served_version(entry, on_disk)
    if int(version) not in on_disk:
        have = ", ".join(map(str, sorted(on_disk)))
        raise ServingError(f"model {name!r} has no version {version}; published: {have}", 404)
    return int(version)


def to_arrays(inputs: Any, specs: dict[str, Any]) -> dict[str, np.ndarray]:
    """Named arrays for a signature from NumPy or Python values.

    Numeric arrays whose dtype casts to the input's (same kind: float64 to float32,
    int to float, not float to int) pass as they are; everything else takes the
    REST API's rules (:func:`~kerasforge.serving.server.predict.parse_request`, the
    columnar ``inputs`` form), so the errors are the server's.
    """
    from .server.predict import parse_request

    named = dict(inputs) if isinstance(inputs, Mapping) and not _is_b64(inputs) else None
    if named is None and len(specs) == 1:
        named = {next(iter(specs)): inputs}
    if named is not None and named.keys() == specs.keys():
        direct = {k: _cast(v, specs[k]) for k, v in named.items()}
        if all(v is not None for v in direct.values()):
            return direct  # type: ignore[return-value]
    body = {k: _plain(v) for k, v in named.items()} if named is not None else _plain(inputs)
    arrays, _ = parse_request({wire.INPUTS: body}, specs)
    return arrays


def _cast(value: Any, spec: Any) -> np.ndarray | None:
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        return None
    target = np.dtype(spec.dtype.as_numpy_dtype)
    if target.kind not in "biuf" or not np.can_cast(value.dtype, target, "same_kind"):
        return None
    return np.ascontiguousarray(value, dtype=target)


def _is_b64(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {wire.B64}


def _plain(value: Any) -> Any:
    """NumPy and ``bytes`` as the JSON values the REST API reads (``{"b64": ...}``)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return {wire.B64: base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, np.generic):
        return value.item()
    return value
