"""The one hook after a successful answer: observers see every request the server answered.

REST and gRPC handlers call :meth:`Observers.notify` with an :class:`Exchange`
once the answer is built (never for a refused or failed request). Each
observer decides per model what it does with it (request logging samples it,
:mod:`.request_log`); it must return at once and never raise into the request:
work that costs more goes to a thread of its own. An observer that raises is
logged and the request is answered as if nothing happened.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Exchange:
    """One answered request, as observers see it. Arrays are shared with the request path:
    read them, never write to them.

    Attributes:
        model: the model's name.
        version: the version that answered.
        signature: the signature that ran (empty for a MultiInference, which runs several).
        method: ``predict``, ``classify``, ``regress`` or ``multi_inference``.
        protocol: ``rest`` or ``grpc``.
        tags: the MetaGraph's tags (``--saved_model_tags``).
        inputs: the signature's inputs by name (predict; classify and regress over REST
            hold ``None``: their examples are in ``request``).
        outputs: the signature's outputs by name (``None`` for a MultiInference).
        request: gRPC: the request message as received; REST classify/regress: the
            ``tensorflow.serving.Input`` decoded from the JSON; REST predict: ``None``.
        response: gRPC: the response message sent; REST: ``None``.
        time: seconds since the epoch when the answer was ready.
    """

    model: str
    version: int
    signature: str
    method: str
    protocol: str
    tags: tuple[str, ...] = ("serve",)
    inputs: Mapping[str, np.ndarray] | None = None
    outputs: Mapping[str, np.ndarray] | None = None
    request: Any = None
    response: Any = None
    time: float = field(default_factory=time.time)

    @classmethod
    def of(cls, model: Any, signature: str, method: str, protocol: str, **parts: Any) -> Exchange:
        """The exchange of ``model`` (a ``LoadedModel``); ``parts`` as the attributes."""
        return cls(model.name, model.version, signature, method, protocol, model.tags, **parts)


class Observer(Protocol):
    """Sees answered requests; ``observe`` returns at once, ``close`` flushes what it holds."""

    def observe(self, exchange: Exchange) -> None:
        """Take note of one answered request (cheap, non-blocking, never raising)."""
        ...

    def close(self) -> None:
        """Finish: write out what is held; called once at shutdown, after the last request."""
        ...


class Observers:
    """The server's observers, shared by REST and gRPC; false when there are none."""

    def __init__(self, observers: Iterable[Observer] = ()) -> None:
        self._observers: tuple[Observer, ...] = tuple(observers)

    def add(self, observer: Observer) -> None:
        """Add ``observer`` (before the server answers requests)."""
        self._observers = (*self._observers, observer)

    def __bool__(self) -> bool:
        return bool(self._observers)

    def notify(self, exchange: Exchange) -> None:
        """Hand ``exchange`` to every observer; one that raises is logged, never the request's
        failure."""
        for observer in self._observers:
            try:
                observer.observe(exchange)
            except Exception:  # an observer's bug must not fail an answered request
                log.exception("observer %r failed on a %s request", observer, exchange.model)

    def close(self) -> None:
        """Close every observer (shutdown, after the last request)."""
        for observer in self._observers:
            try:
                observer.close()
            except Exception:
                log.exception("closing observer %r failed", observer)
