"""One loaded SavedModel version: its signatures, ``SignatureDef``s and warm-up state.

A SavedModel with an object graph (``tf.saved_model.save``, Keras) loads through
``tf.saved_model.load`` and serves its concrete functions; one without
(``SavedModelBuilder``, TF1 estimators) loads into a session, as TF Serving loads
every model, and serves a :class:`~.session_model.SessionSignature` per signature. Both behind
:class:`LoadedModel`.

The server imports TensorFlow without Keras (:func:`keras_left_out`, as the publish
gate does): TensorFlow imports Keras eagerly at its own import, about 2 s of CPU per
server start, and serving a SavedModel needs none of it. A SavedModel that fails to
load without Keras (one whose objects need Keras' registrations) is loaded again
after importing Keras, so whatever loaded before still does.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ServingError
from .session_model import DEFAULT_TAGS, is_tf1, load_session, meta_graph, parse_tags


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
    tags: tuple[str, ...] = ("serve",)  # the MetaGraphDef's tag set (--saved_model_tags)

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


_KERAS_MODULES = ("keras", "tf_keras")


@contextlib.contextmanager
def keras_left_out() -> Iterator[None]:
    """Import TensorFlow inside this block to skip its eager Keras import.

    Keras is hidden only for the block: a later ``import keras`` (in this process,
    by anything) imports it as usual. Does nothing once TensorFlow is imported.
    """
    hidden = [n for n in _KERAS_MODULES if n not in sys.modules and "tensorflow" not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # import keras: ImportError
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


@functools.lru_cache(maxsize=64)
def _saved_model(path: Path) -> Any:
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    return proto


def signature_defs(path: Path, tags: str | tuple[str, ...] = DEFAULT_TAGS) -> dict[str, Any]:
    """The ``SignatureDef`` protos of the SavedModel at ``path`` (its ``saved_model.pb``),
    from the MetaGraphDef tagged ``tags`` (else the first, as before tags were chosen)."""
    proto = _saved_model(path)
    try:
        graph = meta_graph(proto, parse_tags(tags))
    except RuntimeError:
        graph = proto.meta_graphs[0]
    return dict(graph.signature_def)


def load_version(
    name: str, version: int, path: Path, tags: str | tuple[str, ...] = DEFAULT_TAGS
) -> LoadedModel:
    """Load one SavedModel version directory.

    Args:
        name: the model's name in the repository.
        version: the version number (parsed from the directory's name).
        path: the version directory holding ``saved_model.pb`` (``00000123/`` as named).
        tags: the MetaGraphDef's tag set, comma-separated (TF Serving's
            ``--saved_model_tags``, default ``"serve"``).

    Returns:
        The loaded version with its signatures.

    Raises:
        RuntimeError: no MetaGraphDef has exactly ``tags``.
    """
    import tensorflow as tf

    tag_set = parse_tags(tags)
    _saved_model.cache_clear()  # the files may have changed since (a version retried)
    if is_tf1(meta_graph(_saved_model(path), tag_set)):
        session, signatures = load_session(path, tag_set)
        return LoadedModel(name, version, path, dict(signatures), owner=session, tags=tag_set)
    loaded = _load_object_graph(tf, path, tag_set)
    return LoadedModel(name, version, path, dict(loaded.signatures), owner=loaded, tags=tag_set)


def _load_object_graph(tf: Any, path: Path, tags: tuple[str, ...]) -> Any:
    """``tf.saved_model.load``; once more with Keras imported (its registrations), when
    the first try ran without it and Keras is installed (the serve extra holds none)."""
    try:
        return tf.saved_model.load(str(path), tags=list(tags))
    except Exception:
        if "keras" in sys.modules or not _installed("keras"):
            raise
    import keras  # noqa: F401  # registers Keras' savers and revivers with TensorFlow

    return tf.saved_model.load(str(path), tags=list(tags))


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
