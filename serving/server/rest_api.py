"""TF Serving's REST API as an aiohttp application over a :class:`ModelStore`.

Routes (``g3doc/api_rest.md``), where ``[/versions/{v}|/labels/{l}]`` picks a
version (else the latest): ``POST /v1/models/{name}[...]:predict``, ``:classify``
and ``:regress`` (tf.Example JSON, :mod:`kerasforge.serving.server.examples`),
``GET /v1/models/{name}[...]`` (status) and ``GET .../metadata``; beyond
TF Serving, ``GET .../drift`` (the version's drift report, :mod:`.drift`),
``GET /healthz`` (alive), ``GET /readyz`` (every model loaded and warmed up, with
the warm-up requests each version replayed; else 503) and the Prometheus
metrics at the ``--monitoring_config_file`` path. Every answer is JSON but the
metrics; errors are ``{"error": "..."}`` with 400 (bad request, or a method or path
under ``/v1/`` that TF Serving calls malformed:
:mod:`kerasforge.serving.server.rest_routes`), 404 (no such model or version, or
a path outside ``/v1/``), 408 (body too slow), 413 (body over the limit), 429
(all model slots busy, or too many bodies arriving from one address), 503, 504
(the call outlived ``--rest_api_timeout_in_ms``) or 505; a 500 means a bug here,
never a client's mistake. With CORS enabled every ``/v1/`` answer carries TF
Serving's CORS headers; ``OPTIONS`` preflights are answered either way. Model
calls run in a bounded thread pool, off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..errors import ServingError
from . import batching, http_errors, json_tensor, rest_routes
from .drift import DriftTracker
from .metrics import CONTENT_TYPE, Call, Metrics
from .observers import Observers
from .rest_bodies import (
    decode_predict,
    drift_body,
    encode_predict,
    examples_json,
    metadata_body,
    predict_json,
    status_body,
)
from .store import LoadedModel, ModelStore
from .workers import LifoThreadPool, LoopInbox, default_threads

log = logging.getLogger(__name__)

INLINE_DECODE_BYTES = 16 * 1024
"""With batching, predict bodies up to this size are decoded on the event loop (well under
a millisecond) and await their batch there; larger ones are decoded on a pool thread."""


@dataclass(frozen=True)
class Limits:
    """Bounds of the REST server.

    Attributes:
        max_body_bytes: largest request body; larger gets 413.
        max_inflight: requests in the model pool or waiting for it; more get 429. A request
            counts once its body is read: a slow body holds no model slot.
        max_bodies_per_client: bodies one client address may be sending at once (each
            arriving after its headers); more from that address get 429.
        max_bodies_reading: bodies being received from all clients at once; more get 503.
        workers: threads running model calls (TF Serving's ``--rest_api_num_threads``;
            default 4 per CPU, as its default).
        body_timeout_s: seconds to receive a body once its headers arrived; else 408.
        call_timeout_s: seconds a model call (decode, run, answer) may take, else 504, as
            TF Serving's ``--rest_api_timeout_in_ms``; 0: no bound. The abandoned call
            keeps its model slot until its thread returns.
    """

    max_body_bytes: int = 32 * 1024 * 1024
    max_inflight: int = 64
    max_bodies_per_client: int = 16
    max_bodies_reading: int = 256
    workers: int = field(default_factory=default_threads)
    body_timeout_s: float = 30.0
    call_timeout_s: float = 30.0


class RestApi:
    """Request handlers over ``store``; aiohttp's low-level server calls :meth:`dispatch`."""

    def __init__(
        self,
        store: ModelStore,
        limits: Limits | None = None,
        metrics: Metrics | None = None,
        metrics_path: str | None = None,
        batcher: batching.Batcher | None = None,
        cors: bool = False,
        check_method: bool = False,
        observers: Observers | None = None,
    ) -> None:
        self.store = store
        self.observers = observers or Observers()  # see every answered request; closed last
        self.drift: DriftTracker | None = None  # GET .../drift's reports (start_store sets it)
        self.limits = limits or Limits()
        self.metrics = metrics or Metrics()
        self.metrics_path = metrics_path
        self.batcher = batcher
        self.cors, self.check_method = cors, check_method  # the two flags' switches
        # Batched calls wait in their thread for the batch: every admitted request needs one.
        workers = self.limits.max_inflight if batcher else self.limits.workers
        self.pool = LifoThreadPool(workers, thread_name_prefix="predict")
        self.inflight = 0
        self.inbox: LoopInbox | None = None  # answers from the pool, made on the loop
        self.reading: Counter[str] = Counter()  # bodies being received, per client address

    async def dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one request (aiohttp's low-level server hands every request here); every
        outcome is a JSON answer (CORS headers added if asked)."""
        response = await self._answer(request)
        if self.cors and rest_routes.API_PREFIX.fullmatch(request.path):
            # http_server.cc: on every /v1/ answer, errors included
            response.headers.update(rest_routes.CORS_HEADERS)
        return response

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._route(request)
        except ServingError as exc:
            return error(exc.status, str(exc))
        except web.HTTPException as exc:
            return error(exc.status, exc.reason)
        except http_errors.BODY_ERRORS as exc:  # a body aiohttp could not decode
            return http_errors.body_error(request, exc)
        except ConnectionResetError:  # the client hung up: one line, no traceback
            log.info("client %s went away: %s %s", request.remote, request.method, request.path)
            return error(400, "connection closed by the client")
        except Exception as exc:  # a bug here: log it, answer 500, keep serving
            log.exception("%s %s failed", request.method, request.path)
            return error(500, f"{type(exc).__name__}: {exc}")

    async def _route(self, request: web.Request) -> web.StreamResponse:
        unsupported = http_errors.version_error(request)
        if unsupported is not None:
            return unsupported
        if request.headers.get("Expect"):
            await http_errors.expect_continue(request)
        if request.path in ("/healthz", "/readyz") and request.method == "GET":
            return self._health(request.path == "/readyz")
        if request.path == self.metrics_path and request.method == "GET":
            return web.Response(
                body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE}
            )
        path = request.rel_url.raw_path
        if not rest_routes.API_PREFIX.fullmatch(path):  # TF Serving's handler never sees it
            raise ServingError(
                f"no such route: {request.method} {path}; {rest_routes.USAGE}", status=404
            )
        if request.method == "OPTIONS":
            return rest_routes.preflight(request)
        route = rest_routes.parse(request.method, path)
        if route.verb == "status":
            return reply(status_body(self.store, route.name, route.version, route.label))
        model = self.store.get(route.name, route.version, route.label)
        if route.verb == "metadata":
            return reply(metadata_body(model))
        if route.verb == "drift":
            return reply(drift_body(self.drift, model))
        return await self._predict(request, model, route.verb)

    def _health(self, ready_check: bool) -> web.Response:
        """``/healthz``: the process answers; ``/readyz``: every model on disk has a version."""
        if not ready_check:
            return reply({"status": "alive"})
        waiting = [n for n in self.store.model_names() if not self.store.versions(n)]
        if waiting:
            return reply({"status": "loading", "models_not_loaded": waiting}, 503)
        models = self.store.models()
        warmed: dict[str, dict[str, int]] = {}
        for model in models:  # every served version replayed its warm-up records first
            warmed.setdefault(model.name, {})[str(model.version)] = model.warmup_requests
        return reply(
            {"status": "ready", "models": sorted(warmed), "warmup_requests_replayed": warmed}
        )

    async def _predict(self, request: web.Request, model: LoadedModel, verb: str) -> web.Response:
        """Run ``verb`` on ``model`` (resolved first: a 404 before reading an unused body)."""
        raw = await self._client_body(request)
        if self.inflight >= self.limits.max_inflight:
            raise ServingError(
                f"server busy: {self.inflight} requests in flight (limit "
                f"{self.limits.max_inflight}); retry with backoff",
                status=429,
            )
        self.inflight += 1
        with self.metrics.track("rest", verb, model.name) as call:
            call.version = model.version
            try:
                payload = await self._call(verb, model, raw, call)
            except TimeoutError:
                timeout = self.limits.call_timeout_s
                raise ServingError(
                    f"the model call took longer than the REST timeout of {timeout * 1000:g} "
                    "ms (--rest_api_timeout_in_ms): send fewer instances per request, or "
                    "raise the timeout",
                    status=504,
                ) from None
        return web.Response(body=payload, content_type="application/json")

    def _call(self, verb: str, model: LoadedModel, raw: bytes, call: Call) -> Awaitable[bytes]:
        """The call's answer, or ``TimeoutError`` past ``call_timeout_s``. The call runs to
        its end even past the timeout (a thread cannot be stopped): it keeps its model slot
        (``inflight``) until then, so abandoned calls cannot pile up."""
        if verb == "predict" and self.batcher and len(raw) <= INLINE_DECODE_BYTES:
            task = asyncio.ensure_future(self._predict_batched(model, raw, call))
            task.add_done_callback(self._batched_done)
            return asyncio.wait_for(asyncio.shield(task), self.limits.call_timeout_s or None)
        return self._in_pool(verb, model, raw, call)

    def _batched_done(self, task: asyncio.Future[bytes]) -> None:
        self.inflight -= 1
        if not task.cancelled():
            task.exception()  # retrieved: a timed-out call's error is not logged as lost

    async def _client_body(self, request: web.Request) -> bytes:
        """The body, bounding the bodies still arriving per client address and in all."""
        if request.content.is_eof():  # all of it came with the headers: nothing to wait for
            return await self._body(request)
        client = request.remote or ""
        if self.reading[client] >= self.limits.max_bodies_per_client:
            raise ServingError(
                f"too many request bodies arriving from {client} at once (limit "
                f"{self.limits.max_bodies_per_client}); finish sending them, then retry",
                status=429,
            )
        if self.reading.total() >= self.limits.max_bodies_reading:
            raise ServingError(
                f"server busy receiving {self.limits.max_bodies_reading} request bodies; "
                "retry with backoff",
                status=503,
            )
        self.reading[client] += 1
        try:
            return await self._body(request)
        finally:
            self.reading[client] -= 1
            if not self.reading[client]:
                del self.reading[client]

    def _in_pool(
        self, verb: str, model: LoadedModel, raw: bytes, call: Call
    ) -> asyncio.Future[bytes]:
        """The whole request (decode, call, answer) on a pool thread; its answer comes back
        through ``inbox`` (no executor future, task or timeout wrapper per request)."""
        if verb == "predict":
            run = functools.partial(predict_json, batcher=self.batcher, observers=self.observers)
        else:
            run = functools.partial(
                examples_json,
                verb,
                batcher=self.batcher,
                check_method=self.check_method,
                observers=self.observers,
            )
        loop = asyncio.get_running_loop()
        if self.inbox is None:
            self.inbox = LoopInbox(loop)
        answer: asyncio.Future[bytes] = loop.create_future()
        timeout = self.limits.call_timeout_s
        timer = loop.call_later(timeout, _expire, answer) if timeout else None

        def finished(payload: bytes | None, failure: BaseException | None) -> None:  # loop
            self.inflight -= 1
            if timer is not None:
                timer.cancel()
            if answer.done():  # timed out (or the request was cancelled): nobody waits
                return
            if failure is None:
                answer.set_result(payload)  # type: ignore[arg-type]
            else:
                answer.set_exception(failure)

        def work() -> None:  # a pool thread
            payload, failure = None, None
            try:
                payload = run(model, raw, call)
            except BaseException as exc:  # reported to the request, as a future would
                failure = exc
            inbox.post(finished, payload, failure)

        inbox = self.inbox
        try:
            self.pool.post(work)
        except RuntimeError:  # the pool is shut down: the slot is free again
            self.inflight -= 1
            if timer is not None:
                timer.cancel()
            raise
        return answer

    async def _predict_batched(self, model: LoadedModel, raw: bytes, call: Call) -> bytes:
        """A small predict decoded on the loop and awaited in its batch, holding no thread
        (32 blocked threads waking per batch cost more than the batch's signature call).
        One that cannot join a batch (no batch axis, too many rows) runs on a pool thread."""
        assert self.batcher is not None
        signature, arrays, row_format = decode_predict(model, raw, call)
        outputs = await self.batcher.run_async(batching.key(call), signature, arrays)
        if outputs is None:
            loop = asyncio.get_running_loop()
            outputs = await loop.run_in_executor(
                self.pool, batching.run, self.batcher, call, signature, arrays
            )
        return encode_predict(outputs, row_format, self.observers, model, call, arrays)

    async def _body(self, request: web.Request) -> bytes:
        """The body, refused with 413 past ``max_body_bytes`` (by its Content-Length first).

        Read chunk by chunk and dropped as soon as it is too large, so a refused body
        leaves nothing behind (``request.read()``'s buffer stayed referenced from its
        exception's traceback until the next garbage collection: 32 MB per 413).
        """
        limit = self.limits.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise _too_large(limit)
        if request.content.is_eof():  # all of it came with the headers: nothing to wait for
            raw = request.content.read_nowait()
            if len(raw) > limit:
                raise _too_large(limit)
            return raw
        try:
            return await asyncio.wait_for(_read(request, limit), self.limits.body_timeout_s)
        except TimeoutError:
            raise ServingError(
                f"request body not received within {self.limits.body_timeout_s:g} s", status=408
            ) from None

    def close(self) -> None:
        """Stop the model pool (after its running calls), then the observers (they flush)."""
        self.pool.shutdown(wait=True)
        self.observers.close()


def _expire(answer: asyncio.Future[bytes]) -> None:
    """The REST timeout passed: the request answers 504, its call runs on."""
    if not answer.done():
        answer.set_exception(TimeoutError())


def _too_large(limit: int) -> ServingError:
    return ServingError(
        f"request body exceeds {limit} bytes; send fewer instances per request", status=413
    )


async def _read(request: web.Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            chunks.clear()
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def reply(payload: Any, status: int = 200) -> web.Response:
    """A JSON answer."""
    return web.Response(
        status=status, body=json_tensor.dumps(payload), content_type="application/json"
    )


def error(status: int, message: str) -> web.Response:
    """TF Serving's error answer: ``{"error": message}``."""
    return reply({"error": message}, status)
