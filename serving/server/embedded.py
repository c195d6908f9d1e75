"""The embedded model server: TF Serving's REST and gRPC APIs over a model repository.

:func:`start` loads a repository and serves it; :func:`start_store` serves a store built
elsewhere (:func:`configured_store`: TF Serving's ``--model_config_file`` or one model). Both
protocols share one :class:`Metrics`, one :class:`Batcher` and one :class:`Observers`
(request logging, drift tracking). REST is :mod:`kerasforge.serving.server.rest_server`'s
bounded listener on its own event loop thread; gRPC
(:mod:`kerasforge.serving.server.grpc_api`) runs on its own thread pool when
``options.grpc`` is given. The options are :mod:`kerasforge.serving.server.options`'s. Runs
from the exported SavedModels alone: no training code, no MLflow.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ServingError
from .batching import Batcher
from .drift import DriftTracker
from .metrics import Metrics
from .model_config import ModelEntry
from .observers import Observers
from .options import GrpcOptions, ServerOptions
from .rest_server import BUSY, DRAIN_GRACE_S, ListenLimits, RestServer, serve_store
from .store import ModelStore
from .warmup import WarmupOptions

__all__ = [
    "BUSY",
    "DRAIN_GRACE_S",
    "GC_THRESHOLDS",
    "GrpcOptions",
    "ListenLimits",
    "RestServer",
    "ServerOptions",
    "configured_store",
    "serve_store",
    "start",
    "start_store",
    "stop",
    "tune_gc",
]


def start(
    repository: str | Path, options: ServerOptions | None = None
) -> tuple[RestServer, ModelStore]:
    """Load the repository and serve REST (and gRPC if ``options.grpc`` is given) in the
    background.

    Args:
        repository: model repository root (``<root>/<name>/<version>/``).
        options: address, ports, polling, limits, metrics, warm-up, batching and the gRPC
            listener (:class:`ServerOptions`; default: ``ServerOptions()``).

    Returns:
        The running server and its model store; call ``stop(server, store)`` to end.

    Raises:
        ServingError: the repository holds no published model, or the port is taken.
    """
    options = options or ServerOptions()
    store = ModelStore(repository, warmup=options.warmup, **options.load_options())
    if not store.refresh():
        raise ServingError(
            f"no model to serve in {str(repository)!r}: expected <repository>/<name>/<version>/"
            "saved_model.pb; run `make train` (or `kerasforge export`) first",
            status=503,
        )
    return start_store(store, options), store


def configured_store(
    models: list[ModelEntry],
    allow_unavailable_labels: bool = False,
    warmup: WarmupOptions | None = None,
    options: ServerOptions | None = None,
) -> ModelStore:
    """A store serving exactly ``models`` (TF Serving's ``--model_config_file`` or
    ``--model_name``/``--model_base_path``), their versions loaded.

    Raises:
        ServingError: a label names a version that did not load (TF Serving's message).
    """
    store = ModelStore(
        allow_unavailable_labels=allow_unavailable_labels,
        warmup=warmup,
        **(options or ServerOptions()).load_options(),
    )
    try:
        store.configure(models)
    except ServingError as exc:
        raise ServingError(
            f"{exc}; publish that version, fix the label, or pass "
            "--allow_version_labels_for_unavailable_models"
        ) from None
    return store


def start_store(store: ModelStore, options: ServerOptions | None = None) -> RestServer:
    """Serve ``store`` over REST (and gRPC if ``options.grpc`` is given), polling for new
    versions every ``options.poll_seconds``; options as :func:`start` (less ``warmup``: the
    store has its own).

    Both protocols count into one :class:`Metrics`, served at ``options.metrics_path`` if
    given, and batch predict calls in one :class:`Batcher` when ``options.batching`` is given.
    Both hand answered requests to one :class:`Observers`: request logging
    (:class:`RequestLog`, as each model's ``logging_config`` says), flushed on shutdown,
    and drift tracking (:class:`DriftTracker`, unless ``options.drift.window_size`` is 0).

    Raises:
        ServingError: the REST or gRPC address cannot be bound (HTTP 503), or a request
            log folder cannot be created.
    """
    from .request_log import RequestLog

    options = options or ServerOptions()
    metrics = Metrics()
    observers = Observers([RequestLog(store, metrics)])
    drift = DriftTracker(store, metrics, options.drift) if options.drift.window_size else None
    if drift is not None:
        observers.add(drift)
    batcher = Batcher(options.batching, metrics) if options.batching is not None else None
    server = serve_store(store, options, metrics=metrics, batcher=batcher, observers=observers)
    server.api.drift = drift
    if options.grpc is not None:
        from . import grpc_api

        grpc = options.grpc
        try:
            server.grpc_server, server.grpc_port = grpc_api.serve(
                store,
                grpc,
                metrics=metrics,
                batcher=batcher,
                observers=observers,
                host=options.host,
                check_method=options.method_name_check,
            )
            server.grpc_threads = grpc_api.request_threads(grpc.workers, grpc.max_inflight, batcher)
        except ServingError:
            server.shutdown()
            raise
    if options.poll_seconds > 0:
        store.start_polling(options.poll_seconds)
    return server


GC_THRESHOLDS = (100_000, 50, 100)
"""Python's collector runs every 100k new containers instead of every 700: parsing a large
JSON request creates millions of lists, and at the default thresholds the collections it
triggers (each walking the loaded TensorFlow objects) took twice as long as the parse."""


def tune_gc() -> None:
    """Set :data:`GC_THRESHOLDS` and move what is loaded so far out of the collector's walks.

    For the ``serve`` process (called once the models are loaded); a library user's
    process keeps its own settings.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def stop(server: RestServer, store: ModelStore) -> None:
    """Stop polling (versions and config), then serving (in-flight requests finish first)."""
    store.stop()
    server.shutdown()
