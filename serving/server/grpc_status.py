"""gRPC status codes and messages for the API's errors, as TF Serving answers them.

A :class:`~kerasforge.serving.errors.ServingError` carries the HTTP status TF
Serving's REST API would answer; :func:`guard` turns it into the gRPC code that
the same TF Serving error has. A client's mistake is never INTERNAL; a bug is
INTERNAL, logged in one line.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import grpc
import tensorflow as tf

from ..errors import ServingError, tf_error_message
from .store import LoadedModel, ModelStore

log = logging.getLogger(__name__)

_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    412: grpc.StatusCode.FAILED_PRECONDITION,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
}


def resolve(store: ModelStore, spec: Any) -> LoadedModel:
    """The loaded model a ``ModelSpec`` names (version, label or latest)."""
    if not spec.name:
        raise ServingError("ModelSpec has no name specified.")
    choice = spec.WhichOneof("version_choice")
    version = spec.version.value if choice == "version" else None
    label = spec.version_label if choice == "version_label" else None
    return store.get(spec.name, version, label)


def _abort(context: grpc.ServicerContext, exc: ServingError) -> None:
    context.abort(_CODES.get(exc.status, grpc.StatusCode.INTERNAL), str(exc))


def fill_spec(out: Any, model: LoadedModel, signature: str) -> None:
    """Write the ``ModelSpec`` an answer carries: the model, version and signature that ran."""
    out.name = model.name
    out.version.value = model.version
    out.signature_name = signature


def guard(method: Any) -> Any:
    """Turn a client's mistake into its gRPC status (never INTERNAL); anything else is a
    bug: INTERNAL, logged in one line."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except ServingError as exc:
            _abort(context, exc)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, tf_error_message(str(exc)))
        except Exception as exc:
            if context.code() is not None:  # the method aborted itself
                raise
            log.error("%s failed: %s: %s", method.__name__, type(exc).__name__, exc)
            context.abort(grpc.StatusCode.INTERNAL, f"{method.__name__} failed on the server")

    return wrapper
