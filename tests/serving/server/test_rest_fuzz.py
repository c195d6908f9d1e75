"""Fuzz of the REST endpoints: malformed bodies never get a 5xx or stop the server."""

from __future__ import annotations

import http.client
import json
import shutil
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kerasforge.serving.clients.rest_client import RestClient
from kerasforge.serving.server import embedded as serverlib
from tests.serving.example_model import save_example_model

PATHS = [
    "/v1/models/digits_cnn:predict",
    "/v1/models/digits_cnn/versions/1:predict",
    "/v1/models/digits_cnn",
    "/v1/models/digits_cnn:classify",
    "/v1/models/ex:classify",
    "/v1/models/ex/versions/1:regress",
    "/v1/models/ex/labels/stable:regress",
]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)
BODIES = st.one_of(
    st.binary(max_size=200),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {},
        optional={
            "instances": JSON_VALUES,
            "inputs": JSON_VALUES,
            "signature_name": JSON_VALUES | st.sampled_from(["regress", "predict"]),
            "examples": JSON_VALUES,
            "context": JSON_VALUES,
        },
    ).map(lambda v: json.dumps(v).encode()),
)


@pytest.fixture(scope="module")
def live(published, tmp_path_factory):
    repo = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(published.published.path, repo / "digits_cnn" / "1")
    save_example_model(repo / "ex" / "1")  # classify and regress signatures over tf.Examples
    rest, store = serverlib.start(
        repo, serverlib.ServerOptions(host="127.0.0.1", rest_port=0, poll_seconds=0.2)
    )
    yield rest, repo, published
    serverlib.stop(rest, store)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(PATHS), method=st.sampled_from(["POST", "GET", "PUT"]), body=BODIES)
def test_malformed_requests_get_4xx_never_5xx(live, path, method, body):
    rest, _, _ = live
    conn = http.client.HTTPConnection(*rest.server_address, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        payload = response.read()
        assert response.status < 500, (response.status, payload)
        assert response.status == 200 or "error" in json.loads(payload)
        # The same keep-alive connection still answers the next request correctly.
        conn.request("GET", "/v1/models/digits_cnn")
        follow = conn.getresponse()
        assert follow.status == 200 and b"AVAILABLE" in follow.read()
    finally:
        conn.close()


def test_a_new_version_published_while_a_client_loops_fails_no_request(live):
    rest, repo, published = live
    client = RestClient(f"http://127.0.0.1:{rest.server_port}")
    pixels = np.zeros((1, 8, 8, 1), np.float32).tolist()
    failures, answered, versions = [], [0], set()
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                client.predict("digits_cnn", pixels)
                answered[0] += 1
                versions.add(client.status("digits_cnn")["model_version_status"][0]["version"])
            except Exception as exc:  # every failure is recorded and fails the test
                failures.append(repr(exc))

    threads = [threading.Thread(target=loop) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    staging = repo / "digits_cnn" / ".staging-test"
    shutil.copytree(published.published.path, staging)
    staging.rename(repo / "digits_cnn" / "2")  # atomic publish, as export does
    deadline = time.monotonic() + 30
    while "2" not in versions and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures, failures[:3]
    assert versions >= {"1", "2"} and answered[0] > 10
