"""REST round trip through the embedded server vs the same SavedModel called in-process.

Both sides run the same published version in this one process, on loopback,
with a bounded number of requests. Prints the ratios and writes
``bench/results/serving_overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up (tracing, connection set-up)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    import tensorflow as tf

    from kerasforge.serving import predict
    from kerasforge.serving import server as serverlib
    from kerasforge.serving.client import RestClient

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repository", default="artifacts/models")
    parser.add_argument("--model", default="digits_cnn")
    parser.add_argument("--repeats", type=int, default=200, help="requests per case (bounded)")
    parser.add_argument("--out", default="bench/results/serving_overhead.json")
    args = parser.parse_args()

    rest, store = serverlib.start(args.repository, "127.0.0.1", 0, poll_seconds=0)
    try:
        model = store.get(args.model)
        signature = model.signature(None)
        ((input_name, spec),) = predict.input_specs(signature).items()
        client = RestClient(f"http://127.0.0.1:{rest.server_address[1]}")
        rows = []
        for batch in (1, 32):
            x = np.random.default_rng(0).uniform(0, 255, (batch, *spec.shape[1:])).astype("float32")
            tensor = tf.constant(x)
            direct = timed(lambda t=tensor: signature(**{input_name: t}), args.repeats)
            instances = x.tolist()
            over_rest = timed(lambda i=instances: client.predict(args.model, i), args.repeats)
            d, r = statistics.median(direct), statistics.median(over_rest)
            rows.append(
                {
                    "batch": batch,
                    "in_process_ms": d * 1e3,
                    "rest_ms": r * 1e3,
                    "rest_over_in_process": r / d,
                    "requests": args.repeats,
                }
            )
            print(
                f"batch {batch:3d}: in-process {d * 1e3:7.3f} ms  REST {r * 1e3:7.3f} ms  "
                f"ratio {r / d:5.2f}x  (median of {args.repeats})"
            )
    finally:
        serverlib.stop(rest, store)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "model": args.model,
                "version": model.version,
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "results": rows,
            },
            indent=2,
        )
    )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
