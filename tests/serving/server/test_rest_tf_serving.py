"""The REST API answers as TF Serving's does: routes, CORS, numbers, row format, timeout.

Each expectation names the TF Serving file it comes from. Requests go over real
loopback HTTP with urllib, as curl sends them (``curl -d`` posts
``application/x-www-form-urlencoded``, which TF Serving ignores).
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from kerasforge.serving.errors import ServingError
from kerasforge.serving.server import embedded as serverlib
from kerasforge.serving.server import json_tensor
from kerasforge.serving.server.batching import BatchingOptions
from kerasforge.serving.server.predict import format_response
from kerasforge.serving.server.rest_api import Limits
from kerasforge.serving.server.store import ModelStore
from tests.serving.example_model import save_example_model

CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "POST, GET",
    "access-control-allow-headers": "Content-Type",
}


def call(url: str, method: str = "GET", body: bytes | None = None, headers=None):
    """(status, lower-cased headers, body) of one request, as curl sends it."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def predict_body(instances) -> bytes:
    return json.dumps({"signature_name": "predict", "instances": instances}).encode()


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("rest_tf_serving")
    save_example_model(root / "ex" / "1")
    return root


@pytest.fixture(scope="module")
def url(repo):
    store = ModelStore(repo)
    store.refresh()
    rest = serverlib.serve_store(store, serverlib.ServerOptions(rest_port=0, cors=True))
    yield f"http://127.0.0.1:{rest.server_port}"
    serverlib.stop(rest, store)


# http_rest_api_util.cc kPredictionApiGegex / kModelStatusApiRegex, matched in ParseModelInfo;
# http_rest_api_handler.cc ProcessRequest answers any other method or path under /v1/ with
# "Malformed request" (InvalidArgument: 400, http_server.cc ToHTTPStatusCode);
# http_rest_api_handler_test.cc kPathRegex / UnsupportedApiCalls hold the same cases.
@pytest.mark.heavy
@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/v1/models", "Missing model name"),
        ("GET", "/v1/models/ex:predict", "Malformed request"),
        ("POST", "/v1/models/ex/metadata", "Malformed request"),
        ("POST", "/v1/models/ex:foo", "Malformed request"),
        ("POST", "/v1/models", "Malformed request"),
        ("GET", "/v1/foo", "Malformed request"),
        ("GET", "/v1/models/ex/", "Malformed request"),
        ("POST", "/v1/models/ex/versions/HELLO:regress", "Malformed request"),
        ("POST", "/v1/models/ex/versions/1/labels/a:regress", "Malformed request"),
        ("POST", "/v1/models/ex:PREDICT", "Malformed request"),  # verb compared as written
        ("PUT", "/v1/models/ex:predict", "Malformed request"),
        ("POST", f"/v1/models/ex/versions/{1 << 63}:predict", "Failed to convert version"),
    ],
)
def test_malformed_calls_are_400s_in_tf_servings_words(url, method, path, message):
    status, headers, body = call(url + path, method, b"{}" if method != "GET" else None)
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert message in json.loads(body)["error"]


@pytest.mark.heavy
def test_paths_outside_v1_are_not_the_apis_and_case_follows_tf_serving(url):
    # http_server.cc RestApiRequestDispatcher: only "(?i)/v1/.*" reaches the handler.
    assert call(url + "/v2/models/ex")[0] == 404
    # The regexes are (?i); "metadata" is then compared as written: a status request.
    status, _, body = call(url + "/V1/MODELS/ex/METADATA")
    assert status == 200 and "model_version_status" in json.loads(body)
    assert call(url + f"/v1/models/ex/versions/{(1 << 63) - 1}")[0] == 404  # an int64: looked up


@pytest.mark.heavy
def test_curl_dash_d_predict_as_in_docker_md(url):
    # g3doc/docker.md: curl -d '{"instances": ...}' -X POST .../v1/models/<name>:predict;
    # curl -d sends application/x-www-form-urlencoded (urllib's default for data= too).
    status, headers, body = call(url + "/v1/models/ex:predict", "POST", predict_body([[1.0, 2.5]]))
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"predictions": [[1.0, 2.5]]}


@pytest.mark.heavy
def test_a_large_whole_number_is_taken_by_a_float_input(url):
    # json_tensor_test.cc FloatTensorWithPrecisionLoss: 1435774380 and 1435774380.0 alike,
    # rounded to float; FloatTensorThatExceedsMaxReturnsInf: past float's range, infinity.
    for number in (1435774380, 1435774380.0):
        status, _, body = call(url + "/v1/models/ex:predict", "POST", predict_body([[number, 1]]))
        assert status == 200
        # Written in float32's shortest form (1435774300.0): the same float32.
        assert np.float32(json.loads(body)["predictions"][0][0]) == np.float32(1435774380)
    status, _, body = call(url + "/v1/models/ex:predict", "POST", predict_body([[1e300, -1e300]]))
    assert status == 200 and json.loads(body)["predictions"] == [[math.inf, -math.inf]]


@pytest.mark.heavy
def test_cors_headers_on_every_v1_answer_and_the_preflight(url):
    # http_rest_api_util.cc AddCORSHeaders, added by http_server.cc ProcessRequest.
    for method, path in [("GET", "/v1/models/ex"), ("GET", "/v1/models/nope")]:
        _, headers, _ = call(url + path, method)
        assert {k: headers.get(k) for k in CORS} == CORS
    # http_server.cc: OPTIONS is OK with an http(s) Origin, else FailedPrecondition (400).
    status, headers, body = call(
        url + "/v1/models/ex:predict", "OPTIONS", headers={"Origin": "https://app.example"}
    )
    assert status == 200 and body == b"" and headers["access-control-allow-origin"] == "*"
    status, _, body = call(url + "/v1/models/ex:predict", "OPTIONS")
    assert status == 400 and "Origin header is missing" in json.loads(body)["error"]


@pytest.mark.heavy
def test_no_cors_headers_unless_enabled(repo):
    store = ModelStore(repo)
    store.refresh()
    rest = serverlib.serve_store(store, serverlib.ServerOptions(rest_port=0))
    try:
        _, headers, _ = call(f"http://127.0.0.1:{rest.server_port}/v1/models/ex")
    finally:
        serverlib.stop(rest, store)
    assert not set(CORS) & set(headers)


@pytest.mark.heavy
def test_a_call_past_the_rest_timeout_is_a_504_and_keeps_its_slot_until_it_ends(repo):
    # http_rest_api_handler.cc: --rest_api_timeout_in_ms is the call's deadline;
    # DeadlineExceeded is 504 (http_server.cc ToHTTPStatusCode). A batch that waits 2 s
    # for company makes the call slow.
    store = ModelStore(repo)
    store.refresh()
    options = serverlib.ServerOptions(
        rest_port=0,
        poll_seconds=0,
        limits=Limits(call_timeout_s=0.2, max_inflight=1),
        batching=BatchingOptions(max_batch_size=8, batch_timeout_micros=2_000_000),
    )
    rest = serverlib.start_store(store, options)
    predict = f"http://127.0.0.1:{rest.server_port}/v1/models/ex:predict"
    try:
        status, _, body = call(predict, "POST", predict_body([[1.0, 2.0]]))
        assert status == 504 and "--rest_api_timeout_in_ms" in json.loads(body)["error"]
        status, _, body = call(predict, "POST", predict_body([[1.0, 2.0]]))
        assert status == 429, "the abandoned call still holds the only model slot"
        deadline = time.monotonic() + 30
        while rest.api.inflight and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rest.api.inflight == 0, "the abandoned call ended and gave its slot back"
    finally:
        serverlib.stop(rest, store)


# json_tensor.cc MakeRowFormatJsonFromTensors: every output needs a batch dimension, all
# the same (json_tensor_test.cc: "no shape information", "inconsistent batch size").
def test_row_format_over_a_scalar_output_is_refused():
    with pytest.raises(ServingError, match="Tensor name: total has no shape information"):
        format_response({"total": np.float32(3.0)}, row_format=True)
    with pytest.raises(ServingError, match="no shape information"):
        format_response({"total": np.float32(3.0), "y": np.ones((2, 1))}, row_format=True)
    assert format_response({"total": np.float32(3.0)}, row_format=False)["outputs"] == 3.0


def test_row_format_over_different_batch_sizes_is_refused():
    with pytest.raises(ServingError, match="inconsistent batch size: 3 expecting: 2"):
        format_response({"a": np.ones((2, 1)), "b": np.ones((3, 1))}, row_format=True)


def test_numbers_for_float_and_integer_inputs():
    # json_tensor.cc AddValueToTensor: DT_FLOAT/DT_DOUBLE take any number (GetFloat);
    # DT_INT64 needs IsInt64; RapidJSON reads an integer past 64 bits as a double.
    floats = json_tensor.to_array([1435774380, 0.5], "float32")
    assert floats.dtype == np.float32 and floats.tolist() == [np.float32(1435774380), 0.5]
    assert json_tensor.to_array([2**70], "float64")[0] == float(2**70)
    assert np.isinf(json_tensor.to_array([1e39], "float32")[0])
    with pytest.raises(ServingError, match="not of expected type: int64"):
        json_tensor.to_array([2**70], "int64")
    with pytest.raises(ServingError, match="Number too big to be stored in double"):
        json_tensor.loads(b'{"instances": [' + b"9" * 500 + b"]}")
