"""The parser of ``kerasforge serve``: TF Serving's own flags, group by group, with their
value types. ``serving/cli.py`` turns the parsed flags into the server's options and runs it.
Importing this module loads the standard library only.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

DEFAULT_REPOSITORY = "artifacts/models"


def add_serve(
    sub: argparse._SubParsersAction, handler: Callable[[argparse.Namespace], int]
) -> None:
    """``serve``: TF Serving's flags, group by group (the order of ``serve --help``)."""
    serve = sub.add_parser("serve", help="serve a model repository over TF Serving's REST API")
    for add_flags in (_model_source_flags, _address_flags, _feature_flags, _thread_flags):
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


def _feature_flags(serve: argparse.ArgumentParser) -> None:
    """Metrics, batching and warm-up."""
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


def _count(text: str) -> int:
    """A thread count: a whole number, 0 meaning automatic."""
    return _whole_number(text, 0)
