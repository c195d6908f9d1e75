"""The embedded server, in-process, over a published model: TF Serving's REST shapes."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from kerasforge.serving.clients.rest_client import RestClient
from kerasforge.serving.errors import ServingError
from kerasforge.serving.server import embedded as serverlib


@pytest.fixture(scope="module")
def live(published, tmp_path_factory):
    result = published
    repo = tmp_path_factory.mktemp("repo")
    shutil.copytree(result.published.path, repo / "digits_cnn" / "1")
    rest, store = serverlib.start(
        repo, serverlib.ServerOptions(host="127.0.0.1", rest_port=0, poll_seconds=0.2)
    )
    url = f"http://127.0.0.1:{rest.server_address[1]}"
    yield url, repo, result
    serverlib.stop(rest, store)


def post(url: str, body) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_binds_loopback_by_default(live):
    url, _, _ = live
    assert url.startswith("http://127.0.0.1:")


def test_row_format_predict_matches_keras(live):
    url, _, result = live
    x = result.splits.x_test[:6]
    status, body = post(f"{url}/v1/models/digits_cnn:predict", {"instances": x.tolist()})
    assert status == 200
    expected = result.model.predict(x, verbose=0)
    assert [p["class_ids"] for p in body["predictions"]] == expected.argmax(-1).tolist()
    probs = np.array([p["probabilities"] for p in body["predictions"]])
    np.testing.assert_allclose(probs, expected, atol=1e-5)


def test_columnar_format_and_named_instances(live):
    url, _, result = live
    x = result.splits.x_test[:3]
    status, body = post(f"{url}/v1/models/digits_cnn/versions/1:predict", {"inputs": x.tolist()})
    assert status == 200 and set(body["outputs"]) == {"class_ids", "classes", "probabilities"}
    assert len(body["outputs"]["class_ids"]) == 3
    status, named = post(
        f"{url}/v1/models/digits_cnn:predict",
        {"signature_name": "serving_default", "instances": [{"pixels": v} for v in x.tolist()]},
    )
    assert status == 200
    assert [p["class_ids"] for p in named["predictions"]] == body["outputs"]["class_ids"]


def test_model_status(live):
    url, _, _ = live
    status = RestClient(url).status("digits_cnn")
    assert status == {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }


@pytest.mark.parametrize(
    ("path", "body", "code", "message"),
    [
        ("/v1/models/nope:predict", {"instances": [1]}, 404, "Servable not found"),
        ("/v1/models/digits_cnn/versions/9:predict", {"instances": [1]}, 404, "Specific"),
        (
            "/v1/models/digits_cnn:predict",
            {"instances": [[1, 2]]},
            400,
            "expected shape [-1, 8, 8, 1]",
        ),
        ("/v1/models/digits_cnn:predict", {"nothing": 1}, 400, "Missing 'inputs' or 'instances'"),
        ("/v1/models/digits_cnn:predict", {"instances": []}, 400, "No values in 'instances'"),
        (
            "/v1/models/digits_cnn:predict",
            {"instances": [["x"]]},
            400,
            "is not of expected type: float",
        ),
        ("/v1/models/digits_cnn:predict", b"{not json", 400, "JSON Parse error"),
        (
            "/v1/models/digits_cnn:predict",
            {"signature_name": "nope", "instances": [1]},
            400,
            "not found in signature def",
        ),
        # http_rest_api_handler.cc ProcessRequest: an unknown verb is InvalidArgument (400).
        ("/v1/models/digits_cnn:frobnicate", {"instances": [1]}, 400, "Malformed request"),
    ],
)
def test_errors_use_tf_serving_error_shape(live, path, body, code, message):
    url, _, _ = live
    status, reply = post(url + path, body)
    assert status == code
    assert set(reply) == {"error"} and message in reply["error"]


def test_routes_match_without_regard_to_case_as_tf_serving(live, published):
    url, _, _ = live
    x = published.splits.x_test[:1].tolist()
    status, reply = post(url + "/V1/Models/digits_cnn:predict", {"instances": x})
    assert status == 200 and len(reply["predictions"]) == 1
    # The (?i) regex matches ":PREDICT", but ProcessRequest compares the verb as written.
    status, reply = post(url + "/v1/models/digits_cnn:PREDICT", {"instances": x})
    assert status == 400 and "Malformed request" in reply["error"]
    status, reply = post(url + "/v1/MODELS/Digits_CNN:predict", {"instances": x})
    assert status == 404 and "Digits_CNN" in reply["error"]  # names keep their case


def test_client_raises_server_message(live):
    url, _, _ = live
    with pytest.raises(ServingError, match="Servable not found") as info:
        RestClient(url).predict("nope", [[0]])
    assert info.value.status == 404
    with pytest.raises(ServingError, match="cannot reach"):
        RestClient("http://127.0.0.1:9", timeout=2).predict("digits_cnn", [[0]])


def test_a_new_version_is_picked_up_without_restart(live):
    url, repo, result = live
    shutil.copytree(result.published.path, repo / "digits_cnn" / "2")
    client = RestClient(url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if client.status("digits_cnn")["model_version_status"][0]["version"] == "2":
            break
        time.sleep(0.2)
    assert client.status("digits_cnn")["model_version_status"][0]["version"] == "2"
    assert len(client.predict("digits_cnn", result.splits.x_test[:2].tolist(), version=2)) == 2


def test_a_broken_new_version_leaves_the_served_one_in_place(live):
    url, repo, _ = live
    client = RestClient(url)
    served = client.status("digits_cnn")["model_version_status"][0]["version"]
    broken = repo / "digits_cnn" / str(int(served) + 1)
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"garbage")
    time.sleep(1.0)  # several poll periods
    assert client.status("digits_cnn")["model_version_status"][0]["version"] == served
    assert len(client.predict("digits_cnn", [[[[0.0]] * 8] * 8])) == 1


def test_a_taken_port_is_a_clear_error(live):
    url, repo, _ = live
    port = int(url.rsplit(":", 1)[1])
    with pytest.raises(ServingError, match=rf"cannot listen on 127.0.0.1:{port}.*--rest-port"):
        serverlib.start(
            repo, serverlib.ServerOptions(host="127.0.0.1", rest_port=port, poll_seconds=0)
        )


def test_empty_repository_is_a_clear_error(tmp_path):
    with pytest.raises(ServingError, match=r"no model to serve.*make train"):
        serverlib.start(tmp_path, serverlib.ServerOptions(host="127.0.0.1", rest_port=0))


def test_start_falls_back_to_the_newest_loadable_version(published, tmp_path):
    result = published
    shutil.copytree(result.published.path, tmp_path / "digits_cnn" / "1")
    (tmp_path / "digits_cnn" / "2").mkdir()
    (tmp_path / "digits_cnn" / "2" / "saved_model.pb").write_bytes(b"half-copied by hand")
    rest, store = serverlib.start(
        tmp_path, serverlib.ServerOptions(host="127.0.0.1", rest_port=0, poll_seconds=0)
    )
    try:
        assert store.get("digits_cnn").version == 1
    finally:
        serverlib.stop(rest, store)
