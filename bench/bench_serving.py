"""The embedded server's gRPC and REST latency against the in-process signature call.

One process serves the default model over gRPC and REST on loopback; three
sides run interleaved at batch 1 with a bounded number of requests: the
SavedModel signature called in-process, gRPC Predict through the official stub
on one channel, and REST predict on one keep-alive HTTP connection.

Figures (issue #6): ``grpc_p50_overhead_ms`` (gRPC p50 - in-process p50, goal
<= 1 ms), ``rest_over_grpc_p50`` (REST p50 / gRPC p50, goal <= 2) and, without
a goal, ``server_peak_rss_mb`` (this process's peak RSS holding the model,
serving both APIs).
"""

from __future__ import annotations

import http.client
import json
import resource
from typing import Any

import numpy as np
from common import ensure_default_model, figure, interleaved, p50_ms


def run(args: Any, repeats: int = 300) -> dict[str, dict]:
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from kerasforge.serving import predict
    from kerasforge.serving import server as serverlib

    ensure_default_model(args.repository)
    rest, store = serverlib.start(args.repository, "127.0.0.1", 0, poll_seconds=0, grpc_port=0)
    try:
        model = store.get("digits_cnn")
        signature = model.signature(None)
        ((input_name, spec),) = predict.input_specs(signature).items()
        x = np.random.default_rng(0).uniform(0, 1, (1, *spec.shape[1:])).astype("float32")
        tensor = tf.constant(x)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "digits_cnn"
        request.inputs[input_name].CopyFrom(tf.make_tensor_proto(x))
        body = json.dumps({"instances": x.tolist()}).encode()
        conn = http.client.HTTPConnection("127.0.0.1", rest.server_port, timeout=30)
        channel = grpc.insecure_channel(f"127.0.0.1:{rest.grpc_port}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def rest_call() -> None:
            conn.request("POST", "/v1/models/digits_cnn:predict", body=body)
            response = conn.getresponse()
            response.read()
            assert response.status == 200, response.status

        times = interleaved(
            {
                "in_process": lambda: signature(**{input_name: tensor}),
                "grpc": lambda: stub.Predict(request, timeout=30),
                "rest": rest_call,
            },
            repeats,
            warmup=20,
        )
        conn.close()
        channel.close()
    finally:
        serverlib.stop(rest, store)
    direct, grpc_ms, rest_ms = (p50_ms(times[k]) for k in ("in_process", "grpc", "rest"))
    raw = {"in_process_p50_ms": direct, "grpc_p50_ms": grpc_ms, "rest_p50_ms": rest_ms}
    return {
        "grpc_p50_overhead_ms": figure(
            grpc_ms - direct,
            "<= 1",
            grpc_ms - direct <= 1,
            limit="grpcio's per-call thread hand-off and protobuf (de)serialisation; "
            "sensitive to other load on the 2 cores (see the machine's load average)",
            requests=repeats,
            **raw,
        ),
        "rest_over_grpc_p50": figure(
            rest_ms / grpc_ms, "<= 2", rest_ms / grpc_ms <= 2, requests=repeats, **raw
        ),
        "server_peak_rss_mb": figure(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "reported, no goal", None
        ),
    }
