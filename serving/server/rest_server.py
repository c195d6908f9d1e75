"""The REST listener of the embedded server: TF Serving's REST API on an event loop thread.

:func:`serve_store` serves the routes of :mod:`kerasforge.serving.server.rest_api` with aiohttp
on its own event loop thread, binding 127.0.0.1:8501 unless told otherwise, and returns the
running :class:`RestServer`. The listener is bounded (:class:`ListenLimits`): a listen
backlog, a cap on open connections (one more is answered 503 and closed), a cap per client
address, an idle/header timeout (a connection that sends nothing, or half a request, is
closed), TCP_NODELAY (aiohttp sets it), HTTP parsed strictly by aiohttp (chunked bodies
decoded, bad ``Content-Length`` refused with 400, unread bodies drained or the connection
closed, so keep-alive cannot desync). :meth:`RestServer.shutdown` drains the requests under
way. :mod:`kerasforge.serving.server.embedded` puts this listener, the gRPC one and the model
store together.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..errors import ServingError
from .batching import Batcher
from .http_errors import ClientHandler
from .metrics import Metrics
from .observers import Observers
from .options import ServerOptions
from .rest_api import RestApi
from .store import ModelStore

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
    runner: web.BaseRunner = field(repr=False)
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
        options: read here: ``host``, ``rest_port``, ``limits``, ``metrics_path`` (serves
            ``metrics`` there), ``cors`` and ``method_name_check``; the rest is
            ``embedded.start_store``'s. Default: ``ServerOptions()``.
        listen: bounds of the listening socket (default: ``ListenLimits()``).
        metrics: the counters to serve and count into (default: a new :class:`Metrics`).
        batcher: batch predict calls in it; ``None``: no batching.
        observers: see every answered request; closed when the server shuts down.

    Raises:
        ServingError: the address cannot be bound (HTTP 503).
    """
    options = options or ServerOptions()
    listen = listen or ListenLimits()
    sock = _bind(options.host, options.rest_port, listen.backlog)
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
    runner, listener = _listen(api, sock, listen, loop)
    thread = threading.Thread(target=loop.run_forever, name="rest", daemon=True)
    thread.start()
    address = sock.getsockname()[:2]
    return RestServer(store, api, (address[0], address[1]), loop, runner, listener, thread)


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    """The listening socket on ``host:port``.

    Raises:
        ServingError: the address cannot be bound (HTTP 503).
    """
    try:
        return socket.create_server((host, port), backlog=backlog, reuse_port=False)
    except OSError as exc:
        raise ServingError(
            f"cannot listen on {host}:{port}: {exc.strerror}; another server (an earlier "
            "`make serve`?) may hold the port: stop it or choose another with --rest-port",
            status=503,
        ) from None


def _listen(
    api: RestApi, sock: socket.socket, listen: ListenLimits, loop: asyncio.AbstractEventLoop
) -> tuple[web.BaseRunner, asyncio.AbstractServer]:
    """aiohttp's low-level server over ``api.dispatch`` (no application router: one handler
    takes every request), accepting on ``sock`` through :func:`_connections`."""
    handler_args: dict[str, Any] = {"access_log": None, "keepalive_timeout": listen.idle_timeout_s}
    server = web.Server(api.dispatch, loop=loop, **handler_args)
    runner = web.ServerRunner(server, handle_signals=False)
    loop.run_until_complete(runner.setup())
    factory = _connections(runner, listen, loop, handler_args)
    listener = loop.run_until_complete(
        loop.create_server(factory, sock=sock, backlog=listen.backlog)
    )
    return runner, listener


def _connections(
    runner: web.BaseRunner,
    listen: ListenLimits,
    loop: asyncio.AbstractEventLoop,
    handler_args: dict[str, Any],
) -> Callable[[], asyncio.Protocol]:
    """A protocol per accepted connection: a :class:`ClientHandler`, or a 503 past
    ``listen.max_connections``."""
    handler = runner.server
    assert handler is not None
    open_per_client: Counter[str] = Counter()

    def factory() -> asyncio.Protocol:
        if len(handler.connections) >= listen.max_connections:
            return _Refuse()
        return ClientHandler(
            handler, open_per_client, listen.max_connections_per_client, loop=loop, **handler_args
        )

    return factory
