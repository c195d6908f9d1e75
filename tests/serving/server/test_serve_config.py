"""`kerasforge serve --model_config_file` run as tensorflow_model_server, over HTTP and gRPC.

One server process serves a TF Serving config of two models (``ex``: three
versions under ``all {}`` with labels ``stable`` -> 1 and ``canary`` -> 2;
``digits_cnn``: ``specific { versions: 1 versions: 3 }`` of three on disk).
Requests go through REST (``:classify``, ``:regress``, ``:predict``, status,
metadata; by latest, version and label) and through the official gRPC stubs.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest

from tests.conftest import ServerProcess, run_cli
from tests.serving.example_model import save_example_model

pytestmark = pytest.mark.heavy  # exports, servers or training in its fixtures

CONFIG = """
model_config_list {{
  config {{
    name: "ex"
    base_path: "{root}/ex"
    model_platform: "tensorflow"
    model_version_policy {{ all {{}} }}
    version_labels {{ key: "stable" value: 1 }}
    version_labels {{ key: "canary" value: 2 }}
  }}
  config {{
    name: "digits_cnn"
    base_path: "{root}/digits_cnn"
    model_platform: "tensorflow"
    model_version_policy {{ specific {{ versions: 1 versions: 3 }} }}
    version_labels {{ key: "stable" value: 3 }}
  }}
}}
"""


def call(url: str, body=None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def repository(published, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tfs_repository")
    for version in (1, 2, 3):
        save_example_model(root / "ex" / str(version), version)
        shutil.copytree(published.published.path, root / "digits_cnn" / str(version))
    (root / "models.config").write_text(CONFIG.format(root=root))
    return root


@pytest.fixture(scope="module")
def served(repository):
    proc = ServerProcess(
        None,
        "--model_config_file",
        str(repository / "models.config"),
        "--enable_model_config_reload",  # its tests reload over gRPC
    )
    yield proc
    proc.stop()


def test_classify_and_regress_by_latest_version_and_label(served):
    models = f"{served.url}/v1/models"
    two = {"examples": [{"x": [0.0, 0.0]}, {"x": [0.0, 2.0]}]}
    status, body = call(f"{models}/ex:classify", two)
    assert status == 200, body
    assert [[label for label, _ in row] for row in body["results"]] == [["cat", "dog"]] * 2
    assert body["results"][0] == [["cat", 0.5], ["dog", 0.5]]
    assert body["results"][1][1][1] == pytest.approx(0.8807971)

    one = {"signature_name": "regress", "examples": [{"x": [1.0, 2.5]}]}
    answers = {
        "ex:regress": 5.5,  # latest: version 3
        "ex/versions/1:regress": 3.5,
        "ex/labels/stable:regress": 3.5,
        "ex/labels/canary:regress": 4.5,
    }
    for path, expected in answers.items():
        assert call(f"{models}/{path}", one) == (200, {"results": [expected]}), path

    # context features join every example; strings and {"b64": ...} become bytes features
    with_context = {
        "signature_name": "regress",
        "context": {"x": [1.0, 1.0]},
        "examples": [{"caption": "seaside"}, {"image": {"b64": "aW1hZ2U="}, "n": 3}],
    }
    assert call(f"{models}/ex/labels/stable:regress", with_context) == (
        200,
        {"results": [2.0, 2.0]},
    )
    predict = {"signature_name": "predict", "instances": [[1.0, 2.0]]}
    assert call(f"{models}/ex/labels/canary:predict", predict) == (
        200,
        {"predictions": [[2.0, 4.0]]},
    )


@pytest.mark.parametrize(
    ("path", "body", "code", "message"),
    [
        ("ex/labels/nope:regress", {"examples": [{}]}, 400, "Unrecognized servable version label"),
        ("ex:classify", {"instances": [1]}, 400, "key 'examples' is expected and was not found"),
        ("ex:classify", {"examples": {"x": 1}}, 400, "Expecting 'examples' value to be an list"),
        ("ex:classify", {"examples": []}, 400, "'examples' value is an empty array"),
        ("ex:classify", {"examples": [[1.0]]}, 400, "Example must be JSON object but got JSON"),
        ("ex:classify", {"examples": [{"x": [1, 2.5]}]}, 400, "expecting type: int64"),
        ("ex:classify", {"examples": [{"x": None}]}, 400, "unexpected JSON type: Null"),
        ("ex:classify", {"examples": [{"x": [1, 2]}]}, 400, "Data types don't match"),
        ("ex:classify", {"examples": [{"x": 2**63}]}, 400, "Only int64_t is supported"),
        # regressor.cc PreProcessRegression: without --enable_signature_method_name_check the
        # classify signature (two outputs) is refused for its outputs, not its method name
        ("ex:regress", {"examples": [{}]}, 400, "Expected one output Tensor."),
        ("ex:classify", {"signature_name": 3, "examples": [{}]}, 400, "must be a string value"),
        ("ex/versions/9:classify", {"examples": [{}]}, 404, "Specific(ex, 9)"),
        ("digits_cnn/versions/2:predict", {"instances": [1]}, 404, "Specific(digits_cnn, 2)"),
        ("nope:classify", {"examples": [{}]}, 404, "Servable not found"),
    ],
)
def test_errors_are_tf_servings(served, path, body, code, message):
    status, answer = call(f"{served.url}/v1/models/{path}", body)
    assert status == code and message in answer["error"], answer


def test_status_and_metadata_by_label(served):
    models = f"{served.url}/v1/models"
    status, body = call(f"{models}/digits_cnn")
    assert [s["version"] for s in body["model_version_status"]] == ["3", "1"]
    status, body = call(f"{models}/ex/labels/canary")
    assert status == 200 and [s["version"] for s in body["model_version_status"]] == ["2"]
    status, body = call(f"{models}/digits_cnn/labels/stable/metadata")
    assert status == 200 and body["model_spec"]["version"] == "3"
    status, body = call(f"{models}/ex/labels/beta")
    assert status == 400 and body["error"] == "Unrecognized servable version label: beta"
    assert call(f"{served.url}/readyz")[0] == 200


def test_grpc_spec_by_label_through_the_official_stubs(served):
    from tensorflow_serving.apis import (
        get_model_status_pb2,
        model_service_pb2_grpc,
        prediction_service_pb2_grpc,
        regression_pb2,
    )

    with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = regression_pb2.RegressionRequest()
        request.model_spec.name, request.model_spec.signature_name = "ex", "regress"
        request.model_spec.version_label = "canary"
        example = request.input.example_list.examples.add()
        example.features.feature["x"].float_list.value.extend([1.0, 2.5])
        response = stub.Regress(request, timeout=30)
        assert response.model_spec.version.value == 2
        assert [r.value for r in response.result.regressions] == [4.5]

        request.model_spec.version_label = "nope"
        with pytest.raises(grpc.RpcError) as info:
            stub.Regress(request, timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.details() == "Unrecognized servable version label: nope"

        status = get_model_status_pb2.GetModelStatusRequest()
        status.model_spec.name, status.model_spec.version_label = "digits_cnn", "stable"
        reply = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(status, timeout=30)
        assert [s.version for s in reply.model_version_status] == [3]


def reload(channel, text: str):
    from google.protobuf import text_format
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc
    from tensorflow_serving.config import model_server_config_pb2

    request = model_management_pb2.ReloadConfigRequest()
    request.config.CopyFrom(text_format.Parse(text, model_server_config_pb2.ModelServerConfig()))
    return model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(
        request, timeout=120
    )


def test_handle_reload_config_request_moves_a_label_or_refuses_whole(served, repository):
    moved = CONFIG.format(root=repository).replace(
        'key: "canary" value: 2', 'key: "canary" value: 3'
    )
    one = {"signature_name": "regress", "examples": [{"x": [1.0, 2.5]}]}
    with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
        assert reload(channel, moved).status.error_code == 0
        canary = f"{served.url}/v1/models/ex/labels/canary:regress"
        assert call(canary, one) == (200, {"results": [5.5]})

        missing = moved.replace('key: "stable" value: 3', 'key: "stable" value: 2')
        with pytest.raises(grpc.RpcError) as info:
            reload(channel, missing)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "assign label to version 2 of model digits_cnn" in info.value.details()
        body = call(f"{served.url}/v1/models/digits_cnn/labels/stable")[1]
        assert [s["version"] for s in body["model_version_status"]] == ["3"]  # unchanged

        with pytest.raises(grpc.RpcError) as info:
            reload(channel, "custom_model_config {}")
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_the_config_file_is_polled_and_a_bad_one_keeps_the_last(repository, tmp_path):
    config = tmp_path / "models.config"
    first = CONFIG.format(root=repository).replace("all {}", "specific { versions: 1 }")
    config.write_text(first.replace('version_labels { key: "canary" value: 2 }', ""))
    proc = ServerProcess(
        None, "--model_config_file", str(config), "--model_config_file_poll_wait_seconds", "0.3"
    )
    try:
        canary = f"{proc.url}/v1/models/ex/labels/canary"
        assert call(canary)[0] == 400
        config.write_text(first.replace("versions: 1 }", "versions: 1 versions: 2 }", 1))
        assert wait_for_line(proc, "applied the model config")
        assert [s["version"] for s in call(canary)[1]["model_version_status"]] == ["2"]
        config.write_text("model_config_list { nonsense }")
        assert wait_for_line(proc, "PollFilesystemAndReloadConfig failed")
        assert call(canary)[0] == 200
    finally:
        proc.stop()


def wait_for_line(proc: ServerProcess, text: str) -> bool:
    """Read the server's log until a line holds ``text`` (False if it exits first)."""
    assert proc.proc.stdout is not None
    return any(text in line for line in proc.proc.stdout)


def test_model_name_and_base_path_serve_one_model(repository):
    """Also: TF Serving's thread flags reach TensorFlow (session parallelism: both pools)
    and the request pools."""
    threads = ["--tensorflow_session_parallelism", "1"]
    threads += ["--rest_api_num_threads", "3", "--grpc_max_threads", "2"]
    proc = ServerProcess(
        None, "--model_name", "ex", "--model_base_path", str(repository / "ex"), *threads
    )
    try:
        assert "TensorFlow threads: intra-op 1, inter-op 1\n" in proc.startup
        assert "Request threads: REST 3, gRPC 2\n" in proc.startup
        body = call(f"{proc.url}/v1/models/ex")[1]
        assert [s["version"] for s in body["model_version_status"]] == ["3"]
        one = {"signature_name": "regress", "examples": [{"x": [1.0, 2.5]}]}
        assert call(f"{proc.url}/v1/models/ex:regress", one) == (200, {"results": [5.5]})
    finally:
        proc.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model_config_file", "x.config", "--model_base_path", "/m"], "cannot be combined"),
        (["--model_name", "m"], "--model_name needs --model_base_path"),
        (["--model_base_path", "models/m"], "to have an absolute path or URI"),
        (["--model_config_file", "/nonexistent/models.config"], "cannot read --model_config_file"),
        (
            [f"--tensorflow_{kind}_parallelism=1" for kind in ("session", "intra_op", "inter_op")],
            "You cannot configure all",
        ),
    ],
)
def test_bad_model_sources_exit_2_with_one_line(args, message):
    proc = run_cli("serve", "--rest-port", "0", "--port", "0", *args, timeout=120)
    assert proc.returncode == 2, proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert message in line and "Traceback" not in proc.stderr


def test_a_label_on_a_missing_version_stops_start_up(repository, tmp_path):
    config = tmp_path / "models.config"
    config.write_text(CONFIG.format(root=repository).replace("value: 3", "value: 2"))
    proc = run_cli("serve", "--rest-port", "0", "--port", "0", "--model_config_file", str(config))
    assert proc.returncode == 2
    assert "Request to assign label to version 2 of model digits_cnn" in proc.stderr
    assert "--allow_version_labels_for_unavailable_models" in proc.stderr
