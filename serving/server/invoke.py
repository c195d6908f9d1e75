"""Calling a SavedModel's serving function per request, without TensorFlow's per-call extras.

Three savings decided once per signature (:func:`plan`) and remembered while the
signature is loaded, and one per input (:func:`_host_tensor`):

- **Flat call.** ``ConcreteFunction.__call__`` binds the keyword arguments to the
  function's type and casts each against its ``TensorSpec`` on every call: for
  the default CNN at batch 1 that is about 0.17 ms of a 0.6 ms call. The request
  path has already checked names and dtypes (the wire decoders), so the tensors
  go straight to the function's flat entry (``_call_flat``, in the order of its
  parameters, which is the order of its graph inputs). Shapes are left to the
  graph, as TF Serving's ``Session::Run`` leaves them: a tensor whose shape does
  not match its spec goes to the flat entry too, and the graph's ops accept it
  or refuse it with their own ``InvalidArgumentError``. This entry is
  TensorFlow's own, not public API: where it is missing, a parameter is not one
  tensor, or a tensor's dtype differs from its spec, the public call runs
  instead and its checks answer.
- **Captures resolved once.** A loaded signature's flat entry looks up its
  captured inputs (the variables' handles: 26 for the default CNN) on every
  call, asking each whether it is a distributed variable through a failed
  attribute lookup that formats an error message: about 0.13 ms a call. Where
  no capture is deferred or distributed (a SavedModel loaded outside a
  ``tf.distribute`` strategy), the handles are read once and passed to
  ``ConcreteFunction``'s own flat entry, which is what the loaded function's
  entry ends in for such handles.
- **Graph function called directly.** Where the signature's outputs are a flat dict of
  tensors and nothing records gradients, the graph function runs through the eager
  runtime's call (what ``ConcreteFunction._call_flat`` ends in) and its flat outputs
  are named in order, skipping the gradient-tape checks, the control-dependency
  and stop-recording scopes and the output packing of TensorFlow's Python layers
  (about 40 Python calls a request). Errors are still rewritten by TensorFlow's own
  ``InterpolateRuntimeError``, so a refused value reads the same.
- **Inline executor.** :data:`INLINE_EXECUTOR` runs a function's kernels one
  after another on the calling thread (a kernel still splits its own work over
  the intra-op threads) instead of handing each to the inter-op pool and waking
  its threads: about 0.15 ms less a call at batch 1, nothing lost at batch 64.
  It cannot run control flow (``tf.cond``, ``tf.while_loop``, ``tf.map_fn``), so
  graphs holding any stay on TensorFlow's default executor.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from .session_model import SessionSignature

log = logging.getLogger(__name__)

INLINE_EXECUTOR = "SINGLE_THREADED_EXECUTOR"

_CONTROL_FLOW = frozenset(
    {"If", "StatelessIf", "While", "StatelessWhile", "Case", "StatelessCase"}
    | {"Switch", "Merge", "Enter", "Exit", "NextIteration", "LoopCond", "RefSwitch"}
)


FlatInput = tuple[str, np.dtype | None, tuple[int | None, ...]]
"""An input of the flat call: name, NumPy dtype (``None``: strings), declared shape (``None``:
any dimension; not enforced)."""


@dataclass(frozen=True)
class Direct:
    """A signature's graph function as the eager runtime calls it: the function (TensorFlow's
    ``AtomicFunction``), its registered name, and its output names in flat output order."""

    function: Any
    name: str
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """How one signature is called: on the inline executor or not; with its flat inputs
    (name, dtype, shape, in call order) or ``None`` for the public call only; with its
    captured inputs resolved once (``captures``) or ``None`` to look them up per call;
    through its graph function directly (``direct``) or ``None``."""

    inline: bool
    flat_inputs: tuple[FlatInput, ...] | None
    captures: tuple[Any, ...] | None = None
    direct: Direct | None = None


_PLANS: weakref.WeakKeyDictionary[Any, Plan] = weakref.WeakKeyDictionary()


def plan(signature: Any) -> Plan:
    """The signature's :class:`Plan`, worked out on first use."""
    found = _PLANS.get(signature)
    if found is None:
        flat_inputs = _flat_inputs(signature)
        captures = _resolved_captures(signature) if flat_inputs is not None else None
        direct = _direct(signature) if captures is not None else None
        found = Plan(_without_control_flow(signature), flat_inputs, captures, direct)
        _PLANS[signature] = found
    return found


def call(signature: Any, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """``signature(**arrays)`` by its :class:`Plan`; outputs as tensors.

    Raises:
        tf.errors.InvalidArgumentError: the graph refused the values (as the public call).
    """
    import tensorflow as tf

    if isinstance(signature, SessionSignature):  # a TF1 graph: TF Serving's Session::Run
        return signature.run(arrays)
    how = plan(signature)
    if not how.inline:
        return _apply(signature, how, arrays)
    try:
        return _inline(signature, how, arrays)
    except (tf.errors.FailedPreconditionError, tf.errors.UnimplementedError) as exc:
        log.info("%s refused a signature, which runs on the default one: %s", INLINE_EXECUTOR, exc)
        _PLANS[signature] = dataclasses.replace(how, inline=False)
        return _apply(signature, _PLANS[signature], arrays)


def _inline(signature: Any, how: Plan, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """``_apply`` on :data:`INLINE_EXECUTOR`: what ``tf.experimental.function_executor_type``
    does, without its copy of the thread's call options and its generator (8 µs a call)."""
    from tensorflow.python.eager import context

    options = context.context().function_call_options
    previous = options.executor_type
    options.executor_type = INLINE_EXECUTOR
    try:
        return _apply(signature, how, arrays)
    finally:
        options.executor_type = previous


def _apply(signature: Any, how: Plan, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    import tensorflow as tf

    flat = how.flat_inputs
    if (
        flat is None
        or len(flat) != len(arrays)
        or not all(_fits(arrays.get(n), *t) for n, *t in flat)
    ):
        return signature(**{k: tf.constant(v) for k, v in arrays.items()})
    args = [_host_tensor(arrays[name], dtype) for name, dtype, _ in flat]
    if how.captures is None:
        return signature._call_flat(args, signature.captured_inputs)
    if how.direct is not None and _nothing_records():
        return _call_direct(how.direct, [*args, *how.captures])
    return _concrete_call_flat()(signature, args, list(how.captures))


def _call_direct(direct: Direct, flat_args: list[Any]) -> dict[str, Any]:
    """The graph function on the thread's executor and config, as the eager runtime's
    ``call_function`` runs it; outputs by name."""
    context, execute, atomic_function, function_utils, _, _ = _eager_modules()
    ctx = context.context()
    options = ctx.function_call_options
    config = options.config_proto_serialized
    if config is None:
        config = function_utils.get_disabled_rewriter_config()
    attrs = ("executor_type", options.executor_type or "", "config_proto", config)
    with atomic_function.InterpolateRuntimeError(direct.function):
        flat = execute.quick_execute(direct.name, len(direct.outputs), flat_args, attrs, ctx)
    return dict(zip(direct.outputs, flat, strict=True))


def _nothing_records() -> bool:
    """Eager, no gradient tape or cancellation scope: what the direct call assumes."""
    context, _, _, _, cancellation, record = _eager_modules()
    return (
        context.executing_eagerly()
        and not record.could_possibly_record()
        and cancellation.context() is None
    )


@functools.cache
def _eager_modules() -> tuple[Any, ...]:
    """TensorFlow's eager modules the direct call uses (imported once, not per call)."""
    from tensorflow.python.eager import cancellation, context, execute, record
    from tensorflow.python.eager.polymorphic_function import atomic_function
    from tensorflow.python.util import function_utils

    return context, execute, atomic_function, function_utils, cancellation, record


def _direct(signature: Any) -> Direct | None:
    """The signature's :class:`Direct` call, where its outputs are a flat dict of plain
    tensors in its graph function's output order (else ``None``: the flat entry runs)."""
    from tensorflow.python.util import nest

    function = getattr(signature, "_inference_function", None)
    outputs = getattr(signature, "structured_outputs", None)
    with contextlib.suppress(AttributeError, TypeError, ValueError):
        flat_types = function.function_type.flat_outputs
        if function._call_options.control_captures or not isinstance(outputs, dict):
            return None
        if any(t.dtype._handle_data for t in flat_types):  # resource/variant outputs
            return None
        names = nest.flatten({key: key for key in outputs})
        plain = all(_is_plain_tensor(outputs[key]) for key in names)
        if plain and len(names) == len(flat_types) and all(isinstance(n, str) for n in names):
            return Direct(function, function.name.decode(), tuple(names))
    return None


def _is_plain_tensor(value: Any) -> bool:
    import tensorflow as tf

    return isinstance(value, tf.Tensor | tf.TensorSpec) and not isinstance(value, tf.RaggedTensor)


def _host_tensor(array: np.ndarray, dtype: np.dtype | None) -> Any:
    """A numeric array as a tensor in host memory, as the function's inputs take it.

    ``tf.constant`` also places it on the default device by running a copy op
    (``_EagerConst``): 30 µs a call after a signature call has run, against 9 µs
    for the host tensor alone. The array may be shared, not copied: request
    arrays are not written to. Strings keep ``tf.constant``.
    """
    import tensorflow as tf

    eager_tensor = _eager_tensor_type()
    if dtype is None or eager_tensor is None:
        return tf.constant(array)
    return eager_tensor(array, None, None)


def _eager_tensor_type() -> Any:
    """TensorFlow's ``EagerTensor`` class (not public API), or ``None`` where it is gone."""
    from tensorflow.python.framework import ops

    return getattr(ops, "EagerTensor", None)


def _fits(array: Any, dtype: np.dtype | None, shape: tuple[int | None, ...]) -> bool:
    """Whether ``array`` has the dtype the input takes (``dtype`` ``None``: strings).

    ``shape`` is not checked: the graph decides, as TF Serving's ``Session::Run``.
    """
    if not isinstance(array, np.ndarray):
        return False
    return array.dtype.kind in "OSU" if dtype is None else array.dtype == dtype


def _concrete_call_flat() -> Any:
    from tensorflow.python.eager.polymorphic_function import concrete_function

    return concrete_function.ConcreteFunction._call_flat


def _resolved_captures(signature: Any) -> tuple[Any, ...] | None:
    """The captured inputs, where resolving them once is what every call would do."""
    from tensorflow.python.eager.polymorphic_function import concrete_function

    base = getattr(concrete_function, "ConcreteFunction", None)
    deferred = getattr(signature, "_captured_inputs", None)
    if base is None or not isinstance(signature, base) or deferred is None:
        return None
    if any(callable(x) for x in deferred):  # resolved per call by TensorFlow
        return None
    captures = tuple(signature.captured_inputs)
    if any(getattr(x, "is_distributed_variable", False) for x in captures):
        return None  # the loaded function picks a replica's handle per call
    return captures


def _without_control_flow(signature: Any) -> bool:
    graph = signature.graph.as_graph_def()
    ops = {n.op for n in graph.node}
    ops.update(n.op for f in graph.library.function for n in f.node_def)
    return not ops & _CONTROL_FLOW


def _flat_inputs(signature: Any) -> tuple[FlatInput, ...] | None:
    import tensorflow as tf

    if not callable(getattr(signature, "_call_flat", None)):
        return None
    with contextlib.suppress(AttributeError):
        parameters = signature.function_type.parameters
        specs = [(name, p.type_constraint) for name, p in parameters.items()]
        if all(
            isinstance(spec, tf.TensorSpec) and spec.shape.rank is not None for _, spec in specs
        ):
            return tuple((n, _numpy_dtype(s.dtype), tuple(s.shape.as_list())) for n, s in specs)
    return None


def _numpy_dtype(dtype: Any) -> np.dtype | None:
    """The NumPy dtype of a tensor dtype; ``None`` for strings (object or bytes arrays)."""
    return None if dtype.name == "string" else np.dtype(dtype.as_numpy_dtype)
