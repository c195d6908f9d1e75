"""`kerasforge-edge predict MODEL.tflite INPUT` and `kerasforge-edge bench MODEL.tflite`.

``predict`` prints JSON (for classifiers ``class_ids``, ``probabilities`` and
``class_names``, one entry per input); ``bench`` prints single-example
latency percentiles. Neither imports TensorFlow. Bad input: one line on
stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from kerasforge.serving.edge.runtime import EdgeError, EdgeModel


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerasforge-edge", description="TFLite inference without TensorFlow."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    pred = sub.add_parser("predict", help="predict on an image, a .npy batch or a .txt file")
    pred.add_argument("model", help="path to a .tflite file")
    pred.add_argument(
        "input",
        help="an image, a .npy array (one example or a batch) or, for text models, a .txt "
        "file (one text per line)",
    )
    bench = sub.add_parser("bench", help="single-example latency p50/p90/p99")
    bench.add_argument("model", help="path to a .tflite file")
    bench.add_argument("--runs", type=_runs, default=200, help="timed runs (default 200)")
    for command in (pred, bench):
        command.add_argument("--threads", type=_threads, default=None, help="interpreter threads")
    return parser


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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        model = EdgeModel(args.model, num_threads=args.threads)
        if args.command == "bench":
            result = bench(model, args.runs)
        else:
            result = model.predict(model.load_input(args.input))
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
