"""One loaded SavedModel version: its signatures, ``SignatureDef``s and warm-up state."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ServingError


@dataclass
class LoadedModel:
    """One loaded SavedModel version and its signatures."""

    name: str
    version: int
    path: Path
    signatures: dict[str, Any] = field(repr=False)
    # Signatures hold only weak references to the loaded object's variables: keep it alive.
    owner: Any = field(default=None, repr=False)
    warmup_requests: int = 0  # warm-up records replayed before it served

    def signature(self, name: str | None) -> Any:
        """The concrete function of signature ``name`` (``serving_default`` when ``None``).

        Raises:
            ServingError: the SavedModel has no such signature (HTTP 400).
        """
        name = name or "serving_default"
        if name not in self.signatures:
            raise ServingError(
                f'Serving signature name: "{name}" not found in signature def; '
                f"available: {', '.join(sorted(self.signatures))}"
            )
        return self.signatures[name]


@functools.lru_cache(maxsize=64)
def signature_defs(path: Path) -> dict[str, Any]:
    """The ``SignatureDef`` protos of the SavedModel at ``path`` (its ``saved_model.pb``)."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    return dict(proto.meta_graphs[0].signature_def)


def load_version(name: str, version: int, path: Path) -> LoadedModel:
    """Load one SavedModel version directory.

    Args:
        name: the model's name in the repository.
        version: the version number (the directory's name).
        path: the version directory holding ``saved_model.pb``.

    Returns:
        The loaded version with its signatures.
    """
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    return LoadedModel(name, version, path, dict(loaded.signatures), owner=loaded)
