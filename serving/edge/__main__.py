"""`kerasforge-edge predict MODEL.tflite INPUT`: JSON predictions, no TensorFlow."""

from __future__ import annotations

import argparse
import json
import sys

from kerasforge.serving.edge.runtime import EdgeError, EdgeModel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kerasforge.serving.edge", description="TFLite inference without TensorFlow."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    pred = sub.add_parser("predict", help="predict on an image file or a .npy batch")
    pred.add_argument("model", help="path to a .tflite file")
    pred.add_argument("input", help="an image file or a .npy array (one example or a batch)")
    pred.add_argument("--threads", type=int, default=None, help="interpreter threads")
    args = parser.parse_args(argv)
    try:
        model = EdgeModel(args.model, num_threads=args.threads)
        result = model.predict(model.load_input(args.input))
    except EdgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"model": args.model, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
