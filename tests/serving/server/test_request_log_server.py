"""Request logging in a real ``kerasforge serve``: gRPC (official stubs) and REST (urllib) traffic,
the files read back with ``tf.data.TFRecordDataset`` and the stock ``prediction_log_pb2``.

One server serves the example model under three names, each with its own
``logging_config``: ``full`` (every request, files rotated at 2 KiB), ``tenth``
(10% sampled) and ``burst`` (a one-slot queue). The traffic is sent once, the
server is stopped with SIGTERM (which flushes the logs), and each test reads
what was written. ``LogMetadata`` is filled as TF Serving's
``RequestLogger::Log`` fills it (core/request_logger.cc).
"""

from __future__ import annotations

import json
import re
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import grpc
import numpy as np
import pytest

from tests.conftest import ServerProcess, run_cli
from tests.serving.example_model import save_example_model

pytestmark = pytest.mark.heavy  # starts a server

MODEL = """
  config {{
    name: "{name}" base_path: "{base}" model_platform: "tensorflow"
    logging_config {{
      log_collector_config {{ type: "tfrecord" filename_prefix: "logs/{name}" }}
      sampling_config {{ sampling_rate: {rate} }}
      custom_logging_config {{
        [type.googleapis.com/google.protobuf.Struct] {{
          fields {{ key: "{key}" value {{ number_value: {value} }} }}
        }}
      }}
    }}
  }}"""
ROTATE_BYTES = 2048
TENTH_REQUESTS = 200
BURST_REQUESTS = 160


def models_config(base: Path) -> str:
    models = [
        MODEL.format(name="full", base=base, rate=1.0, key="max_file_bytes", value=ROTATE_BYTES),
        MODEL.format(name="tenth", base=base, rate=0.1, key="queue_size", value=1024),
        MODEL.format(name="burst", base=base, rate=1.0, key="queue_size", value=1),
    ]
    return "model_config_list {" + "".join(models) + "\n}\n"


def rest(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def grpc_predict(stub, name: str, x: np.ndarray):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = name, "predict"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(x))
    return request, stub.Predict(request, timeout=30)


def grpc_classify(stub, name: str):
    from tensorflow_serving.apis import classification_pb2

    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = name
    example = request.input.example_list.examples.add()
    example.features.feature["x"].float_list.value.extend([0.5, 1.5])
    return request, stub.Classify(request, timeout=30)


@pytest.fixture(scope="module")
def logged(tmp_path_factory) -> SimpleNamespace:
    """Send the traffic, scrape the metrics, stop the server; what was sent and answered."""
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    root = tmp_path_factory.mktemp("request_log")
    save_example_model(root / "ex" / "1")
    (root / "models.config").write_text(models_config(root / "ex"))
    (root / "monitoring.config").write_text("prometheus_config { enable: true }")
    server = ServerProcess(
        None,
        *("--model_config_file", str(root / "models.config")),
        *("--monitoring_config_file", str(root / "monitoring.config")),
    )
    sent = SimpleNamespace(root=root, grpc=[], rest=[])
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            for i in range(12):
                x = np.arange(4, dtype=np.float32).reshape(2, 2) + i
                sent.grpc.append(grpc_predict(stub, "full", x))
            sent.grpc.append(grpc_classify(stub, "full"))
            body = {"signature_name": "predict", "instances": [[1.0, 2.0], [3.0, 4.0]]}
            sent.rest.append((body, rest(f"{server.url}/v1/models/full:predict", body)))
            for _ in range(TENTH_REQUESTS):
                grpc_predict(stub, "tenth", np.ones((1, 2), np.float32))
            with ThreadPoolExecutor(16) as pool:  # a burst: every request must succeed
                burst = list(
                    pool.map(
                        lambda _: grpc_predict(stub, "burst", np.ones((64, 2), np.float32)),
                        range(BURST_REQUESTS),
                    )
                )
            sent.burst_answers = len(burst)
        with urllib.request.urlopen(f"{server.url}/monitoring/prometheus/metrics") as response:
            sent.metrics = response.read().decode()
    finally:
        server.stop()  # SIGTERM: requests drain, then the logs are flushed and closed
    return sent


def read_log(root: Path, name: str) -> tuple[list[Path], list]:
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    files = sorted((root / "logs").glob(f"{name}-*.tfrecord"))
    dataset = tf.data.TFRecordDataset([str(f) for f in files])
    return files, [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in dataset]


def test_grpc_and_rest_requests_are_logged_with_request_response_and_model_spec(logged):
    import tensorflow as tf

    _, records = read_log(logged.root, "full")
    assert len(records) == len(logged.grpc) + len(logged.rest)  # sampling_rate 1.0
    for record, (request, response) in zip(records, logged.grpc, strict=False):
        kind = "classify_log" if request.DESCRIPTOR.name.startswith("Classif") else "predict_log"
        assert record.WhichOneof("log_type") == kind
        assert getattr(record, kind).request == request  # as sent
        assert getattr(record, kind).response == response  # as answered
        spec = record.log_metadata.model_spec
        assert (spec.name, spec.version.value) == ("full", 1)
        assert record.log_metadata.sampling_config.sampling_rate == 1.0
        assert list(record.log_metadata.saved_model_tags) == ["serve"]
        assert record.log_metadata.timestamp_secs > 0
    rest_log = records[-1].predict_log  # REST: the decoded tensors as a PredictRequest
    body, answer = logged.rest[0]
    assert rest_log.request.model_spec.signature_name == "predict"
    np.testing.assert_array_equal(tf.make_ndarray(rest_log.request.inputs["x"]), body["instances"])
    np.testing.assert_array_equal(
        tf.make_ndarray(rest_log.response.outputs["y"]), answer["predictions"]
    )


def test_files_rotate_at_the_configured_size_and_their_names_sort_by_time(logged):
    files, records = read_log(logged.root, "full")
    assert len(files) >= 2
    assert all(f.stat().st_size <= ROTATE_BYTES for f in files)
    stamps = [re.search(r"-(\d{8}T\d{12}Z)-", f.name).group(1) for f in files]
    assert stamps == sorted(stamps)
    times = [r.log_metadata.timestamp_secs for r in records]
    assert times == sorted(times)


def test_a_tenth_is_sampled(logged):
    _, records = read_log(logged.root, "tenth")
    # Binomial(200, 0.1): outside [3, 50] with probability below 1e-6
    assert 3 <= len(records) <= 50
    assert {r.log_metadata.sampling_config.sampling_rate for r in records} == {0.1}


def test_a_burst_into_a_tiny_queue_drops_and_counts_but_every_request_succeeds(logged):
    _, records = read_log(logged.root, "burst")
    assert logged.burst_answers == BURST_REQUESTS
    found = re.search(
        r'kerasforge_request_log_records_total\{model="burst",outcome="dropped"\} (\S+)',
        logged.metrics,
    )
    dropped = int(float(found.group(1))) if found else 0
    assert len(records) + dropped == BURST_REQUESTS


def test_a_prefix_outside_the_config_folder_is_refused_at_start(tmp_path):
    base = tmp_path / "ex"
    config = tmp_path / "models.config"
    config.write_text(models_config(base).replace('"logs/full"', '"/etc/kerasforge/full"'))
    result = run_cli("serve", "--model_config_file", str(config), "--rest-port", "0", timeout=120)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "lies outside" in line]
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "filename_prefix '/etc/kerasforge/full' lies outside" in lines[0]
