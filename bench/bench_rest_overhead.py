"""REST round trip through the embedded server vs the same SavedModel signature in-process.

Both sides run the same published version in this one process, on loopback,
interleaved, with a bounded number of requests. Reported without a goal (the
serving issue's figures have theirs).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from common import ensure_default_model, figure, interleaved, p50_ms


def run(args: Any, repeats: int = 200) -> dict[str, dict]:
    import tensorflow as tf

    from kerasforge.serving.clients.rest_client import RestClient
    from kerasforge.serving.server import embedded as serverlib
    from kerasforge.serving.server import predict

    ensure_default_model(args.repository)
    rest, store = serverlib.start(
        args.repository, serverlib.ServerOptions(host="127.0.0.1", rest_port=0, poll_seconds=0)
    )
    try:
        signature = store.get("digits_cnn").signature(None)
        ((input_name, spec),) = predict.input_specs(signature).items()
        client = RestClient(f"http://127.0.0.1:{rest.server_address[1]}")
        figures = {}
        for batch in (1, 32):
            x = np.random.default_rng(0).uniform(0, 255, (batch, *spec.shape[1:]))
            tensor, instances = tf.constant(x.astype("float32")), x.tolist()
            times = interleaved(
                {
                    "in_process": lambda t=tensor: signature(**{input_name: t}),
                    "rest": lambda i=instances: client.predict("digits_cnn", i),
                },
                repeats,
            )
            rest_ms, direct_ms = p50_ms(times["rest"]), p50_ms(times["in_process"])
            figures[f"rest_over_in_process_p50_batch{batch}"] = figure(
                rest_ms / direct_ms,
                "reported, no goal",
                None,
                rest_p50_ms=rest_ms,
                in_process_p50_ms=direct_ms,
                requests=repeats,
            )
    finally:
        serverlib.stop(rest, store)
    return figures
