"""Warm-up on load: a version replays its TF Serving warm-up records before it serves."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request

import pytest

from kerasforge.serving.export.warmup import WARMUP_FILE, read_warmup
from kerasforge.serving.server.store import ModelStore
from kerasforge.serving.server.warmup import WarmupOptions
from tests.conftest import ServerProcess


@pytest.fixture
def repo(published, tmp_path):
    shutil.copytree(published.published.path, tmp_path / "digits_cnn" / "1")
    return tmp_path


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def wait_for_line(proc: ServerProcess, needle: str, timeout: float = 120) -> str:
    """The first line of the server's log holding ``needle`` (bounded by ``timeout``)."""
    assert proc.proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.proc.stdout.readline()
        if needle in line:
            return line
        if not line and proc.proc.poll() is not None:
            break
    raise AssertionError(f"the server never logged {needle!r}")


@pytest.mark.heavy
def test_a_published_version_is_warmed_before_it_serves_and_a_corrupt_one_never_serves(repo):
    records = len(read_warmup(repo / "digits_cnn" / "1"))
    assert records > 0, "publish writes warm-up records"
    proc = ServerProcess(repo, "--num_request_iterations_for_warmup", "2")
    try:
        ready = get(proc.url + "/readyz")
        assert ready["warmup_requests_replayed"] == {"digits_cnn": {"1": 2 * records}}

        shutil.copytree(repo / "digits_cnn" / "1", repo / "staging")
        (repo / "staging" / WARMUP_FILE).write_bytes(b"\x00not a TFRecord of PredictionLog")
        (repo / "staging").rename(repo / "digits_cnn" / "2")
        line = wait_for_line(proc, "could not load digits_cnn version 2")
        assert "warm-up file" in line and "not a TFRecord of PredictionLog" in line

        status = get(proc.url + "/v1/models/digits_cnn")
        assert [s["version"] for s in status["model_version_status"]] == ["1"]
        body = json.dumps({"instances": [[[[0.0]] * 8] * 8]}).encode()
        request = urllib.request.Request(
            proc.url + "/v1/models/digits_cnn:predict", data=body, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert resp.status == 200 and len(json.loads(resp.read())["predictions"]) == 1
    finally:
        proc.stop()


def test_warmup_can_be_turned_off(repo):
    store = ModelStore(repo, warmup=WarmupOptions(enabled=False))
    (model,) = store.refresh()
    assert model.warmup_requests == 0


def test_a_record_the_model_cannot_run_fails_the_load(published, repo):
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    from kerasforge.serving.export.warmup import WARMUP_FILE

    store = ModelStore(repo)
    (first,) = store.refresh()
    assert first.warmup_requests == len(read_warmup(repo / "digits_cnn" / "1"))
    shutil.copytree(repo / "digits_cnn" / "1", repo / "digits_cnn" / "2")
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits_cnn"
    request.inputs["no_such_input"].CopyFrom(tf.make_tensor_proto(np.zeros((1, 8, 8, 1), "f4")))
    entry = prediction_log_pb2.PredictionLog(predict_log={"request": request})
    with tf.io.TFRecordWriter(str(repo / "digits_cnn" / "2" / WARMUP_FILE)) as writer:
        writer.write(entry.SerializeToString())
    assert store.refresh() == []
    assert list(store.versions("digits_cnn")) == [1]
