"""Drift tracking in a real ``kerasforge serve``: gauges and ``GET /v1/models/NAME/drift``.

One server serves the tiny digits classifier twice: ``digits`` published with its
training statistics (and request logging on, every request), ``plain`` without. The
traffic is sent in phases, each captured once the tracking thread has taken it in:
held-out rows of the test split (in distribution: rows training never saw), then the same
rows brightened by +40 (over REST predict, gRPC predict and REST classify), then a load of
8 threads x 200 requests with logging and drift both on. The false-alarm rate over many
held-out windows is measured in-process (``tests/serving/monitoring/
test_drift_calibration.py``); here one window goes through the server.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import grpc
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ServerProcess
from tests.serving.server.test_grpc_api import predict_request

pytestmark = pytest.mark.heavy  # exports a model and starts a server

WINDOW = 250  # of the 270 test-split digits
METRICS = "/monitoring/prometheus/metrics"
SHIFT = 40.0
LOAD_THREADS, LOAD_REQUESTS = 8, 200
MODELS = """model_config_list {{
  config {{ name: "digits" base_path: "{root}/models/digits" model_platform: "tensorflow"
    logging_config {{
      log_collector_config {{ type: "tfrecord" filename_prefix: "{root}/logs/digits" }}
      sampling_config {{ sampling_rate: 1.0 }}
    }}
  }}
  config {{ name: "plain" base_path: "{root}/models/plain" model_platform: "tensorflow" }}
}}
"""


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def post(url: str, body: dict) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def scrape(url: str) -> list:
    with urllib.request.urlopen(url + METRICS, timeout=30) as response:
        text = response.read().decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def tracked(samples: list) -> float:
    return sum(
        s.value
        for s in samples
        if s.name == "kerasforge_drift_requests_total" and s.labels["outcome"] == "tracked"
    )


def settled(server: ServerProcess, requests: int, name: str = "digits") -> SimpleNamespace:
    """``name``'s report and the metrics once ``requests`` requests in all were tracked and
    reported after."""
    deadline = time.monotonic() + 120  # bounded: the tracking thread reports every 0.2 s
    while True:
        samples = scrape(server.url)
        if tracked(samples) >= requests or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    since = time.time()
    while True:
        status, report = get(f"{server.url}/v1/models/{name}/drift")
        if (report.get("updated") or 0) > since or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return SimpleNamespace(status=status, report=report, samples=scrape(server.url))


def send_rest(server: ServerProcess, rows: np.ndarray, per_request: int = 10) -> int:
    for start in range(0, len(rows), per_request):
        batch = rows[start : start + per_request].tolist()
        assert post(f"{server.url}/v1/models/digits:predict", {"instances": batch}) == 200
    return -(-len(rows) // per_request)


@pytest.fixture(scope="module")
def drift(monitored_once, published, tmp_path_factory) -> SimpleNamespace:
    """Serve, send each phase's traffic, capture what the server said after it."""
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from tests.conftest import DEFAULT_CONFIG, TINY

    root = tmp_path_factory.mktemp("drift")
    monitored = monitored_once(DEFAULT_CONFIG, TINY)  # published with its statistics
    card, splits = monitored.published.card, monitored.splits
    shutil.copytree(monitored.published.path, root / "models" / "digits" / "1")
    shutil.copytree(published.published.path, root / "models" / "plain" / "1")
    (root / "models.config").write_text(MODELS.format(root=root))
    (root / "monitoring.config").write_text("prometheus_config { enable: true }")
    server = ServerProcess(
        None,
        *("--model_config_file", str(root / "models.config")),
        *("--monitoring_config_file", str(root / "monitoring.config")),
        *("--drift_window_size", str(WINDOW), "--drift_interval_seconds", "0.2"),
    )
    found = SimpleNamespace(server=server, card=card, training_rows=len(splits.x_train))
    rng = np.random.default_rng(0)
    # Held-out rows: the test split, never trained on (the statistics summarise the inputs
    # of the training split and the outputs of the validation split)
    rows = splits.x_test[rng.choice(len(splits.x_test), WINDOW, replace=False)]
    try:
        found.before = get(f"{server.url}/v1/models/digits/drift")
        sent = send_rest(server, rows)
        found.calm = settled(server, sent)
        shifted = np.clip(rows + SHIFT, 0, 255).astype("float32")
        sent += send_rest(server, shifted[:100])
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            for start in range(100, 200, 10):
                stub.Predict(predict_request("digits", shifted[start : start + 10]), timeout=60)
                sent += 1
        examples = [{"pixels": row.reshape(-1).tolist()} for row in shifted[200:]]
        if "classify" in card.signatures:
            for start in range(0, len(examples), 10):
                body = {"signature_name": "classify", "examples": examples[start : start + 10]}
                assert post(f"{server.url}/v1/models/digits:classify", body) == 200
                sent += 1
        else:
            sent += send_rest(server, shifted[200:])
        found.shifted = settled(server, sent)
        found.routes = {
            path: get(f"{server.url}/v1/models/{path}")
            for path in ("digits/versions/1/drift", "digits/versions/9/drift", "nope/drift",
                         "plain/drift", "plain/labels/stable/drift")
        }  # fmt: skip
        found.load = load(server, rows)
    finally:
        server.stop()
    return found


def load(server: ServerProcess, rows: np.ndarray) -> list[int]:
    """8 threads x 200 requests (REST and gRPC alternating); every status code."""
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    def client(index: int) -> list[int]:
        codes = []
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            for i in range(LOAD_REQUESTS):
                batch = rows[(index * 7 + i) % len(rows)][None]
                if i % 2:
                    stub.Predict(predict_request("digits", batch), timeout=60)
                    codes.append(200)
                else:
                    body = {"instances": batch.tolist()}
                    codes.append(post(f"{server.url}/v1/models/digits:predict", body))
        return codes

    with ThreadPoolExecutor(LOAD_THREADS) as pool:
        return [code for codes in pool.map(client, range(LOAD_THREADS)) for code in codes]


def gauge(samples: list, name: str, **labels: str) -> float | None:
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    return found[0] if found else None


def test_before_any_request_the_report_has_no_data(drift):
    status, report = drift.before
    assert status == 200 and report["verdict"] == "no_data"
    assert report["window"] == {"rows": 0, "size": WINDOW}
    assert report["model_spec"] == {"name": "digits", "version": "1"}


def test_held_out_rows_raise_no_alert(drift):
    calm = drift.calm
    assert calm.status == 200, calm.report
    assert calm.report["window"]["rows"] == WINDOW
    assert calm.report["alerts"] == []
    assert calm.report["inputs"]["channel_0"]["verdict"] in ("ok", "warn")
    assert calm.report["inputs"]["channel_0"]["psi"] < 0.1
    assert gauge(calm.samples, "kerasforge_drift_verdict", feature="channel_0") in (0, 1)


def test_brightened_traffic_alerts_naming_the_channel(drift):
    shifted = drift.shifted.report
    assert shifted["verdict"] == "alert"
    assert "inputs/channel_0" in shifted["alerts"]
    channel = shifted["inputs"]["channel_0"]
    assert channel["verdict"] == "alert" and channel["psi"] >= 0.25
    assert any(reason.startswith("psi") for reason in channel["reasons"])
    assert shifted["thresholds"]["psi_alert"] == 0.25  # drift.py's Thresholds
    assert shifted["training"]["rows"] == drift.training_rows


def test_the_gauges_move_with_the_shift(drift):
    labels = {"model": "digits", "version": "1", "feature": "channel_0", "direction": "input"}
    before = gauge(drift.calm.samples, "kerasforge_drift_psi", **labels)
    after = gauge(drift.shifted.samples, "kerasforge_drift_psi", **labels)
    assert before is not None and after is not None and after > 0.25 > before
    assert gauge(drift.shifted.samples, "kerasforge_drift_verdict", **labels) == 2
    assert gauge(drift.shifted.samples, "kerasforge_drift_ks_p_value", **labels) < 0.001
    rows = gauge(drift.shifted.samples, "kerasforge_drift_window_rows", model="digits")
    assert rows == WINDOW


def test_gauges_are_labelled_by_the_statistics_features_only(drift):
    names = {"kerasforge_drift_psi", "kerasforge_drift_verdict"}
    series = [s.labels for s in drift.shifted.samples if s.name in names]
    assert {s["model"] for s in series} == {"digits"}  # plain has no statistics: no series
    assert {s["direction"] for s in series} == {"input", "output"}
    assert {s["feature"] for s in series if s["direction"] == "input"} == {
        "channel_0",
        "channel_0.mean",
        "image_size",
    }
    outputs = {s["feature"] for s in series if s["direction"] == "output"}
    assert outputs <= {"class_ids", "probabilities"} and "class_ids" in outputs
    chi2 = gauge(drift.shifted.samples, "kerasforge_drift_chi2_p_value", feature="class_ids")
    assert chi2 is not None and 0 <= chi2 <= 1


def test_under_load_with_logging_and_drift_no_request_fails(drift):
    assert drift.load == [200] * (LOAD_THREADS * LOAD_REQUESTS)


def test_a_version_can_be_named_and_unknown_ones_get_tf_servings_404(drift):
    status, report = drift.routes["digits/versions/1/drift"]
    assert status == 200 and report["model_spec"]["version"] == "1"
    # TF Serving's NotFound for a servable that is not loaded (core/basic_manager.cc,
    # BasicManager's handle lookup; g3doc/api_rest.md shows it as a REST error)
    status, body = drift.routes["digits/versions/9/drift"]
    assert status == 404 and body["error"].startswith("Servable not found for request")
    status, body = drift.routes["nope/drift"]
    assert status == 404 and "Servable not found for request: Latest(nope)" in body["error"]


def test_a_version_without_statistics_says_so(drift):
    status, body = drift.routes["plain/drift"]
    assert status == 404
    assert "plain version 1 has no training statistics" in body["error"]
    assert "export.statistics: true" in body["error"]
    status, body = drift.routes["plain/labels/stable/drift"]
    assert status == 400 and "Unrecognized servable version label: stable" in body["error"]
