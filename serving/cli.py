"""``kerasforge serve``, ``predict`` and ``export``: the serving side of the command line.

``kerasforge.cli`` asks :func:`add_commands` for these subcommands. Importing
this module loads the standard library only; each command imports what it
needs when it runs: ``serve`` and ``export`` start TensorFlow (quietly) and
load serving code, ``predict`` loads the REST client and NumPy, no TensorFlow.
Nothing here loads training code or MLflow.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path
from typing import Any

from kerasforge.console import UsageError, start_tensorflow

DEFAULT_REPOSITORY = "artifacts/models"


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``serve``, ``predict`` and ``export`` to the ``kerasforge`` subcommands ``sub``."""
    serve = sub.add_parser("serve", help="serve a model repository over TF Serving's REST API")
    serve.add_argument("--repository", default=DEFAULT_REPOSITORY, help="model repository root")
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
    serve.set_defaults(func=cmd_serve)

    pred = sub.add_parser("predict", help="query a running server (REST)")
    pred.add_argument("--input", default="artifacts/sample_request.json", help=".npy or .json")
    pred.add_argument("--model", default="digits_cnn", help="model name")
    pred.add_argument("--version", type=int, default=None, help="model version (default: latest)")
    pred.add_argument("--url", default="http://127.0.0.1:8501", help="server base URL")
    pred.add_argument("--timeout", type=float, default=30.0, help="seconds")
    pred.set_defaults(func=cmd_predict)

    export = sub.add_parser("export", help="publish a .keras checkpoint as a new version")
    export.add_argument(
        "--checkpoint", required=True, help="a .keras file, e.g. a run's best.keras"
    )
    export.add_argument("--name", default="digits_cnn", help="model name in the repository")
    export.add_argument("--repository", default=DEFAULT_REPOSITORY, help="model repository root")
    export.add_argument("--no-tflite", dest="tflite", action="store_false", help="skip .tflite")
    export.set_defaults(func=cmd_export)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve ``args.repository`` until SIGTERM or Ctrl-C; print the REST address first."""
    import logging
    import signal
    import threading

    start_tensorflow()
    from kerasforge.serving import server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    rest, store = server.start(
        args.repository, args.host, args.rest_port, args.poll_seconds, grpc_port=args.grpc_port
    )
    host, port = rest.server_address[:2]
    print(f"gRPC API listening on {host}:{rest.grpc_port}", flush=True)
    print(f"REST API listening on http://{host}:{port}/v1/models/<name>:predict", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    server.stop(rest, store)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Send ``args.input`` to a running server and print its predictions as JSON."""
    from kerasforge.serving.client import RestClient

    instances = read_instances(Path(args.input))
    predictions = RestClient(args.url, timeout=args.timeout).predict(
        args.model, instances, version=args.version
    )
    print(json.dumps({"predictions": predictions}))
    return 0


def read_instances(path: Path) -> list[Any]:
    """Instances from a ``.npy`` batch or a JSON file (a list or a ``{"instances": ...}`` body).

    Raises:
        UsageError: the file is missing, is not valid JSON or holds no instances.
    """
    if not path.is_file():
        raise UsageError(f"input file {str(path)!r} not found; pass a .npy or .json file")
    if path.suffix == ".npy":
        import numpy as np

        return np.load(path, allow_pickle=False).tolist()
    if path.suffix == ".json":
        try:
            body = json.loads(path.read_text())
        except ValueError as exc:
            raise UsageError(f"{str(path)!r} is not valid JSON: {exc}") from None
        instances = body.get("instances") if isinstance(body, dict) else body
        if isinstance(instances, list):
            return instances
    raise UsageError(
        f"input {str(path)!r}: expected a .npy batch, a JSON list of instances or a JSON "
        'object {"instances": [...]}'
    )


def cmd_export(args: argparse.Namespace) -> int:
    """Publish ``args.checkpoint`` as the next version of ``args.name``."""
    from kerasforge.serving.repository import check_model_name

    check_model_name(args.name)  # before TensorFlow starts: `--name ../x` fails fast
    start_tensorflow()
    from kerasforge.serving.export import publish_checkpoint

    published = publish_checkpoint(args.checkpoint, args.repository, args.name, tflite=args.tflite)
    print(f"published {published.name} version {published.version} at {published.path}")
    return 0
