"""`kerasforge-edge predict MODEL.tflite INPUT` and `kerasforge-edge bench MODEL.tflite`.

``predict`` prints JSON (for classifiers ``class_ids``, ``probabilities`` and
``class_names``, one entry per input; for generators the ``image``); with
``--output PATH`` it writes the answered images side by side into a PNG instead,
and for a generator ``--seed S --count N`` draws N latent vectors with NumPy
instead of reading an input file; ``bench`` prints single-example
latency percentiles. A .npy batch over ``--max-input-mb`` (default
``inputs.MAX_INPUT_MB``) is refused before it is read. Neither imports
TensorFlow. Bad input: one line on
stderr, exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator

import numpy as np

from .formats import write_png
from .inputs import MAX_INPUT_MB
from .runtime import EdgeError, EdgeModel


def _threads(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer; received {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; received {value}")
    return value


def _runs(text: str) -> int:
    value = _threads(text)
    if value > 100_000:
        raise argparse.ArgumentTypeError(f"expected at most 100000 runs; received {value}")
    return value


def _megabytes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size in MB; received {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive size in MB; received {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerasforge-edge", description="TFLite inference without TensorFlow."
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show the TFLite runtime's own log lines (INFO: Created TensorFlow Lite XNNPACK "
        "delegate ...); also KERASFORGE_VERBOSE=1",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    pred = sub.add_parser("predict", help="predict on an image, a .npy batch or a .txt file")
    pred.add_argument("model", help="path to a .tflite file")
    pred.add_argument(
        "input",
        nargs="?",
        help="an image, a .npy array (one example or a batch) or, for text models, a .txt "
        "file (one text per line)",
    )
    pred.add_argument(
        "--seed", type=int, default=None, help="generators: draw latent vectors (NumPy) instead"
    )
    pred.add_argument("--count", type=_runs, default=1, help="latent vectors --seed draws")
    pred.add_argument("--output", default=None, help="write the answered images to this PNG")
    pred.add_argument(
        "--max-input-mb",
        type=_megabytes,
        default=MAX_INPUT_MB,
        help=f"largest .npy batch read, in MB of array data (default {MAX_INPUT_MB})",
    )
    bench = sub.add_parser("bench", help="single-example latency p50/p90/p99")
    bench.add_argument("model", help="path to a .tflite file")
    bench.add_argument("--runs", type=_runs, default=200, help="timed runs (default 200)")
    for command in (pred, bench):
        command.add_argument("--threads", type=_threads, default=None, help="interpreter threads")
    return parser


def _answer(args: argparse.Namespace) -> dict:
    """What ``predict`` or ``bench`` prints for ``args``."""
    model = EdgeModel(args.model, num_threads=args.threads)
    if args.command == "bench":
        return bench(model, args.runs)
    result = model.predict(_batch(model, args))
    if args.output:
        if "image" not in result:
            raise EdgeError(
                f"--output writes generated images; this model answers "
                f"{', '.join(sorted(result))}: leave --output out"
            )
        write_png(np.asarray(result["image"]), args.output)
        result = {"output": args.output, "images": len(result["image"])}
    return result


def bench(model: EdgeModel, runs: int) -> dict[str, float]:
    """Latency percentiles (ms) of one example at mid-range values, ten warm-up runs excluded."""
    low, high = model.value_range
    example = np.full((1, *model.input_shape[1:]), (low + high) / 2, dtype=model.raw_dtype)
    if model.tokenizer is not None:  # a text model: one sentence, tokenised on every run
        example = np.array(["the quick brown fox jumps over the lazy dog"], dtype=object)
    for _ in range(10):
        model.outputs(example)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        model.outputs(example)
        times.append((time.perf_counter() - start) * 1000)
    p50, p90, p99 = np.percentile(times, [50, 90, 99])
    return {"runs": runs, "p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99)}


def _batch(model: EdgeModel, args: argparse.Namespace) -> np.ndarray:
    """The input file's batch, or ``--count`` standard-normal latent vectors from ``--seed``."""
    if args.seed is None:
        if args.input is None:
            raise EdgeError("predict needs an INPUT file (or --seed for a generator)")
        return model.load_input(args.input, args.max_input_mb)
    if args.input is not None or model.input_name != "latent":
        raise EdgeError(
            f"--seed draws latent vectors for a generator (input 'latent'); this model takes "
            f"{model.input_name!r}: pass an input file instead"
            if args.input is None
            else "give either an INPUT file or --seed, not both"
        )
    rng = np.random.default_rng(args.seed)
    return rng.standard_normal((args.count, *model.input_shape[1:])).astype("float32")


@contextlib.contextmanager
def _runtime_logs(shown: bool) -> Iterator[None]:
    """The TFLite runtime writes its INFO lines (the XNNPACK delegate) to file descriptor 2
    from C++: hide them unless ``shown``. Errors reach us as exceptions, printed after."""
    if shown or os.environ.get("KERASFORGE_VERBOSE", "") not in ("", "0"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        with _runtime_logs(args.verbose):
            result = _answer(args)
    except EdgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        print(json.dumps({"model": args.model, **result}, allow_nan=False))
    except ValueError:  # finite inputs, non-finite outputs: still never print bare NaN
        print("error: the model produced NaN or Inf outputs for finite inputs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
