"""``kerasforge serve``, ``predict`` and ``export``: the serving side of the command line.

``kerasforge.cli.main`` asks :func:`add_commands` for these subcommands. Importing
this module loads the standard library only; each command imports what it
needs when it runs: ``serve`` and ``export`` start TensorFlow (quietly) and
load serving code, ``predict`` loads the REST client and NumPy, no TensorFlow
(``predict --grpc`` loads it: the official gRPC protos are built on it).
Nothing here loads training code or MLflow.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cli.console import UsageError, sign_of_life, start_tensorflow
from . import wire
from .batch.cli import add_batch_predict
from .serve_flags import DEFAULT_REPOSITORY, add_serve, ignored_flags_given

if TYPE_CHECKING:
    from .server.options import GrpcOptions, ServerOptions


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``serve``, ``predict`` and ``export`` to the ``kerasforge`` subcommands ``sub``."""
    add_serve(sub, cmd_serve)
    _add_predict(sub)
    _add_export(sub)
    add_batch_predict(sub)


def _add_predict(sub: argparse._SubParsersAction) -> None:
    """``predict``: input files, which model, version or label, and where the server is."""
    pred = sub.add_parser(
        "predict",
        help="query a running server (REST, or gRPC with --grpc)",
        description="Send INPUTS (image files, a .npy batch, JSON or CSV rows; see "
        "kerasforge.serving.clients.request_inputs) to a running server and print its predictions.",
    )
    pred.add_argument(
        "inputs",
        nargs="*",
        type=Path,
        help="input files (default: the model's artifacts/samples/<model>.json)",
    )
    pred.add_argument("--input", type=Path, action="append", default=[], help="an input file")
    pred.add_argument(
        "--model",
        default=None,
        help="model name (default: the model trained last, else digits_cnn)",
    )
    choice = pred.add_mutually_exclusive_group()
    choice.add_argument("--version", type=int, default=None, help="model version (default: latest)")
    choice.add_argument("--label", default=None, help="version label, e.g. stable or canary")
    pred.add_argument("--signature", default=None, help="signature (default: what INPUTS call for)")
    pred.add_argument("--url", default="http://127.0.0.1:8501", help="REST server base URL")
    pred.add_argument("--grpc", action="store_true", help="use the gRPC API instead of REST")
    pred.add_argument("--grpc-address", default="127.0.0.1:8500", help="gRPC HOST:PORT")
    pred.add_argument("--timeout", type=float, default=30.0, help="seconds")
    pred.set_defaults(func=cmd_predict)


def _add_export(sub: argparse._SubParsersAction) -> None:
    """``export``: a checkpoint, its model name and the repository to publish it in."""
    export = sub.add_parser("export", help="publish a .keras checkpoint as a new version")
    export.add_argument(
        "--checkpoint", required=True, help="a .keras file, e.g. a run's best.keras"
    )
    export.add_argument(
        "--name", default=None, help="model name (default: the run's export.model_name)"
    )
    export.add_argument("--repository", default=DEFAULT_REPOSITORY, help="model repository root")
    export.add_argument("--no-tflite", dest="tflite", action="store_false", help="skip .tflite")
    export.set_defaults(func=cmd_export)


def tensorflow_threads(args: argparse.Namespace) -> tuple[int, int]:
    """``(intra-op, inter-op)`` threads from TF Serving's three flags, as it reads them:
    the intra/inter pair where either is set, else ``--tensorflow_session_parallelism``
    for both.

    Raises:
        UsageError: all three are set (TF Serving refuses that too).
    """
    session = args.tensorflow_session_parallelism
    intra, inter = args.tensorflow_intra_op_parallelism, args.tensorflow_inter_op_parallelism
    if session and intra and inter:
        raise UsageError(
            "Either configure --tensorflow_session_parallelism or "
            "(--tensorflow_intra_op_parallelism, --tensorflow_inter_op_parallelism) "
            "separately. You cannot configure all."
        )
    return (intra, inter) if intra or inter else (session, session)


def thread_counts() -> str:
    """TensorFlow's intra-op and inter-op thread settings, for the start-up log."""
    import tensorflow as tf

    counts = (
        tf.config.threading.get_intra_op_parallelism_threads(),
        tf.config.threading.get_inter_op_parallelism_threads(),
    )
    intra, inter = (str(n) if n else "auto" for n in counts)
    return f"intra-op {intra}, inter-op {inter}"


def request_limits(args: argparse.Namespace) -> Any:
    """The REST bounds: ``--rest_api_num_threads`` threads (0: 4 per CPU) and
    ``--rest_api_timeout_in_ms``."""
    from .server.rest_api import Limits

    threads = {"workers": args.rest_api_num_threads} if args.rest_api_num_threads else {}
    return Limits(call_timeout_s=args.rest_api_timeout_in_ms / 1000, **threads)


def warmup_options(args: argparse.Namespace) -> Any:
    """The warm-up flags as :class:`kerasforge.serving.server.warmup.WarmupOptions`."""
    from .server.warmup import WarmupOptions

    return WarmupOptions(args.enable_model_warmup, args.num_request_iterations_for_warmup)


def batching_options(args: argparse.Namespace) -> Any:
    """``--enable_batching`` (with ``--batching_parameters_file``) as options, else ``None``.

    Raises:
        UsageError: a parameters file without ``--enable_batching``.
    """
    if not args.enable_batching:
        if args.batching_parameters_file is not None:
            raise UsageError("--batching_parameters_file needs --enable_batching=true")
        return None
    from .server.batching import BatchingOptions, read_batching_parameters

    if args.batching_parameters_file is None:
        return BatchingOptions()
    return read_batching_parameters(args.batching_parameters_file)


def grpc_options(args: argparse.Namespace) -> GrpcOptions:
    """The gRPC listener's flags (``--port``, ``--grpc_*``, TLS, wire form, reloads, input
    bounds) as :class:`~kerasforge.serving.server.options.GrpcOptions`."""
    from .server.options import GrpcOptions

    return GrpcOptions(
        port=args.grpc_port,
        workers=args.grpc_max_threads,
        socket_path=args.grpc_socket_path,
        channel_arguments=args.grpc_channel_arguments,
        healthcheck=args.enable_grpc_healthcheck_service,
        ssl_config=args.ssl_config_file,
        tensor_content=args.enable_serialization_as_tensor_content,
        config_reload=args.enable_model_config_reload,
        max_input_elements=args.max_input_elements,
    )


def server_options(args: argparse.Namespace) -> ServerOptions:
    """The ``serve`` flags as one :class:`~kerasforge.serving.server.options.ServerOptions`
    (its ``grpc`` share from :func:`grpc_options`).

    Raises:
        UsageError: a batching parameters file without ``--enable_batching``.
    """
    from .server.drift import DriftOptions
    from .server.options import ServerOptions

    batching, metrics_path = batching_options(args), None
    if args.monitoring_config_file is not None:
        from .server.metrics import read_monitoring_config

        metrics_path = read_monitoring_config(args.monitoring_config_file)
    return ServerOptions(
        host=args.host,
        rest_port=args.rest_port,
        poll_seconds=args.poll_seconds,
        limits=request_limits(args),
        grpc=grpc_options(args),
        metrics_path=metrics_path,
        warmup=warmup_options(args),
        batching=batching,
        method_name_check=args.enable_signature_method_name_check,
        cors=args.rest_api_enable_cors_support,
        saved_model_tags=args.saved_model_tags,
        max_load_retries=args.max_num_load_retries,
        load_retry_interval_s=max(args.load_retry_interval_micros, 0) / 1e6,
        drift=DriftOptions(args.drift_window_size, args.drift_interval_seconds),
    )


def check_model_source(args: argparse.Namespace) -> None:
    """One source of models: a repository, a model config file, or one model's base path.

    Raises:
        UsageError: the sources are mixed, or --model_name comes without --model_base_path.
    """
    given = [
        flag
        for flag, value in [
            ("--repository", args.repository),
            ("--model_config_file", args.model_config_file),
            ("--model_base_path", args.model_base_path),
        ]
        if value is not None
    ]
    if len(given) > 1:
        raise UsageError(
            f"{' and '.join(given)} cannot be combined: serve a repository (--repository), a "
            "TF Serving config (--model_config_file) or one model (--model_name with "
            "--model_base_path)"
        )
    if args.model_name is not None and args.model_base_path is None:
        raise UsageError("--model_name needs --model_base_path (the folder of its versions)")


def served_source(args: argparse.Namespace) -> str:
    """What ``serve`` serves, as its first line names it."""
    if args.model_config_file is not None:
        return f"the models of {args.model_config_file}"
    if args.model_base_path is not None:
        return f"{args.model_name or 'default'} from {args.model_base_path}"
    return f"the models of {args.repository or DEFAULT_REPOSITORY}"


def open_store(args: argparse.Namespace, options: ServerOptions) -> Any:
    """The configured store (config file or single model), or ``None`` for repository mode."""
    from .server import embedded as server
    from .server import model_config

    if args.model_config_file is not None:
        models = model_config.read_config(args.model_config_file)
    elif args.model_base_path is not None:
        models = model_config.single_model(args.model_name or "default", args.model_base_path)
    else:
        return None
    return server.configured_store(
        models,
        args.allow_version_labels_for_unavailable_models,
        warmup_options(args),
        options,
    )


def versions() -> str:
    """``serve --version``: TF Serving's two lines (``main.cc``), naming what answers here."""
    from importlib.metadata import PackageNotFoundError, version

    def of(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    return (
        f"TensorFlow ModelServer: kerasforge {of('kerasforge')} "
        f"(TF Serving API {of('tensorflow-serving-api')})\n"
        f"TensorFlow Library: {of('tensorflow')}"
    )


def check_grpc_flags(args: argparse.Namespace) -> None:
    """gRPC credentials this server can honour.

    Raises:
        UsageError: ALTS asked for (not available), or with ``--ssl_config_file`` (TF
            Serving refuses that pair too).
    """
    if args.use_alts_credentials and args.ssl_config_file is not None:
        raise UsageError(
            "Either use_alts_credentials must be false or ssl_config_file must be empty."
        )
    if args.use_alts_credentials:
        raise UsageError(
            "--use_alts_credentials: ALTS needs Google Cloud's handshaker service, which this "
            "server has no client for; use --ssl_config_file for TLS, or drop the flag"
        )


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or Ctrl-C; print the gRPC and REST addresses first."""
    import logging
    import signal
    import threading

    if args.show_version:
        print(versions())
        return 0
    check_model_source(args)
    check_grpc_flags(args)
    sign_of_life(f"serve: {served_source(args)}")
    from .server.loaded import keras_left_out

    with keras_left_out():  # serving needs no Keras: 2 s of CPU less per start
        start_tensorflow(*tensorflow_threads(args))
    from .server import embedded as server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for line in ignored_flags_given(args):
        logging.getLogger("kerasforge.serve").warning(line)
    options = server_options(args)
    store = open_store(args, options)
    if store is None:
        rest, store = server.start(args.repository or DEFAULT_REPOSITORY, options)
    else:
        rest = server.start_store(store, options)
        if args.model_config_file and args.model_config_file_poll_wait_seconds > 0:
            store.watch_config(args.model_config_file, args.model_config_file_poll_wait_seconds)
    server.tune_gc()
    host, port = rest.server_address[:2]
    print(f"TensorFlow threads: {thread_counts()}", flush=True)
    threads = f"REST {rest.api.pool.max_workers}, gRPC {rest.grpc_threads}"
    print(f"Request threads: {threads}", flush=True)
    print(f"gRPC API listening on {host}:{rest.grpc_port}", flush=True)
    print(f"REST API listening on http://{host}:{port}/v1/models/<name>:predict", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    server.stop(rest, store)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Send ``args.inputs`` to a running server and print its predictions as JSON."""
    import sys

    from .clients.request_inputs import pixels_signature, predict_target, read_inputs

    target = predict_target(args.model, [*args.inputs, *args.input])
    request = read_inputs(target.paths)
    if args.grpc:  # stdout stays the JSON answer
        sign_of_life(f"{target.note} over gRPC at {args.grpc_address}", sys.stderr)
        start_tensorflow()
        from .clients.grpc_client import GrpcClient

        client: Any = GrpcClient(args.grpc_address, timeout=args.timeout)
    else:
        print(target.note, file=sys.stderr, flush=True)
        from .clients.rest_client import RestClient

        client = RestClient(args.url, timeout=args.timeout)
    signature = args.signature or request.signature_name
    if signature is None and request.instances and isinstance(request.instances[0], list):
        signature = pixels_signature(client.metadata(target.model, args.version, args.label))
    predictions = client.predict(
        target.model,
        request.instances,
        version=args.version,
        signature_name=signature,
        label=args.label,
    )
    print(json.dumps({wire.PREDICTIONS: predictions}))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Publish ``args.checkpoint`` as the next version of ``args.name``."""
    from .export.publish import publish_checkpoint, run_model_name
    from .repository import check_model_name

    name = run_model_name(args.checkpoint) if args.name is None else args.name
    check_model_name(name)  # before TensorFlow starts: `--name ../x` fails fast
    sign_of_life(f"export: publishing {args.checkpoint} as {name}")
    start_tensorflow()
    published = publish_checkpoint(args.checkpoint, args.repository, name, tflite=args.tflite)
    print(f"published {published.name} version {published.version} at {published.path}")
    return 0
