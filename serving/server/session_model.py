"""TF1 SavedModels served as TF Serving serves every model: a session and its ``SignatureDef``s.

A SavedModel written by ``SavedModelBuilder`` (no object graph) is a graph plus
named tensors. ``tf.saved_model.load`` rebuilds it as functions, and fails on some
old graphs (TF Serving's own ``saved_model_half_plus_three`` reads "Shapes must be
equal rank"); TF Serving instead loads the graph into a session and runs each
signature with its input tensors fed and its output tensors fetched. This module
does the same: :class:`SessionSignature` feeds the request's arrays to the
signature's tensor names through a session callable, which leaves shapes to the
graph (as TF Serving's ``Session::Run``; ``tf.Session.run`` would refuse a feed
whose shape does not match the tensor's static shape, before the graph sees it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_TAGS = "serve"


def parse_tags(tags: str | tuple[str, ...]) -> tuple[str, ...]:
    """TF Serving's ``--saved_model_tags``: a comma-separated tag set (``"serve"``)."""
    if isinstance(tags, tuple):
        return tags
    return tuple(sorted({t.strip() for t in tags.split(",") if t.strip()}))


def meta_graph(proto: Any, tags: tuple[str, ...]) -> Any:
    """The MetaGraphDef of ``proto`` whose tag set is exactly ``tags``.

    Raises:
        RuntimeError: no meta graph has that tag set (the message lists those there are).
    """
    for graph in proto.meta_graphs:
        if set(graph.meta_info_def.tags) == set(tags):
            return graph
    found = [",".join(g.meta_info_def.tags) for g in proto.meta_graphs]
    raise RuntimeError(
        f"SavedModel has no MetaGraphDef with tags {','.join(tags)!r} (it has: "
        f"{'; '.join(found) or 'none'}); pass one of those with --saved_model_tags"
    )


def is_tf1(graph: Any) -> bool:
    """Whether a MetaGraphDef holds no object graph (written by ``SavedModelBuilder``)."""
    return not graph.object_graph_def.nodes


class SessionSignature:
    """One ``SignatureDef`` run through the session of its SavedModel.

    Exposes what the request path reads of a concrete function:
    ``structured_input_signature`` (``((), {name: tf.TensorSpec})``) and
    ``structured_outputs`` (``{name: tf.TensorSpec}``), from the SignatureDef.
    """

    def __init__(self, session: Any, signature_def: Any) -> None:
        import tensorflow as tf
        from tensorflow.core.protobuf import config_pb2

        def spec(info: Any) -> Any:
            # A TensorInfo written without a shape (TF 1.0) declares none, not a scalar.
            shape = tf.TensorShape(info.tensor_shape if info.HasField("tensor_shape") else None)
            return tf.TensorSpec(shape, tf.dtypes.as_dtype(info.dtype), info.name.split(":")[0])

        self.input_names = tuple(sorted(signature_def.inputs))
        self.output_names = tuple(sorted(signature_def.outputs))
        self.structured_input_signature = (
            (),
            {k: spec(signature_def.inputs[k]) for k in self.input_names},
        )
        self.structured_outputs = {k: spec(signature_def.outputs[k]) for k in self.output_names}
        options = config_pb2.CallableOptions()
        options.feed.extend(signature_def.inputs[k].name for k in self.input_names)
        options.fetch.extend(signature_def.outputs[k].name for k in self.output_names)
        self._run = session._make_callable_from_options(options)

    def run(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Feed ``arrays`` by input name, fetch every output by name.

        Raises:
            ValueError: ``arrays`` lacks an input or has one the signature does not.
            tf.errors.InvalidArgumentError: the graph refused the values (TF's message).
        """
        if sorted(arrays) != list(self.input_names):
            raise ValueError(
                f"inputs {sorted(arrays)} do not match the signature's {list(self.input_names)}"
            )
        values = self._run(*(arrays[k] for k in self.input_names))
        return dict(zip(self.output_names, values, strict=True))


def load_session(path: Path, tags: tuple[str, ...]) -> tuple[Any, dict[str, SessionSignature]]:
    """Load the TF1 SavedModel at ``path`` into a new session (its init ops run).

    Returns:
        The session (keep it: it holds the variables) and a signature per SignatureDef.
    """
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    session = v1.Session(graph=graph)
    with graph.as_default():
        proto = v1.saved_model.loader.load(session, list(tags), str(path))
        signatures = {k: SessionSignature(session, v) for k, v in proto.signature_def.items()}
    return session, signatures
