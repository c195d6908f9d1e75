"""``kerasforge``: the command line. Each subcommand imports only what it needs.

``train`` loads the training stack; ``serve``, ``predict`` and ``export`` load
serving code only; ``models`` loads the model registry.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = "configs/digits_cnn.yaml"
DEFAULT_REPOSITORY = "artifacts/models"


class UsageError(Exception):
    """A bad command-line argument."""


@contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Hide TensorFlow's native start-up chatter (it writes to fd 2 before Python can filter).

    What was written is replayed if the block fails, so no diagnostic is lost.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    failed = True
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
            failed = False
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                sink.seek(0)
                sys.stderr.write(sink.read().decode(errors="replace"))


def start_tensorflow() -> list[str]:
    """Import TensorFlow and initialise its devices with the native chatter hidden.

    Returns:
        The devices TensorFlow will use, e.g. ``["CPU:0"]`` or ``["CPU:0", "GPU:0"]``.
    """
    with quiet_native_logs():
        import tensorflow as tf

        devices = tf.config.list_logical_devices()
    return [d.name.removeprefix("/device:") for d in devices]


def cmd_train(args: argparse.Namespace) -> int:
    devices = start_tensorflow()
    from kerasforge.pipelines.config import load_config
    from kerasforge.pipelines.train import train

    cfg = load_config(args.config, args.set)
    print(f"experiment {cfg.name}: model {cfg.model.name} on {', '.join(devices)}", flush=True)
    result = train(cfg)
    summary = {
        "test_accuracy": round(result.test_metrics["test_accuracy"], 4),
        "epochs": result.epochs_run,
        "run_dir": str(result.run_dir),
        "mlflow_run_id": result.run_id,
        "sample_request": str(result.sample_request),
    }
    if result.published:
        summary["published"] = f"{result.published.name} version {result.published.version}"
        summary["saved_model"] = str(result.published.path)
        summary["tflite"] = str(result.published.tflite_path)
    print("\n".join(f"{k}: {v}" for k, v in summary.items()))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    start_tensorflow()
    from kerasforge.serving import server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    rest, store = server.start(args.repository, args.host, args.rest_port, args.poll_seconds)
    host, port = rest.server_address[:2]
    print(f"REST API listening on http://{host}:{port}/v1/models/<name>:predict", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    server.stop(rest, store)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from kerasforge.serving.client import RestClient

    instances = read_instances(Path(args.input))
    predictions = RestClient(args.url, timeout=args.timeout).predict(
        args.model, instances, version=args.version
    )
    print(json.dumps({"predictions": predictions}))
    return 0


def read_instances(path: Path) -> list[Any]:
    """Instances from a ``.npy`` batch or a JSON file (a list or a ``{"instances": ...}`` body)."""
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
    start_tensorflow()
    from kerasforge.serving.export import publish_checkpoint

    published = publish_checkpoint(args.checkpoint, args.repository, args.name, tflite=args.tflite)
    print(f"published {published.name} version {published.version} at {published.path}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    with quiet_native_logs():
        from kerasforge import models

    for name in models.list_models(args.pattern):
        options = ", ".join(f"{k}={p.default!r}" for k, p in models.builder_options(name).items())
        print(f"{name:16s} {options}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerasforge", description="Train, publish, serve and query Keras models."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add: Callable[..., argparse.ArgumentParser] = sub.add_parser

    train = add("train", help="train an experiment and publish its model")
    train.add_argument("--config", default=DEFAULT_CONFIG, help="experiment YAML file")
    train.add_argument(
        "--set",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override config keys, e.g. --set train.epochs=3 data.batch_size=16",
    )
    train.set_defaults(func=cmd_train)

    serve = add("serve", help="serve a model repository over TF Serving's REST API")
    serve.add_argument("--repository", default=DEFAULT_REPOSITORY, help="model repository root")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind")
    serve.add_argument("--rest-port", type=int, default=8501, help="REST port (0: any free)")
    serve.add_argument("--poll-seconds", type=float, default=1.0, help="new-version poll period")
    serve.set_defaults(func=cmd_serve)

    pred = add("predict", help="query a running server (REST)")
    pred.add_argument("--input", default="artifacts/sample_request.json", help=".npy or .json")
    pred.add_argument("--model", default="digits_cnn", help="model name")
    pred.add_argument("--version", type=int, default=None, help="model version (default: latest)")
    pred.add_argument("--url", default="http://127.0.0.1:8501", help="server base URL")
    pred.add_argument("--timeout", type=float, default=30.0, help="seconds")
    pred.set_defaults(func=cmd_predict)

    export = add("export", help="publish a .keras checkpoint as a new version")
    export.add_argument(
        "--checkpoint", required=True, help="a .keras file, e.g. a run's best.keras"
    )
    export.add_argument("--name", default="digits_cnn", help="model name in the repository")
    export.add_argument("--repository", default=DEFAULT_REPOSITORY, help="model repository root")
    export.add_argument("--no-tflite", dest="tflite", action="store_false", help="skip .tflite")
    export.set_defaults(func=cmd_export)

    lst = add("models", help="list registered models and their options")
    lst.add_argument("pattern", nargs="?", default="*", help="shell pattern, e.g. 'res*'")
    lst.set_defaults(func=cmd_models)
    return parser


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message is complete; printed as one line, no traceback."""
    from kerasforge.pipelines.errors import KerasforgeError
    from kerasforge.serving.errors import ServingError

    return (UsageError, KerasforgeError, ServingError)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kerasforge`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except user_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
