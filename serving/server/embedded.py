"""The embedded model server: TF Serving's REST and gRPC APIs over a model repository.

gRPC (:mod:`kerasforge.serving.server.grpc_api`) runs on its own thread pool when a
port is given. REST serves the routes of :mod:`kerasforge.serving.server.rest_api` with aiohttp on
its own event loop thread, binding 127.0.0.1:8501 unless told otherwise. The
listener is bounded: a listen backlog, a cap on open connections (one more is
answered 503 and closed), an idle/header timeout (a connection that sends
nothing, or half a request, is closed), TCP_NODELAY (aiohttp sets it), HTTP
parsed strictly by aiohttp (chunked bodies decoded, bad ``Content-Length``
refused with 400, unread bodies drained or the connection closed, so keep-alive
cannot desync). Runs from the exported SavedModels alone: no training code, no
MLflow.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..errors import ServingError
from .batching import Batcher, BatchingOptions
from .drift import DriftOptions, DriftTracker
from .http_errors import ClientHandler
from .limits import DEFAULT_MAX_INPUT_ELEMENTS
from .metrics import Metrics
from .model_config import ModelEntry
from .observers import Observers
from .rest_api import Limits, RestApi
from .store import ModelStore
from .warmup import WarmupOptions

if TYPE_CHECKING:
    from . import grpc_api

log = logging.getLogger(__name__)

_BUSY_BODY = b'{"error":"too many open connections; retry shortly"}'
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY)
)


DRAIN_GRACE_S = 10.0
"""Seconds shutdown waits for the requests under way (as the gRPC server's grace)."""


@dataclass(frozen=True)
class ListenLimits:
    """Bounds of the listening socket.

    Attributes:
        backlog: connections the kernel queues before ``accept``.
        max_connections: open connections; more are answered 503 and closed.
        idle_timeout_s: seconds a connection may send nothing (or half a request header).
        max_connections_per_client: open connections from one client address; more are
            answered 503 and closed (others still connect).
    """

    backlog: int = 1024
    max_connections: int = 1024
    max_connections_per_client: int = 256
    idle_timeout_s: float = 15.0


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    """How :func:`start`, :func:`start_store` and :func:`serve_store` serve: ``kerasforge serve``'s
    flags (:func:`kerasforge.serving.cli.server_options` builds it from them).

    Attributes:
        host: address to bind (REST and gRPC); loopback unless told otherwise.
        rest_port: REST port; 0 picks a free one (read it from ``server.server_port``).
        poll_seconds: how often to look for new versions; 0 disables polling.
        limits: request bounds (body size, concurrency, timeouts, REST threads as
            ``limits.workers``); ``None``: :class:`Limits`'s defaults.
        grpc_port: gRPC port (TF Serving's ``--port``; 0: any free one, read it from
            ``server.grpc_port``); ``None``: no gRPC.
        metrics_path: serve Prometheus metrics there on the REST port; ``None``: not served.
        warmup: warm-up replay on load (default: on, one iteration); read by :func:`start`,
            which builds the store (a store given to :func:`start_store` has its own).
        batching: batch concurrent predict calls (TF Serving's ``--enable_batching``).
        grpc_threads: threads answering gRPC calls (TF Serving's ``--grpc_max_threads``;
            0: its default, 4 per CPU).
        grpc_socket_path: also serve gRPC on this UNIX socket (``--grpc_socket_path``).
        grpc_channel_arguments: gRPC server arguments (``--grpc_channel_arguments``).
        grpc_healthcheck: serve ``grpc.health.v1.Health``
            (``--enable_grpc_healthcheck_service``).
        grpc_ssl_config: TF Serving ``SSLConfig`` text proto (``--ssl_config_file``).
        tensor_content: gRPC answers in ``tensor_content``, not typed fields
            (``--enable_serialization_as_tensor_content``).
        method_name_check: Classify/Regress/MultiInference need those method names
            (``--enable_signature_method_name_check``).
        config_reload: accept gRPC ``HandleReloadConfigRequest``
            (``--enable_model_config_reload``).
        max_input_elements: elements one request input may hold (``--max_input_elements``).
        cors: CORS headers and preflight answers (``--rest_api_enable_cors_support``).
        saved_model_tags: the MetaGraph to load (``--saved_model_tags``).
        max_load_retries: tries after a failed load (``--max_num_load_retries``).
        load_retry_interval_s: seconds between them (``--load_retry_interval_micros``).
        drift: drift tracking (``--drift_window_size``, 0: off; ``--drift_interval_seconds``).
    """

    host: str = "127.0.0.1"
    rest_port: int = 8501
    poll_seconds: float = 1.0
    limits: Limits | None = None
    grpc_port: int | None = None
    metrics_path: str | None = None
    warmup: WarmupOptions | None = None
    batching: BatchingOptions | None = None
    grpc_threads: int = 0
    grpc_socket_path: str | None = None
    grpc_channel_arguments: tuple[tuple[str, int | str], ...] = ()
    grpc_healthcheck: bool = False
    grpc_ssl_config: Path | None = None
    tensor_content: bool = False
    method_name_check: bool = False
    config_reload: bool = False
    max_input_elements: int = DEFAULT_MAX_INPUT_ELEMENTS
    cors: bool = False
    saved_model_tags: tuple[str, ...] = ("serve",)
    max_load_retries: int = 5
    load_retry_interval_s: float = 60.0
    drift: DriftOptions = field(default_factory=DriftOptions)

    def load_options(self) -> dict[str, Any]:
        """The store's share of these options: the tags to load and the load retries."""
        return {
            "saved_model_tags": ",".join(self.saved_model_tags),
            "retries": (self.max_load_retries, self.load_retry_interval_s),
        }

    def grpc_options(self) -> grpc_api.GrpcOptions:
        """The gRPC server's share of these options (``grpc_port`` must be set)."""
        from . import grpc_api

        return grpc_api.GrpcOptions(
            host=self.host,
            port=self.grpc_port or 0,
            workers=self.grpc_threads,
            socket_path=self.grpc_socket_path,
            channel_arguments=self.grpc_channel_arguments,
            healthcheck=self.grpc_healthcheck,
            ssl_config=self.grpc_ssl_config,
            tensor_content=self.tensor_content,
            config_reload=self.config_reload,
            max_input_elements=self.max_input_elements,
            method_name_check=self.method_name_check,
        )


class _Refuse(asyncio.Protocol):
    """Answers one over-the-cap connection with 503 and closes it."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(BUSY)  # type: ignore[attr-defined]
        transport.close()


@dataclass
class RestServer:
    """A running REST server: its address, event loop thread and model store."""

    store: ModelStore
    api: RestApi
    server_address: tuple[str, int]
    loop: asyncio.AbstractEventLoop = field(repr=False)
    runner: web.AppRunner = field(repr=False)
    listener: Any = field(repr=False)
    thread: threading.Thread = field(repr=False)
    grpc_server: Any = field(default=None, repr=False)
    grpc_port: int | None = None
    grpc_threads: int | None = None

    @property
    def server_port(self) -> int:
        """The bound REST port."""
        return self.server_address[1]

    def shutdown(self) -> None:
        """Stop listening, let in-flight requests finish (up to ``DRAIN_GRACE_S``), then stop
        the loop. A keep-alive connection closes after answering its request under way."""
        if self.grpc_server is not None:
            self.grpc_server.stop(grace=10).wait()  # in-flight calls finish first
            self.grpc_server = None
        if not self.loop.is_running():
            return
        future = asyncio.run_coroutine_threadsafe(self._close(), self.loop)
        future.result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.api.close()
        if self.api.batcher is not None:
            self.api.batcher.close()

    async def _close(self) -> None:
        self.listener.close()
        server = self.runner.server
        if server is not None:  # requests under way finish, each connection then closes
            for connection in server.connections:
                if isinstance(connection, ClientHandler):
                    connection.drain()
            deadline = self.loop.time() + DRAIN_GRACE_S
            while server.connections and self.loop.time() < deadline:
                await asyncio.sleep(0.02)
        await self.runner.shutdown()
        await self.runner.cleanup()  # what is left after the grace period is cut


def serve_store(
    store: ModelStore,
    options: ServerOptions | None = None,
    listen: ListenLimits | None = None,
    metrics: Metrics | None = None,
    batcher: Batcher | None = None,
    observers: Observers | None = None,
) -> RestServer:
    """Serve ``store`` over REST on an event loop thread of its own.

    Args:
        store: the models to serve.
        options: read here: ``host``, ``rest_port``, ``limits`` and ``metrics_path`` (serves
            ``metrics`` there); the rest is :func:`start_store`'s. Default: ``ServerOptions()``.
        listen: bounds of the listening socket (default: ``ListenLimits()``).
        metrics: the counters to serve and count into (default: a new :class:`Metrics`).
        batcher: batch predict calls in it; ``None``: no batching.
        observers: see every answered request; closed when the server shuts down.

    Raises:
        ServingError: the address cannot be bound (HTTP 503).
    """
    options = options or ServerOptions()
    host, rest_port = options.host, options.rest_port
    listen = listen or ListenLimits()
    try:
        sock = socket.create_server((host, rest_port), backlog=listen.backlog, reuse_port=False)
    except OSError as exc:
        raise ServingError(
            f"cannot listen on {host}:{rest_port}: {exc.strerror}; another server (an earlier "
            "`make serve`?) may hold the port: stop it or choose another with --rest-port",
            status=503,
        ) from None
    api = RestApi(
        store,
        options.limits,
        metrics,
        options.metrics_path,
        batcher,
        options.cors,
        options.method_name_check,
        observers,
    )
    loop = asyncio.new_event_loop()
    handler_args: dict[str, Any] = {"access_log": None, "keepalive_timeout": listen.idle_timeout_s}
    runner = web.AppRunner(api.app(), handle_signals=False, **handler_args)
    loop.run_until_complete(runner.setup())
    handler = runner.server
    assert handler is not None
    open_per_client: Counter[str] = Counter()

    def factory() -> asyncio.Protocol:
        if len(handler.connections) >= listen.max_connections:
            return _Refuse()
        return ClientHandler(
            handler, open_per_client, listen.max_connections_per_client, loop=loop, **handler_args
        )

    listener = loop.run_until_complete(
        loop.create_server(factory, sock=sock, backlog=listen.backlog)
    )
    thread = threading.Thread(target=loop.run_forever, name="rest", daemon=True)
    thread.start()
    address = sock.getsockname()[:2]
    return RestServer(store, api, (address[0], address[1]), loop, runner, listener, thread)


def start(
    repository: str | Path, options: ServerOptions | None = None
) -> tuple[RestServer, ModelStore]:
    """Load the repository and serve REST (and gRPC if ``options.grpc_port`` is set) in the
    background.

    Args:
        repository: model repository root (``<root>/<name>/<version>/``).
        options: address, ports, polling, limits, metrics, warm-up, batching and gRPC
            threads (:class:`ServerOptions`; default: ``ServerOptions()``).

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
    """Serve ``store`` over REST (and gRPC if ``options.grpc_port`` is set), polling for new
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
    if options.grpc_port is not None:
        from . import grpc_api

        grpc_options = options.grpc_options()
        try:
            server.grpc_server, server.grpc_port = grpc_api.serve(
                store, grpc_options, metrics=metrics, batcher=batcher, observers=observers
            )
            server.grpc_threads = grpc_api.request_threads(
                grpc_options.workers, grpc_options.max_inflight, batcher
            )
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
