"""SIGTERM drains: requests in flight when it arrives all complete, then serve exits 0."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ServerProcess
from tests.serving.example_model import save_example_model
from tests.serving.server.test_batching import PATH, predicts

CLIENTS = 4


def queue_depth(url: str) -> float:
    with urllib.request.urlopen(url + PATH, timeout=30) as resp:
        text = resp.read().decode()
    for family in text_string_to_metric_families(text):
        if family.name == "kerasforge_queue_depth":
            return family.samples[0].value
    raise AssertionError("no queue depth metric")


def batching_server(repository: Path, timeout_micros: int) -> ServerProcess:
    """``kerasforge serve`` over ``repository`` whose predicts wait up to ``timeout_micros``
    in the batching queue (in flight, for the test to catch), with metrics on."""
    (repository / "batching.config").write_text(
        f"max_batch_size {{ value: 64 }}\nbatch_timeout_micros {{ value: {timeout_micros} }}\n"
    )
    (repository / "monitoring.config").write_text("prometheus_config { enable: true }\n")
    return ServerProcess(
        repository,
        "--enable_batching",
        "--batching_parameters_file",
        str(repository / "batching.config"),
        "--monitoring_config_file",
        str(repository / "monitoring.config"),
    )


@pytest.mark.heavy
def test_sigterm_lets_slow_requests_in_flight_finish_then_exits_0(published, tmp_path):
    shutil.copytree(published.published.path, tmp_path / "digits_cnn" / "1")
    # Requests wait up to 5 s in the batching queue for a full batch: slow, in flight.
    proc = batching_server(tmp_path, timeout_micros=5_000_000)
    x = published.splits.x_test[:1].astype(np.float32)
    results: list = []
    send = lambda: results.append(predicts(proc.url, x))  # noqa: E731
    clients = [threading.Thread(target=send) for _ in range(CLIENTS)]
    try:
        for client in clients:
            client.start()
        deadline = time.monotonic() + 60
        while queue_depth(proc.url) < CLIENTS and time.monotonic() < deadline:
            time.sleep(0.05)
        assert queue_depth(proc.url) == CLIENTS, "every request is in flight before SIGTERM"
        proc.proc.send_signal(signal.SIGTERM)
        for client in clients:
            client.join(timeout=120)
        assert proc.proc.wait(timeout=120) == 0
    finally:
        proc.stop()
    assert [status for status, _ in results] == [200] * CLIENTS
    assert all(len(body["predictions"]) == 1 for _, body in results)


@pytest.mark.heavy
def test_sigterm_answers_requests_in_flight_on_keep_alive_connections(tmp_path):
    # TF Serving's libevent server answers the request it is handling before it closes a
    # connection (util/net_http/server/internal/evhttp_server.cc Terminate waits for the
    # handlers in flight); each keep-alive connection here has served a request first.
    save_example_model(tmp_path / "ex" / "1")
    proc = batching_server(tmp_path, timeout_micros=3_000_000)
    host, port = proc.url.removeprefix("http://").split(":")
    connections = [http.client.HTTPConnection(host, int(port), timeout=60) for _ in range(8)]
    results: list = []

    def send(conn: http.client.HTTPConnection) -> None:
        body = json.dumps({"signature_name": "predict", "instances": [[1.0, 2.0]]})
        conn.request("POST", "/v1/models/ex:predict", body)
        resp = conn.getresponse()
        results.append((resp.status, resp.getheader("Connection"), json.loads(resp.read())))

    try:
        for conn in connections:  # each connection is kept alive after its first answer
            conn.request("GET", "/v1/models/ex")
            assert conn.getresponse().read() and not conn.sock._closed
        clients = [threading.Thread(target=send, args=(conn,)) for conn in connections]
        for client in clients:
            client.start()
        deadline = time.monotonic() + 60
        while queue_depth(proc.url) < len(connections) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert queue_depth(proc.url) == len(connections), "all in flight before SIGTERM"
        proc.proc.send_signal(signal.SIGTERM)
        for client in clients:
            client.join(timeout=120)
        assert proc.proc.wait(timeout=120) == 0
    finally:
        proc.stop()
    assert results == [(200, "close", {"predictions": [[1.0, 2.0]]})] * len(connections)
