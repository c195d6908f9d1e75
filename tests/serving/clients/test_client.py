"""The REST and gRPC clients answer alike (``serving/clients/rest_client.py``,
``serving/clients/grpc_client.py``)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from kerasforge.serving.clients.grpc_client import GrpcClient
from kerasforge.serving.clients.rest_client import RestClient
from kerasforge.serving.errors import ServingError
from kerasforge.serving.server import embedded as serverlib
from kerasforge.serving.server.model_config import All, ModelEntry
from kerasforge.serving.server.store import ModelStore
from tests.conftest import ROOT, run_cli
from tests.serving.example_model import save_example_model
from tests.serving.server.test_hardening import build_tiny_module

pytestmark = pytest.mark.heavy  # exports, servers or training in its fixtures


@pytest.fixture(scope="module")
def clients(published, published_once, tmp_path_factory):
    """Both clients on one in-process server: digits (v1, v2 labelled), a tabular model, ``ex``."""
    root = tmp_path_factory.mktemp("clients")
    tabular = published_once(ROOT / "configs" / "diabetes_mlp.yaml", [], tflite=False)
    for version in (1, 2):
        shutil.copytree(published.published.path, root / "digits_cnn" / str(version))
    shutil.copytree(tabular.published.path, root / "diabetes_mlp" / "1")
    for version in (1, 2):
        save_example_model(root / "ex" / str(version), version)
    build_tiny_module(root / "tiny" / "1")
    store = ModelStore()
    store.configure(
        [
            ModelEntry("digits_cnn", root / "digits_cnn", All(), {"stable": 1, "canary": 2}),
            ModelEntry("diabetes_mlp", root / "diabetes_mlp", All()),
            ModelEntry("ex", root / "ex", All(), {"stable": 1, "canary": 2}),
            ModelEntry("tiny", root / "tiny", All()),
        ]
    )
    rest = serverlib.start_store(
        store,
        serverlib.ServerOptions(rest_port=0, grpc=serverlib.GrpcOptions(port=0), poll_seconds=0),
    )
    grpc_client = GrpcClient(f"127.0.0.1:{rest.grpc_port}", timeout=20)
    yield RestClient(f"http://127.0.0.1:{rest.server_port}", timeout=20), grpc_client, tabular
    grpc_client.close()
    serverlib.stop(rest, store)


def both(clients, method: str, *args, **kwargs) -> list:
    """The same call through REST and gRPC."""
    return [getattr(client, method)(*args, **kwargs) for client in clients[:2]]


def test_predictions_agree_over_both_protocols(clients, published):
    x = published.splits.x_test[:3]
    rest, grpc = both(clients, "predict", "digits_cnn", x.tolist())
    assert rest == grpc
    assert [p["class_ids"] for p in rest] == published.model.predict(x, verbose=0).argmax(
        -1
    ).tolist()
    assert isinstance(rest[0]["classes"], str)  # string outputs come back as text


def test_image_bytes_and_named_features_agree(clients, published):
    import tensorflow as tf

    images = published.splits.x_test[:2].astype("uint8")
    pngs = [tf.io.encode_png(image).numpy() for image in images]
    rest, grpc = both(clients, "predict", "digits_cnn", pngs, signature_name="serving_bytes")
    assert rest == grpc and len(rest) == 2
    names = list(clients[2].splits.info.feature_names)
    rows = [dict(zip(names, map(float, row), strict=True)) for row in clients[2].splits.x_test[:2]]
    rest, grpc = both(clients, "predict", "diabetes_mlp", rows, signature_name="serving_features")
    assert rest == grpc and len(rest) == 2


def test_string_inputs_and_outputs_agree_over_both_protocols(clients):
    texts = ["the dog chased a cat", "3 March 2021", "caf\u00e9"]
    rest, grpc = both(clients, "predict", "tiny", texts, signature_name="echo")
    assert rest == grpc
    assert [p["echo_text"] for p in rest] == texts  # text outputs as text
    assert all(set(p["echo_bytes"]) == {"b64"} for p in rest)  # *_bytes outputs as b64


def test_versions_and_labels_pick_the_same_model(clients):
    x = [[1.0, 2.0]]
    for choice, factor in (({"label": "canary"}, 2), ({"version": 1}, 1), ({}, 2)):
        rest, grpc = both(clients, "predict", "ex", x, signature_name="predict", **choice)
        assert rest == grpc == [[1.0 * factor, 2.0 * factor]]
    rest, grpc = both(clients, "status", "ex", label="stable")
    assert rest == grpc
    assert rest["model_version_status"][0]["version"] == "1"
    rest, grpc = both(clients, "metadata", "digits_cnn", version=2)
    assert rest == grpc
    assert "serving_bytes" in rest["metadata"]["signature_def"]["signature_def"]


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"name": "nope"}, 404),
        ({"name": "ex", "label": "nope"}, 400),
        ({"name": "ex", "version": 9}, 404),
    ],
)
def test_errors_carry_the_same_status(clients, kwargs, status):
    for client in clients[:2]:
        with pytest.raises(ServingError) as info:
            client.predict(instances=[[1.0, 2.0]], signature_name="predict", **kwargs)
        assert info.value.status == status


def test_a_version_and_a_label_together_are_refused(clients):
    for client in clients[:2]:
        with pytest.raises(ServingError, match="not both"):
            client.predict("ex", [[1.0, 2.0]], version=1, label="stable")


def test_grpc_client_names_a_missing_signature_and_an_unreachable_server(clients):
    with pytest.raises(ServingError, match=r"no signature 'nope'.*serving_default"):
        clients[1].predict("ex", [[1.0, 2.0]], signature_name="nope")
    with GrpcClient("127.0.0.1:9", timeout=2) as client, pytest.raises(ServingError) as info:
        client.status("ex")
    assert info.value.status in (503, 504) and "is the server running" in str(info.value)


def test_predict_command_sends_images_over_rest_and_grpc(server, published, tmp_path):
    import tensorflow as tf

    for i, image in enumerate(published.splits.x_test[:2]):
        (tmp_path / f"{i}.png").write_bytes(tf.io.encode_png(image.astype("uint8")).numpy())
    images = [str(tmp_path / "0.png"), str(tmp_path / "1.png")]
    via_rest = run_cli("predict", "--url", server.url, *images)
    address = f"127.0.0.1:{server.grpc_port}"
    version = str(published.published.version)
    grpc_flags = ["--grpc", "--grpc-address", address, "--version", version]
    via_grpc = run_cli("predict", *grpc_flags, *images)
    assert via_rest.returncode == 0, via_rest.stderr
    assert via_grpc.returncode == 0, via_grpc.stderr
    assert json.loads(via_rest.stdout) == json.loads(via_grpc.stdout)
    assert len(json.loads(via_rest.stdout)["predictions"]) == 2
    both_choices = run_cli("predict", "--version", "1", "--label", "stable", images[0])
    assert both_choices.returncode == 2 and "not allowed with argument" in both_choices.stderr


def test_columns_cast_to_the_signature_dtypes():
    from kerasforge.serving.clients.grpc_client import columns

    inputs = {"a": "DT_FLOAT", "s": "DT_STRING"}
    arrays = columns([{"a": 1, "s": "x"}, {"a": 2, "s": b"y"}], inputs, "f")
    assert arrays["a"].dtype == np.float32 and arrays["s"].tolist() == [b"x", b"y"]
    with pytest.raises(ServingError, match=r"takes inputs \['a', 's'\]"):
        columns([{"a": 1}], inputs, "f")
    with pytest.raises(ServingError, match="send each instance as an object"):
        columns([[1.0]], inputs, "f")
