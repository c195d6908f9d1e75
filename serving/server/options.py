"""What the embedded server is told: ``kerasforge serve``'s flags as two frozen option objects.

:class:`ServerOptions` is the whole server (address, REST, loading, polling, batching,
drift, the switches both protocols read); its ``grpc`` field, a :class:`GrpcOptions`, is
the gRPC listener's own share (port, threads, socket, TLS, wire form, reloads), so that
each flag has one field. :func:`kerasforge.serving.cli.server_options` builds them from the
flags; :func:`kerasforge.serving.server.embedded.start_store` hands ``grpc`` to
:func:`kerasforge.serving.server.grpc_api.serve`, which a caller may also start alone.
Importing this module loads no TensorFlow, gRPC or aiohttp.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .drift import DriftOptions
from .limits import DEFAULT_MAX_INPUT_ELEMENTS

if TYPE_CHECKING:
    from .batching import BatchingOptions
    from .rest_api import Limits
    from .warmup import WarmupOptions

MAX_INFLIGHT = 64
"""gRPC calls admitted at once by default; beyond them, RESOURCE_EXHAUSTED."""


@dataclass(frozen=True, kw_only=True)
class GrpcOptions:
    """How the gRPC server listens and answers (TF Serving's gRPC flags); where it binds
    and whether it checks method names are the whole server's (:class:`ServerOptions`'s
    ``host`` and ``method_name_check``, passed to ``grpc_api.serve``).

    Attributes:
        port: TCP port (TF Serving's ``--port``; 0: any free one, read it from
            ``server.grpc_port``).
        workers: threads answering calls (``--grpc_max_threads``; 0: 4 per CPU).
        max_inflight: calls admitted at once; beyond, RESOURCE_EXHAUSTED.
        socket_path: also listen on this UNIX socket (``--grpc_socket_path``).
        channel_arguments: gRPC server arguments (``--grpc_channel_arguments``); they
            override this server's own (a 64 MiB receive limit).
        healthcheck: serve ``grpc.health.v1.Health`` (``--enable_grpc_healthcheck_service``).
        ssl_config: TF Serving ``SSLConfig`` text proto for the listeners (``--ssl_config_file``).
        tensor_content: answer with ``tensor_content`` instead of typed fields
            (``--enable_serialization_as_tensor_content``).
        config_reload: accept ``HandleReloadConfigRequest`` (``--enable_model_config_reload``);
            off, it answers UNIMPLEMENTED.
        max_input_elements: elements one request input may hold (``--max_input_elements``).
        reload_roots: the folders a reload's base paths must lie under; empty: the
            repository root and the base paths the store serves when ``serve`` starts.
    """

    port: int = 8500
    workers: int = 0
    max_inflight: int = MAX_INFLIGHT
    socket_path: str | None = None
    channel_arguments: tuple[tuple[str, int | str], ...] = ()
    healthcheck: bool = False
    ssl_config: Path | None = None
    tensor_content: bool = False
    config_reload: bool = False
    max_input_elements: int = DEFAULT_MAX_INPUT_ELEMENTS
    reload_roots: tuple[Path, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    """How ``embedded.start``, ``start_store`` and ``serve_store`` serve: ``kerasforge
    serve``'s flags (:func:`kerasforge.serving.cli.server_options` builds it from them).

    Attributes:
        host: address to bind (REST and gRPC); loopback unless told otherwise.
        rest_port: REST port; 0 picks a free one (read it from ``server.server_port``).
        poll_seconds: how often to look for new versions; 0 disables polling.
        limits: request bounds (body size, concurrency, timeouts, REST threads as
            ``limits.workers``); ``None``: ``rest_api.Limits``'s defaults.
        grpc: the gRPC listener (:class:`GrpcOptions`); ``None``: no gRPC.
        metrics_path: serve Prometheus metrics there on the REST port; ``None``: not served.
        warmup: warm-up replay on load (default: on, one iteration); read by ``start``,
            which builds the store (a store given to ``start_store`` has its own).
        batching: batch concurrent predict calls (TF Serving's ``--enable_batching``).
        method_name_check: Classify/Regress/MultiInference need those method names, over
            REST and gRPC (``--enable_signature_method_name_check``).
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
    grpc: GrpcOptions | None = None
    metrics_path: str | None = None
    warmup: WarmupOptions | None = None
    batching: BatchingOptions | None = None
    method_name_check: bool = False
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
