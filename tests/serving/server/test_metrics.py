"""Prometheus metrics (``--monitoring_config_file``) of a real ``kerasforge serve`` process."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kerasforge.serving.errors import ServingError
from kerasforge.serving.server.metrics import read_monitoring_config
from tests.conftest import ServerProcess
from tests.serving.example_model import save_example_model
from tests.serving.server.test_grpc_api import predict_request

pytestmark = pytest.mark.heavy  # exports, servers or training in its fixtures

PATH = "/monitoring/prometheus/metrics"


@pytest.fixture(scope="module")
def monitored(published, tmp_path_factory):
    root = tmp_path_factory.mktemp("monitored")
    shutil.copytree(published.published.path, root / "digits_cnn" / "1")
    save_example_model(root / "ex" / "1")
    config = root / "monitoring.config"
    config.write_text(f'prometheus_config {{ enable: true, path: "{PATH}" }}\n')
    proc = ServerProcess(root, "--monitoring_config_file", str(config))
    yield proc
    proc.stop()


def post(url: str, body: dict) -> int:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def scrape(url: str) -> dict[str, list]:
    with urllib.request.urlopen(url + PATH, timeout=30) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(samples: list, name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    return found[0] if found else 0.0


def test_counts_latency_and_batch_sizes_match_the_requests_sent(monitored, published):
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    url = monitored.url
    x = published.splits.x_test[:4].astype(np.float32)
    for _ in range(3):
        assert post(f"{url}/v1/models/digits_cnn:predict", {"instances": x.tolist()}) == 200
    assert post(f"{url}/v1/models/digits_cnn:predict", {"instances": [[1, 2]]}) == 400
    for n in range(3):  # names a client makes up never become label values
        unknown = {"signature_name": f"made_up_{n}", "instances": x.tolist()}
        assert post(f"{url}/v1/models/digits_cnn:predict", unknown) in (400, 404)
    examples = {"examples": [{"x": [1.0, 2.0]}, {"x": [0.5, 0.0]}]}
    for _ in range(2):
        assert post(f"{url}/v1/models/ex:classify", examples) == 200
    with grpc.insecure_channel(f"127.0.0.1:{monitored.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for _ in range(2):
            stub.Predict(predict_request("digits_cnn", x[:1], version=1), timeout=30)
        with pytest.raises(grpc.RpcError) as raised:
            stub.Predict(predict_request("nope", x[:1]), timeout=30)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND

    families = scrape(url)
    requests = families["kerasforge_requests"]
    digits = {"model": "digits_cnn", "version": "1", "signature": "serving_default"}
    rest, grpc_ = {"protocol": "rest", "api": "predict"}, {"protocol": "grpc", "api": "predict"}
    total = "kerasforge_requests_total"
    assert value(requests, total, **digits, **rest, status="OK") == 3
    assert value(requests, total, **digits, **rest, status="INVALID_ARGUMENT") == 1
    assert value(requests, total, **digits, **grpc_, status="OK") == 2
    unresolved = {"model": "", "version": "", "signature": ""}
    assert value(requests, total, **unresolved, **grpc_, status="NOT_FOUND") == 1
    no_signature = {"model": "digits_cnn", "version": "1", "signature": ""}
    failed = [
        s
        for s in requests
        if s.name == total and {**no_signature, **rest}.items() <= s.labels.items()
    ]
    assert sum(s.value for s in failed) == 3
    assert not [
        s for s in requests if "made_up" in s.labels["signature"] or s.labels["model"] == "nope"
    ]
    ex = {"model": "ex", "version": "1", "signature": "serving_default"}
    assert value(requests, total, **ex, protocol="rest", api="classify", status="OK") == 2
    assert sum(s.value for s in requests if s.name == total) == 12

    latency = families["kerasforge_request_latency_seconds"]
    assert value(latency, "kerasforge_request_latency_seconds_count", **digits) == 5
    assert value(latency, "kerasforge_request_latency_seconds_count", **ex) == 2
    sizes = families["kerasforge_batch_size"]
    assert value(sizes, "kerasforge_batch_size_sum", **digits) == 3 * 4 + 2 * 1
    assert value(sizes, "kerasforge_batch_size_sum", **ex) == 2 * 2
    assert value(families["kerasforge_queue_depth"], "kerasforge_queue_depth") == 0


def test_metrics_are_not_served_without_a_monitoring_config(server):
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(server.url + PATH, timeout=30)
    assert raised.value.code == 404


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("prometheus_config { enable: true }", PATH),
        ('prometheus_config { enable: true, path: "/m" }', "/m"),
        ("prometheus_config { enable: false }", None),
        ("", None),
    ],
)
def test_monitoring_config_names_the_path(tmp_path, text, expected):
    (tmp_path / "m.config").write_text(text)
    assert read_monitoring_config(tmp_path / "m.config") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prometheus_config { enabled: true }", "not a MonitoringConfig"),
        ('prometheus_config { enable: true, path: "/v1/models/x" }', "must start with"),
        (None, "cannot be read"),
    ],
)
def test_a_bad_monitoring_config_says_what_is_expected(tmp_path, text, message):
    path = tmp_path / "m.config"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ServingError, match=message):
        read_monitoring_config(path)


def tf_counts(url: str) -> tuple[dict, dict]:
    """``:tensorflow:serving:request_count`` by (model_name, status) and request_latency's
    ``_count`` by (model_name, API, entrypoint), scraped over HTTP."""
    families = scrape(url)
    counts = {
        (s.labels["model_name"], s.labels["status"]): s.value
        for s in families[":tensorflow:serving:request_count"]
    }
    latency = {
        (s.labels["model_name"], s.labels["API"], s.labels["entrypoint"]): s.value
        for s in families[":tensorflow:serving:request_latency"]
        if s.name.endswith("_count")
    }
    return counts, latency


def test_tf_serving_families_move_with_real_rest_and_grpc_calls(monitored, published):
    # Names and labels: TF Serving servables/tensorflow/util.cc (request_count: model_name,
    # status; request_latency: model_name, API, entrypoint); who records them:
    # model_servers/http_server.cc ProcessRequest (REST, API = the URL's verb, successes
    # only for latency) and prediction_service_impl.cc (GRPC, "Predict"/"Classify"; not
    # MultiInference).
    from tensorflow_serving.apis import inference_pb2, prediction_service_pb2_grpc

    from tests.serving.server.test_grpc_api import example_input

    url = monitored.url
    before_counts, before_latency = tf_counts(url)
    x = published.splits.x_test[:2].astype(np.float32)
    assert post(f"{url}/v1/models/digits_cnn:predict", {"instances": x.tolist()}) == 200
    assert post(f"{url}/v1/models/digits_cnn:predict", {"instances": [[1, 2]]}) == 400
    examples = {"examples": [{"x": [1.0, 2.0]}]}
    assert post(f"{url}/v1/models/ex:classify", examples) == 200
    with grpc.insecure_channel(f"127.0.0.1:{monitored.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        stub.Predict(predict_request("digits_cnn", x[:1]), timeout=30)
        multi = inference_pb2.MultiInferenceRequest()
        task = multi.tasks.add()
        task.model_spec.name, task.method_name = "ex", "tensorflow/serving/classify"
        example_input(multi, [[1.0, 1.0]])
        stub.MultiInference(multi, timeout=30)
    counts, latency = tf_counts(url)

    def moved(after: dict, before: dict) -> dict:
        return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}

    assert moved(counts, before_counts) == {
        ("digits_cnn", "OK"): 2,
        ("digits_cnn", "INVALID_ARGUMENT"): 1,
        ("ex", "OK"): 1,
    }
    assert moved(latency, before_latency) == {
        ("digits_cnn", "predict", "REST"): 1,
        ("digits_cnn", "Predict", "GRPC"): 1,
        ("ex", "classify", "REST"): 1,
    }
    assert "kerasforge_requests" in scrape(url)  # ours are still there, beside them
