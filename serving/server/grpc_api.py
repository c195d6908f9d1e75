"""TF Serving's gRPC API with the official tensorflow-serving-api stubs: the server.

:func:`serve` starts a gRPC server hosting :mod:`kerasforge.serving.server.grpc_services`'
``PredictionService`` and ``ModelService`` as :class:`GrpcOptions` say: its TCP port and
optional UNIX socket (TLS on both with an ``SSLConfig``), its thread pool, channel
arguments and the standard health service. Status codes as TF Serving: NOT_FOUND for a
missing model or version, INVALID_ARGUMENT for a bad request or an unknown label,
FAILED_PRECONDITION for a config whose label names a version not loaded,
RESOURCE_EXHAUSTED beyond ``max_inflight`` concurrent calls.
"""

from __future__ import annotations

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from ..errors import ServingError
from ..wire import CLASSIFY_METHOD, REGRESS_METHOD
from . import batching
from .grpc_security import ReloadGate, server_credentials, start_up_roots
from .grpc_services import ModelService, PredictionService
from .metrics import Metrics
from .observers import Observers
from .options import MAX_INFLIGHT, GrpcOptions
from .store import ModelStore, signature_defs
from .tensor_proto import fill_tensor_proto, read_tensor_proto
from .workers import LifoThreadPool, default_threads

__all__ = [
    "CLASSIFY_METHOD",
    "HEALTH_SERVICES",
    "MAX_INFLIGHT",
    "REGRESS_METHOD",
    "GrpcOptions",
    "ModelService",
    "PredictionService",
    "fill_tensor_proto",
    "read_tensor_proto",
    "request_threads",
    "serve",
    "signature_defs",
]


def request_threads(workers: int, max_inflight: int, batcher: batching.Batcher | None) -> int:
    """Threads of the gRPC server: ``workers`` (0: 4 per CPU), or ``max_inflight`` when
    batching, where every admitted call waits in its thread for its batch."""
    return max_inflight if batcher else workers or default_threads()


HEALTH_SERVICES = ("ModelService", "PredictionService")
"""The service names TF Serving marks SERVING in its health service (``server.cc``)."""


def serve(
    store: ModelStore,
    options: GrpcOptions | None = None,
    metrics: Metrics | None = None,
    batcher: batching.Batcher | None = None,
    observers: Observers | None = None,
    *,
    host: str = "127.0.0.1",
    check_method: bool = False,
) -> tuple[grpc.Server, int]:
    """Start the gRPC server on ``host`` as ``options`` say; returns it and its TCP port.

    With a ``batcher``, Predict calls are batched and every admitted call gets a thread;
    ``observers`` see every answered Predict, Classify, Regress and MultiInference.
    ``host`` and ``check_method`` (``--enable_signature_method_name_check``) are the whole
    server's (``ServerOptions.host``, ``ServerOptions.method_name_check``).

    Raises:
        ServingError: the port or socket cannot be bound (HTTP 503), or the
            ``--ssl_config_file`` is unreadable or incomplete.
    """
    options = options or GrpcOptions()
    credentials = server_credentials(options.ssl_config) if options.ssl_config else None
    roots = options.reload_roots or start_up_roots(store)
    arguments = {"grpc.max_receive_message_length": 64 * 1024 * 1024}
    arguments.update(options.channel_arguments)
    threads = request_threads(options.workers, options.max_inflight, batcher)
    server = grpc.server(
        LifoThreadPool(threads, thread_name_prefix="grpc"),
        options=list(arguments.items()),
        maximum_concurrent_rpcs=options.max_inflight,  # beyond: RESOURCE_EXHAUSTED, as TF Serving
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(store, metrics, batcher, options, observers, check_method), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelService(store, ReloadGate(options.config_reload, roots)), server
    )
    if options.healthcheck:
        _add_health(server)
    bound = _listen(server, f"{host}:{options.port}", "--port", credentials)
    if options.socket_path:
        _listen(server, f"unix:{options.socket_path}", "--grpc_socket_path", credentials)
    server.start()
    return server, bound


def _listen(
    server: grpc.Server, address: str, flag: str, credentials: grpc.ServerCredentials | None
) -> int:
    """Bind ``address`` (with TLS when ``credentials`` are given, as TF Serving binds both
    its listeners); the bound port (or 1 for a UNIX socket).

    Raises:
        ServingError: it cannot be bound (HTTP 503).
    """
    try:
        if credentials is None:
            bound = server.add_insecure_port(address)
        else:
            bound = server.add_secure_port(address, credentials)
    except RuntimeError:
        bound = 0
    if not bound:
        raise ServingError(
            f"cannot listen for gRPC on {address}; another server may hold it, or its folder "
            f"is missing: choose another with {flag}",
            status=503,
        )
    return bound


def _add_health(server: grpc.Server) -> None:
    """``grpc.health.v1.Health``: the server and TF Serving's two services SERVING."""
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    servicer = health.HealthServicer()
    for service in ("", *HEALTH_SERVICES):
        servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
