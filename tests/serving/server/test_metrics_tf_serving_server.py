"""TF Serving's families in a real ``kerasforge serve`` (``--enable_batching``, warm-up on,
request logging), after real gRPC (stock stubs) and REST (urllib) traffic, parsed with
prometheus_client's parser. Each expectation names the TF Serving source it comes from.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import grpc
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kerasforge.serving.server.tf_serving_metrics import (
    BATCH_BUCKETS,
    EXAMPLE_BUCKETS,
    LATENCY_BUCKETS,
    QUEUING_BUCKETS,
)
from tests.conftest import ServerProcess
from tests.serving.example_model import save_example_model

pytestmark = pytest.mark.heavy  # starts a server

P = ":tensorflow:serving:"
CONFIG = """model_config_list { config {
  name: "m" base_path: "%s" model_platform: "tensorflow"
  logging_config {
    log_collector_config { type: "tfrecord" filename_prefix: "%s" }
    sampling_config { sampling_rate: 1.0 }
  }
} }
"""
WARMUP_RECORDS, REST_PREDICTS, GRPC_PREDICTS, CLASSIFIES, REGRESSES = 3, 3, 4, 2, 1
MULTI, MULTI_EXAMPLES = 2, 3


def write_warmup(version_dir: Path) -> None:
    """Predict records in the file TF Serving replays (saved_model_warmup_util.cc)."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    folder = version_dir / "assets.extra"
    folder.mkdir()
    with tf.io.TFRecordWriter(str(folder / "tf_serving_warmup_requests")) as writer:
        for _ in range(WARMUP_RECORDS):
            log = prediction_log_pb2.PredictionLog()
            request = log.predict_log.request
            request.model_spec.name, request.model_spec.signature_name = "m", "predict"
            request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones((1, 2), np.float32)))
            writer.write(log.SerializeToString())


def send(server: ServerProcess) -> None:
    import tensorflow as tf
    from tensorflow_serving.apis import (
        classification_pb2,
        inference_pb2,
        predict_pb2,
        prediction_service_pb2_grpc,
        regression_pb2,
    )

    def examples(input_, count: int) -> None:
        for i in range(count):
            example = input_.example_list.examples.add()
            example.features.feature["x"].float_list.value.extend([0.5, float(i)])

    for _ in range(REST_PREDICTS):
        body = {"signature_name": "predict", "instances": [[1.0, 2.0], [3.0, 4.0]]}
        post(f"{server.url}/v1/models/m:predict", body)
    for _ in range(REGRESSES):
        body = {"signature_name": "regress", "examples": [{"x": [1.0, 2.0]}]}
        post(f"{server.url}/v1/models/m:regress", body)
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for _ in range(GRPC_PREDICTS):
            request = predict_pb2.PredictRequest()
            request.model_spec.name, request.model_spec.signature_name = "m", "predict"
            request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones((3, 2), np.float32)))
            stub.Predict(request, timeout=30)
        for _ in range(CLASSIFIES):
            request = classification_pb2.ClassificationRequest()
            request.model_spec.name = "m"
            examples(request.input, 1)
            stub.Classify(request, timeout=30)
        for _ in range(MULTI):
            request = inference_pb2.MultiInferenceRequest()
            task = request.tasks.add()
            task.model_spec.name, task.method_name = "m", "tensorflow/serving/classify"
            task = request.tasks.add()
            task.model_spec.name, task.model_spec.signature_name = "m", "regress"
            task.method_name = "tensorflow/serving/regress"
            examples(request.input, MULTI_EXAMPLES)
            stub.MultiInference(request, timeout=30)
    assert regression_pb2  # the stock module the REST regress answer mirrors


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def scrape(server: ServerProcess) -> dict:
    with urllib.request.urlopen(f"{server.url}/monitoring/prometheus/metrics") as response:
        text = response.read().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


ANSWERED = REST_PREDICTS + REGRESSES + GRPC_PREDICTS + CLASSIFIES + MULTI


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("tfs_metrics")
    version = save_example_model(root / "m" / "1")
    write_warmup(version)
    (root / "models.config").write_text(CONFIG % (root / "m", root / "logs" / "m"))
    (root / "monitoring.config").write_text("prometheus_config { enable: true }")
    server = ServerProcess(
        None,
        *("--model_config_file", str(root / "models.config")),
        *("--monitoring_config_file", str(root / "monitoring.config")),
        *("--enable_batching", "--enable_model_warmup", "true"),
    )
    try:
        send(server)
        for _ in range(100):  # request logs are written on a thread of their own: bounded wait
            found = scrape(server)
            logged = found[P + "request_log_count"].samples
            if sum(s.value for s in logged) >= ANSWERED:
                break
            time.sleep(0.1)
    finally:
        server.stop()
    return SimpleNamespace(found=found, version=version)


def counts(family, suffix: str = "_count") -> dict:
    return {
        tuple(sorted(s.labels.items())): s.value
        for s in family.samples
        if s.name == family.name + suffix
    }


def limits(family) -> list[str]:
    first = next(s for s in family.samples if s.name.endswith("_bucket"))
    labels = {k: v for k, v in first.labels.items() if k != "le"}
    return [
        s.labels["le"]
        for s in family.samples
        if s.name.endswith("_bucket") and {k: v for k, v in s.labels.items() if k != "le"} == labels
    ]


def expected_limits(buckets: tuple[float, ...]) -> list[str]:
    return [f"{b:.6g}" for b in buckets[:-1]] + ["+Inf"]


def test_runtime_latency_by_api_with_runtime_tf1(served):
    # servables/tensorflow/util.cc runtime_latency {model_name, API, runtime},
    # Buckets::Exponential(10, 1.8, 33); predict_util.cc RunPredict "Predict"/"TF1" (REST and
    # gRPC), classifier.cc / regressor.cc "Classify"/"Regress"; multi_inference.cc records none.
    family = served.found[P + "runtime_latency"]
    assert family.type == "histogram"
    assert counts(family) == {
        (("API", "Predict"), ("model_name", "m"), ("runtime", "TF1")): REST_PREDICTS
        + GRPC_PREDICTS,
        (("API", "Classify"), ("model_name", "m"), ("runtime", "TF1")): CLASSIFIES,
        (("API", "Regress"), ("model_name", "m"), ("runtime", "TF1")): REGRESSES,
    }
    assert limits(family) == expected_limits(LATENCY_BUCKETS)


def test_request_example_counts_are_multi_inference_examples(served):
    # util.cc request_example_counts {model} Exponential(1, 2, 15) and
    # request_example_count_total {model}; multi_inference.cc Infer is their only caller.
    family = served.found[P + "request_example_counts"]
    assert family.type == "histogram"
    assert counts(family) == {(("model", "m"),): MULTI}
    assert counts(family, "_sum") == {(("model", "m"),): MULTI * MULTI_EXAMPLES}
    assert limits(family) == expected_limits(EXAMPLE_BUCKETS)
    # prometheus_client's parser names a counter family without its "_total"
    total = served.found[P + "request_example_count"]
    assert total.samples[0].name == P + "request_example_count_total"
    assert total.type == "counter"
    assert [(s.labels, s.value) for s in total.samples] == [
        ({"model": "m"}, MULTI * MULTI_EXAMPLES)
    ]


def test_request_log_count_by_model_name_and_status_code(served):
    # core/request_logger.cc Log: request_log_count {model_name, status_code}, one per sampled
    # request (sampling_rate 1.0: every answered one, a MultiInference once).
    family = served.found[P + "request_log_count"]
    assert family.type == "counter"
    assert [(s.labels, s.value) for s in family.samples] == [
        ({"model_name": "m", "status_code": "OK"}, ANSWERED)
    ]


def test_batching_session_families_count_each_batch(served):
    # batching/batching_session.cc: queuing_latency {thread_pool_name} Exponential(100, 1.2, 52)
    # (the model server's sessions get ""), wrapped_run_count; batching_util.h input/processed
    # batch size Exponential(1, 2, 14), padding_size {execution_batch_size}. Requests sent one
    # at a time: each is a batch of its own (MultiInference's two tasks run one each).
    batched = REST_PREDICTS + REGRESSES + GRPC_PREDICTS + CLASSIFIES + 2 * MULTI
    queuing = served.found[P + "batching_session:queuing_latency"]
    assert queuing.type == "histogram"
    assert counts(queuing) == {(("thread_pool_name", ""),): batched}
    assert limits(queuing) == expected_limits(QUEUING_BUCKETS)
    runs = served.found[P + "batching_session:wrapped_run_count"]
    assert runs.type == "counter" and [s.value for s in runs.samples] == [batched]
    rows = 2 * REST_PREDICTS + REGRESSES + 3 * GRPC_PREDICTS + CLASSIFIES + 2 * MULTI * 3
    for name in ("input_batch_size", "processed_batch_size"):
        family = served.found[P + "batching_session:" + name]
        assert counts(family) == {(): batched}
        assert counts(family, "_sum") == {(): rows}
        assert limits(family) == expected_limits(BATCH_BUCKETS)
    padding = served.found[P + "batching_session:padding_size"]
    assert {k[0][1] for k in counts(padding)} == {"1", "2", "3"}  # no allowed_batch_sizes
    assert sum(counts(padding, "_sum").values()) == 0


def test_warm_up_and_load_families_by_model_path(served):
    # saved_model_warmup_util.cc: model_warmup_latency {model_path, status} (export_dir,
    # "OK"), model_warmup_records_read counts records, not iterations; tensorflow
    # cc/saved_model/loader.cc LoadSavedModel: load_attempt_count {model_path, status}
    # "success", load_latency {model_path} (a counter of microseconds).
    path = str(served.version)
    warmup = served.found[P + "model_warmup_latency"]
    assert warmup.type == "histogram"
    assert counts(warmup)[(("model_path", path), ("status", "OK"))] == 1
    assert limits(warmup) == expected_limits(LATENCY_BUCKETS)
    read = served.found[P + "model_warmup_records_read"]
    assert {"model_path": path, "status": "OK"} in [s.labels for s in read.samples]
    assert [s.value for s in read.samples if s.labels["model_path"] == path] == [WARMUP_RECORDS]
    attempts = served.found[":tensorflow:cc:saved_model:load_attempt_count"]
    assert attempts.type == "counter"
    mine = [
        (s.labels["status"], s.value) for s in attempts.samples if s.labels["model_path"] == path
    ]
    assert mine == [("success", 1)]
    latency = served.found[":tensorflow:cc:saved_model:load_latency"]
    assert latency.type == "counter"
    assert [s.value > 0 for s in latency.samples if s.labels["model_path"] == path] == [True]
