"""The REST connection handler: HTTP-level faults as JSON, per-client bounds, draining.

aiohttp answers what its parser refuses (a bad method, oversized headers, a bad
``Content-Length``) in plain text, with an ``HTTP/1.0`` status line, and logs a
traceback for each; a body it cannot decode (``Content-Encoding: gzip`` over
plain bytes) reaches the handler as an exception. :class:`ClientHandler` is
aiohttp's connection handler with those answers replaced, and with a bound on
the connections one client address may hold open (more are answered 503 and
closed, so one client cannot take every connection slot) and a drain for
shutdown that lets keep-alive requests under way finish (aiohttp's own shutdown
stops reading every connection first, resetting requests still arriving).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from aiohttp import web
from aiohttp.http import HttpVersion11
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from . import json_tensor

log = logging.getLogger(__name__)

BODY_ERRORS = (web.RequestPayloadError, HttpProcessingError)
"""What reading a body that aiohttp cannot decode raises."""
SUPPORTED_VERSIONS = ((1, 0), (1, 1))


def body_message(request: web.BaseRequest, exc: BaseException) -> str:
    """The client's mistake when its body could not be read (``exc`` from :data:`BODY_ERRORS`)."""
    encoding = request.headers.get("Content-Encoding")
    if encoding:
        return (
            f"request body could not be decoded as Content-Encoding: {encoding}; send the "
            "body compressed that way, or leave the header out"
        )
    return f"request body could not be read: {_reason(exc)}"


def _reason(exc: BaseException | None) -> str:
    """The first line of aiohttp's message, without its ``400, message:`` prefix."""
    text = getattr(exc, "message", None) or str(exc or "bad request")
    return str(text).strip().splitlines()[0].strip() if str(text).strip() else "bad request"


def body_error(request: web.BaseRequest, exc: BaseException) -> web.Response:
    """400 for a body that could not be read; the connection closes after it (where the
    next request starts is unknown) and aiohttp does not read the broken body again."""
    request.content.feed_eof()
    response = json_response(400, body_message(request, exc))
    response.force_close()
    return response


def as_http11(request: web.BaseRequest) -> None:
    """Answer ``request`` with an ``HTTP/1.1`` status line (aiohttp echoes the request's
    version: ``HTTP/1.0`` for one it could not parse, ``HTTP/2.0`` for such a request line)."""
    request._version = HttpVersion11  # type: ignore[attr-defined]
    request._cache["version"] = HttpVersion11  # ``version`` is cached on first read


def version_error(request: web.BaseRequest) -> web.Response | None:
    """505 for a request line that names an HTTP version other than 1.0 and 1.1."""
    if tuple(request.version) in SUPPORTED_VERSIONS:
        return None
    got = f"HTTP/{request.version.major}.{request.version.minor}"
    as_http11(request)
    response = json_response(505, f"{got} is not supported here; send HTTP/1.1 (or 1.0)")
    response.force_close()
    return response


async def expect_continue(request: web.BaseRequest) -> None:
    """Answer ``Expect: 100-continue`` (curl sends it before a body over 1 KiB) with
    ``100 Continue``, so the client sends its body now, as aiohttp's application router does.

    Raises:
        web.HTTPExpectationFailed: another expectation (HTTP 417).
    """
    if request.version != HttpVersion11:  # HTTP/1.0 has no interim answers
        return
    expect = request.headers.get("Expect", "")
    if expect.lower() != "100-continue":
        raise web.HTTPExpectationFailed(
            reason=f"unknown Expect: {expect[:100]}; send Expect: 100-continue, or no Expect"
        )
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # the answer's own status line is still to come
    await request.writer.drain()


def json_response(status: int, message: str) -> web.Response:
    """``{"error": message}`` with ``status``."""
    return web.Response(
        status=status,
        body=json_tensor.dumps({"error": message}),
        content_type="application/json",
    )


def refusal(status: int, message: str) -> bytes:
    """A whole HTTP/1.1 answer that closes its connection, written before any request."""
    body = json_tensor.dumps({"error": message})
    reason = {429: "Too Many Requests", 503: "Service Unavailable"}[status]
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (status, reason.encode(), len(body), body)
    )


class ClientHandler(RequestHandler):
    """aiohttp's connection handler, JSON for parser errors, at most ``per_client``
    connections per client address (counted in ``open_per_client``)."""

    def __init__(
        self, manager: Any, open_per_client: Counter[str], per_client: int, **kwargs: Any
    ) -> None:
        super().__init__(manager, **kwargs)
        self._open = open_per_client
        self._per_client = per_client
        self._client: str | None = None
        self._fresh = False  # bytes arrived since the last request started being handled
        self._draining = False

    def connection_made(self, transport: Any) -> None:
        """Count the connection against its address, or refuse it when that one is full."""
        peer = transport.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) else ""
        if self._open[client] >= self._per_client:
            log.info("refused a connection from %s: %d open", client, self._open[client])
            transport.write(
                refusal(
                    503,
                    f"too many open connections from {client} (limit {self._per_client}); "
                    "reuse keep-alive connections or close some",
                )
            )
            transport.close()
            self._force_close = True  # data_received ignores what it still sends
            return
        self._client = client
        self._open[client] += 1
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        """Release the address's share (a refused connection never took one)."""
        if self._client is None:
            return
        self._open[self._client] -= 1
        if not self._open[self._client]:
            del self._open[self._client]
        self._client = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Note that a request may be arriving (a draining server waits for it)."""
        if data:
            self._fresh = True
        super().data_received(data)

    async def _handle_request(self, request: Any, *args: Any) -> Any:
        self._fresh = False
        return await super()._handle_request(request, *args)

    async def finish_response(self, request: Any, resp: Any, start_time: Any) -> Any:
        """Answer; while draining, with ``Connection: close`` (then the connection ends)."""
        if self._draining:
            resp.force_close()
        return await super().finish_response(request, resp, start_time)

    def drain(self) -> None:
        """Shutdown begins: close now if idle, else after answering the request under way
        (its body included), so a keep-alive client gets its answer, not a reset."""
        self._draining = True
        if not (self._request_in_progress or self._messages or self._fresh):
            self.force_close()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A request aiohttp could not parse or handle: JSON, ``HTTP/1.1``, one log line."""
        if request.writer.output_size > 0:  # an answer already started: nothing to add
            return super().handle_error(request, status, exc, message)
        if status >= 500:
            log.error("%s from %s: %s", status, request.remote, _reason(exc), exc_info=exc)
            text = "internal error; see the server log"
        else:
            text = f"malformed HTTP request: {_reason(exc) if exc else message or 'bad request'}"
            log.info("%s from %s: %s", status, request.remote, text)
        as_http11(request)
        response = json_response(status, text)
        response.force_close()
        return response
