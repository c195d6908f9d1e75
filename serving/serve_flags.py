"""The parser of ``kerasforge serve``: TF Serving's own flags, group by group, with their
value types. ``serving/cli.py`` turns the parsed flags into the server's options and runs it:
``cli.grpc_options`` reads the gRPC listener's own flags (``--port``, :func:`_grpc_flags` less
``--enable_signature_method_name_check``, ``--grpc_max_threads``,
``--enable_model_config_reload``, ``--max_input_elements``) into ``GrpcOptions``, and
``cli.server_options`` the rest (``--enable_signature_method_name_check`` included: REST reads
it too) into ``ServerOptions``, which holds that ``GrpcOptions`` as ``grpc``.
Importing this module loads the standard library only.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from .server.limits import DEFAULT_MAX_INPUT_ELEMENTS

DEFAULT_REPOSITORY = "artifacts/models"


def add_serve(
    sub: argparse._SubParsersAction, handler: Callable[[argparse.Namespace], int]
) -> None:
    """``serve``: TF Serving's flags, group by group (the order of ``serve --help``)."""
    serve = sub.add_parser(
        "serve",
        help="serve a model repository over REST (:8501) and gRPC (:8500), a drop-in for "
        "TF Serving",
        description="Serve models over TF Serving's REST API (--rest_api_port, default 8501) "
        "and gRPC API (--port, default 8500), with TF Serving's flags: its clients, curl "
        "and the tensorflow-serving-api stubs, work unchanged.",
    )
    serve.add_argument(
        "--version",
        dest="show_version",
        action="store_true",
        help="print the versions of kerasforge, TensorFlow and TF Serving's API, then exit",
    )
    for add_flags in (
        _model_source_flags,
        _loading_flags,
        _address_flags,
        _rest_flags,
        _grpc_flags,
        _feature_flags,
        _safety_flags,
        _thread_flags,
        _ignored_flags,
    ):
        add_flags(serve)
    serve.set_defaults(func=handler)


def _bool_flag(serve: argparse.ArgumentParser, flag: str, text: str, default: bool = False) -> None:
    """A TF Serving boolean flag: ``--flag``, ``--flag=true`` or ``--flag=false``."""
    serve.add_argument(
        flag, type=_flag_bool, nargs="?", const=True, default=default, help=f"{text} (true/false)"
    )


def _path_flag(serve: argparse.ArgumentParser, flag: str, text: str) -> None:
    """An optional file flag (a :class:`~pathlib.Path`, default ``None``)."""
    serve.add_argument(flag, type=Path, default=None, help=text)


def _model_source_flags(serve: argparse.ArgumentParser) -> None:
    """Where the models come from: a repository, a model config file or one model's folder."""
    serve.add_argument(
        "--repository",
        default=None,
        help=f"model repository root, every model's newest version (default {DEFAULT_REPOSITORY})",
    )
    _path_flag(
        serve,
        "--model_config_file",
        "TF Serving ModelServerConfig (text proto): models, version policies, labels",
    )
    serve.add_argument(
        "--model_config_file_poll_wait_seconds",
        type=float,
        default=0.0,
        help="re-read --model_config_file this often (0: read once)",
    )
    serve.add_argument("--model_name", default=None, help="with --model_base_path: its name")
    serve.add_argument(
        "--model_base_path", default=None, help="one model's folder of versions (absolute)"
    )
    _bool_flag(
        serve,
        "--allow_version_labels_for_unavailable_models",
        "allow new labels on versions not loaded",
    )


def _loading_flags(serve: argparse.ArgumentParser) -> None:
    """How a version is loaded: its MetaGraph's tags, and retries after a failed load."""
    serve.add_argument(
        "--saved_model_tags",
        type=_tags,
        default=("serve",),
        help="comma-separated tags of the MetaGraph to load from each SavedModel (default serve)",
    )
    serve.add_argument(
        "--max_num_load_retries",
        type=_count,
        default=5,
        help="times a version that failed to load is tried again before it is given up (0: once)",
    )
    serve.add_argument(
        "--load_retry_interval_micros",
        type=int,
        default=60_000_000,
        help="microseconds between load retries (negative: no wait)",
    )


def _address_flags(serve: argparse.ArgumentParser) -> None:
    """Where to listen, and how often to look for new versions."""
    serve.add_argument(
        "--host", "--rest_api_host", default="127.0.0.1", help="address to bind (REST and gRPC)"
    )
    serve.add_argument(
        "--rest-port", "--rest_api_port", type=int, default=8501, help="REST port (0: any free)"
    )
    serve.add_argument(
        "--port", dest="grpc_port", type=int, default=8500, help="gRPC port (0: any free)"
    )
    serve.add_argument(
        "--poll-seconds",
        "--file_system_poll_wait_seconds",
        type=float,
        default=1.0,
        help="new-version poll period in seconds (0: no polling)",
    )


def _rest_flags(serve: argparse.ArgumentParser) -> None:
    """The REST listener: CORS and the time one call may take."""
    _bool_flag(
        serve,
        "--rest_api_enable_cors_support",
        "answer CORS preflight requests and allow any origin",
    )
    serve.add_argument(
        "--rest_api_timeout_in_ms",
        type=_positive_int,
        default=30_000,
        help="milliseconds one REST call may take, its body included",
    )


def _grpc_flags(serve: argparse.ArgumentParser) -> None:
    """The gRPC listener: a UNIX socket, channel arguments, TLS, health service, wire form."""
    serve.add_argument(
        "--grpc_socket_path",
        default=None,
        help="also serve gRPC on this UNIX socket (relative or absolute path)",
    )
    serve.add_argument(
        "--grpc_channel_arguments",
        type=_channel_arguments,
        default=(),
        help="gRPC server arguments as key=value,key=value (whole numbers pass as ints)",
    )
    _path_flag(
        serve,
        "--ssl_config_file",
        "TF Serving SSLConfig (text proto): the gRPC port's key, certificate and client CA",
    )
    _bool_flag(serve, "--use_alts_credentials", "ALTS credentials for gRPC (not available here)")
    _bool_flag(
        serve,
        "--enable_grpc_healthcheck_service",
        "serve grpc.health.v1.Health (ModelService and PredictionService SERVING)",
    )
    _bool_flag(
        serve,
        "--enable_serialization_as_tensor_content",
        "gRPC answers carry tensor_content instead of typed fields (float_val, ...)",
    )
    _bool_flag(
        serve,
        "--enable_signature_method_name_check",
        "Classify/Regress/MultiInference need the classify/regress method names",
    )


def _safety_flags(serve: argparse.ArgumentParser) -> None:
    """Bounds beyond TF Serving's flags: what a client may make the server do."""
    _bool_flag(
        serve,
        "--enable_model_config_reload",
        "let gRPC HandleReloadConfigRequest change the served models (base paths under "
        "those configured at start only)",
    )
    serve.add_argument(
        "--max_input_elements",
        type=_positive_int,
        default=DEFAULT_MAX_INPUT_ELEMENTS,
        help=f"elements one request input may hold (default {DEFAULT_MAX_INPUT_ELEMENTS})",
    )


IGNORED_FLAGS: dict[str, str] = {
    "--flush_filesystem_caches": "each version's files are read once, when it loads",
    "--per_process_gpu_memory_fraction": "TensorFlow takes GPU memory as it needs it",
    "--xla_cpu_compilation_enabled": "signatures run as exported, without XLA's JIT",
    "--xla_gpu_compilation_enabled": "signatures run as exported, without XLA's JIT",
    "--remove_unused_fields_from_bundle_metagraph": "only the loaded signatures are kept",
    "--prefer_tflite_model": "the SavedModel is served; the .tflite files serve the edge runtime",
    "--num_tflite_pools": "the SavedModel is served, not model.tflite",
    "--num_tflite_interpreters_per_pool": "the SavedModel is served, not model.tflite",
    "--enable_profiler": "no profiler service on the gRPC port",
    "--thread_pool_factory_config_file": "request threads are set by --rest_api_num_threads "
    "and --grpc_max_threads",
    "--mixed_precision": "signatures run in the precision they were exported in",
    "--skip_initialize_tpu": "no TPU is used",
    "--num_load_threads": "versions load one at a time",
    "--num_unload_threads": "versions unload one at a time",
    "--tensorflow_session_config_file": "TensorFlow's threads come from the "
    "--tensorflow_*_parallelism flags",
    "--platform_config_file": "every model is served on the tensorflow platform",
    "--enable_per_model_batching_parameters": "--batching_parameters_file applies to every model",
}
"""TF Serving flags that have no meaning here: accepted, and logged once as ignored, with why."""


def _ignored_flags(serve: argparse.ArgumentParser) -> None:
    """TF Serving's flags that change nothing here (:data:`IGNORED_FLAGS`), taking any value."""
    group = serve.add_argument_group("accepted for TF Serving compatibility and ignored")
    for flag, why in IGNORED_FLAGS.items():
        group.add_argument(flag, nargs="?", const="true", default=None, help=f"ignored: {why}")


def ignored_flags_given(args: argparse.Namespace) -> list[str]:
    """One log line per :data:`IGNORED_FLAGS` flag given on the command line."""
    return [
        f"{flag}={getattr(args, flag[2:])} is ignored: {why}"
        for flag, why in IGNORED_FLAGS.items()
        if getattr(args, flag[2:]) is not None
    ]


def _feature_flags(serve: argparse.ArgumentParser) -> None:
    """Metrics, batching, warm-up and drift tracking."""
    _path_flag(
        serve,
        "--monitoring_config_file",
        "TF Serving MonitoringConfig (text proto): Prometheus metrics on the REST port",
    )
    _bool_flag(
        serve,
        "--enable_batching",
        "batch concurrent predict requests per model, version and signature",
    )
    _path_flag(
        serve,
        "--batching_parameters_file",
        "TF Serving BatchingParameters (text proto), with --enable_batching",
    )
    _bool_flag(
        serve,
        "--enable_model_warmup",
        "replay each version's assets.extra warm-up records before it serves",
        default=True,
    )
    serve.add_argument(
        "--num_request_iterations_for_warmup",
        type=_positive_int,
        default=1,
        help="times each warm-up record is replayed",
    )
    serve.add_argument(
        "--drift_window_size",
        type=_count,
        default=1000,
        help="kerasforge: rows per version compared with its training statistics (0: drift "
        "tracking off)",
    )
    serve.add_argument(
        "--drift_interval_seconds",
        type=_positive_float,
        default=5.0,
        help="kerasforge: seconds between two drift reports (gauges, GET .../drift)",
    )


def _thread_flags(serve: argparse.ArgumentParser) -> None:
    """Request threads (REST, gRPC) and TensorFlow's op threads; 0 means automatic."""
    for flag, text in (
        ("--rest_api_num_threads", "threads answering REST calls"),
        ("--grpc_max_threads", "threads answering gRPC calls"),
    ):
        serve.add_argument(flag, type=_count, default=0, help=f"{text} (0: 4 per CPU)")
    for flag, text in (
        ("session", "threads for both the flags below, where neither is set"),
        ("intra_op", "threads one op may split its work over"),
        ("inter_op", "ops that may run at once"),
    ):
        serve.add_argument(
            f"--tensorflow_{flag}_parallelism",
            type=_count,
            default=0,
            help=f"TensorFlow: {text} (0: TensorFlow picks)",
        )


def _flag_bool(text: str) -> bool:
    """A TF Serving boolean flag value (``--flag=true``)."""
    if text.lower() in ("true", "1"):
        return True
    if text.lower() in ("false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false; received {text!r}")


def _whole_number(text: str, minimum: int) -> int:
    """A count flag's value: a whole number of at least ``minimum``."""
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}; received {text!r}")
    return value


def _positive_int(text: str) -> int:
    """A count of at least 1 (``--num_request_iterations_for_warmup``)."""
    return _whole_number(text, 1)


def _positive_float(text: str) -> float:
    """A number of seconds above 0 (``--drift_interval_seconds``)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0; received {text!r}")
    return value


def _count(text: str) -> int:
    """A thread count: a whole number, 0 meaning automatic."""
    return _whole_number(text, 0)


def _tags(text: str) -> tuple[str, ...]:
    """``--saved_model_tags``: comma-separated MetaGraph tags, at least one."""
    tags = tuple(sorted({tag.strip() for tag in text.split(",") if tag.strip()}))
    if not tags:
        raise argparse.ArgumentTypeError(
            f"expected tags such as serve or serve,gpu; received {text!r}"
        )
    return tags


def _channel_arguments(text: str) -> tuple[tuple[str, int | str], ...]:
    """``--grpc_channel_arguments``: ``key=value`` pairs; a whole number value is an int, as
    TF Serving passes it (``server.cc``, ``parseGrpcChannelArgs``)."""
    pairs: list[tuple[str, int | str]] = []
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise argparse.ArgumentTypeError(
                f"expected key=value pairs such as grpc.max_connection_age_ms=60000; "
                f"received {item!r}"
            )
        try:
            pairs.append((key.strip(), int(value)))
        except ValueError:
            pairs.append((key.strip(), value))
    return tuple(pairs)
