"""Dynamic batching: concurrent REST clients against a real server with --enable_batching."""

from __future__ import annotations

import functools
import json
import shutil
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kerasforge.serving.errors import ServingError
from kerasforge.serving.server import embedded as serverlib
from kerasforge.serving.server import predict
from kerasforge.serving.server.batching import BatchingOptions, read_batching_parameters

PATH = "/monitoring/prometheus/metrics"


def serving(published, root, options: BatchingOptions):
    shutil.copytree(published.published.path, root / "digits_cnn" / "1")
    return serverlib.start(
        root,
        serverlib.ServerOptions(
            host="127.0.0.1",
            rest_port=0,
            poll_seconds=0,
            metrics_path=PATH,
            batching=options,
            grpc=serverlib.GrpcOptions(port=0),
        ),
    )


def post(url: str, body: dict) -> tuple[int, dict]:
    """POST ``body`` as JSON; the status and the JSON answer (errors included)."""
    request = urllib.request.Request(url, data=json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def predicts(url: str, rows: np.ndarray) -> tuple[int, dict]:
    """A digits predict of ``rows`` at the server ``url``."""
    return post(f"{url}/v1/models/digits_cnn:predict", {"instances": rows.tolist()})


def concurrently(send, items: list) -> list:
    """``send(item)`` for every item from its own thread, all released at once."""
    results: list = [None] * len(items)
    start = threading.Barrier(len(items))

    def client(i: int) -> None:
        start.wait()
        results[i] = send(items[i])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(items))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def grpc_concurrently(port: int, x: np.ndarray, clients: int) -> list[str]:
    """The status code names of ``clients`` concurrent gRPC Predicts on one channel."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from tests.serving.server.test_grpc_api import predict_request

    codes: list[str] = []
    start = threading.Barrier(clients)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def client() -> None:
            start.wait()
            try:
                stub.Predict(predict_request("digits_cnn", x), timeout=60)
                codes.append("OK")
            except grpc.RpcError as exc:
                codes.append(exc.code().name)

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    return codes


def batch_sizes(url: str) -> tuple[float, float]:
    """(signature calls, rows) of the digits model, from the metrics endpoint."""
    with urllib.request.urlopen(url + PATH, timeout=30) as resp:
        text = resp.read().decode()
    (family,) = [
        f for f in text_string_to_metric_families(text) if f.name == "kerasforge_batch_size"
    ]
    found = {s.name: s.value for s in family.samples if s.labels.get("model") == "digits_cnn"}
    return found["kerasforge_batch_size_count"], found["kerasforge_batch_size_sum"]


def test_32_concurrent_clients_get_the_unbatched_answers_in_merged_calls(published, tmp_path):
    options = BatchingOptions(
        max_batch_size=8,
        batch_timeout_micros=20_000,
        num_batch_threads=1,
        allowed_batch_sizes=(4, 8),
    )
    rest, store = serving(published, tmp_path, options)
    url = f"http://127.0.0.1:{rest.server_port}"
    try:
        x = published.splits.x_test.astype(np.float32)
        requests = [x[i : i + 1 + i % 2] for i in range(31)] + [x[:10]]  # 10 > max: alone
        results = concurrently(functools.partial(predicts, url), requests)
        signature = store.get("digits_cnn").signature(None)
        for rows, (status, body) in zip(requests, results, strict=True):
            assert status == 200, body
            expected = predict.run(signature, {"pixels": rows})
            got = body["predictions"]
            assert [p["class_ids"] for p in got] == expected["class_ids"].tolist()
            np.testing.assert_allclose(
                [p["probabilities"] for p in got], expected["probabilities"], rtol=1e-5, atol=1e-6
            )
        calls, rows = batch_sizes(url)
        assert calls < len(requests), "some requests must have shared a signature call"
        assert rows >= sum(len(r) for r in requests)  # padding adds rows, never drops any
    finally:
        serverlib.stop(rest, store)


def test_a_full_queue_answers_429_never_500(published, tmp_path):
    options = BatchingOptions(max_batch_size=1, max_enqueued_batches=1, num_batch_threads=1)
    rest, store = serving(published, tmp_path, options)
    url = f"http://127.0.0.1:{rest.server_port}"
    try:
        x = published.splits.x_test[:1].astype(np.float32)
        results = concurrently(functools.partial(predicts, url), [x] * 32)
        statuses = [status for status, _ in results]
        assert set(statuses) <= {200, 429} and 429 in statuses and 200 in statuses
        refused = next(body for status, body in results if status == 429)
        assert "queue" in refused["error"] and "retry" in refused["error"]
        codes = grpc_concurrently(rest.grpc_port, x, 32)
        assert set(codes) <= {"OK", "RESOURCE_EXHAUSTED"} and "RESOURCE_EXHAUSTED" in codes
    finally:
        serverlib.stop(rest, store)


def test_batching_parameters_file_in_tf_serving_format(tmp_path):
    path = tmp_path / "batching.config"
    path.write_text(
        "max_batch_size { value: 16 }\nbatch_timeout_micros { value: 500 }\n"
        "num_batch_threads { value: 2 }\nallowed_batch_sizes: 8\nallowed_batch_sizes: 16\n"
    )
    options = read_batching_parameters(path)
    assert options.max_batch_size == 16 and options.batch_timeout_micros == 500
    assert options.num_batch_threads == 2 and options.allowed_batch_sizes == (8, 16)
    assert options.max_enqueued_batches == BatchingOptions().max_enqueued_batches


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_batch_size { value: 0 }", "max_batch_size must be >= 1"),
        ("max_batch_size { value: 8 } allowed_batch_sizes: 4", "must increase and end at"),
        ("pad_variable_length_inputs: true", "not supported"),
        ("max_batch_size: 8", "not a BatchingParameters text proto"),
    ],
)
def test_bad_batching_parameters_say_what_is_expected(tmp_path, text, message):
    path = tmp_path / "batching.config"
    path.write_text(text)
    with pytest.raises(ServingError, match=message):
        read_batching_parameters(path)


def test_the_docker_serving_configs_read_as_the_embedded_server_reads_them():
    from kerasforge.serving.server.metrics import read_monitoring_config
    from tests.conftest import ROOT

    options = read_batching_parameters(ROOT / "docker" / "serving" / "batching_parameters.txt")
    assert options.max_batch_size == 32 and options.num_batch_threads == 2
    monitoring = ROOT / "docker" / "serving" / "monitoring.config"
    assert read_monitoring_config(monitoring) == PATH


def test_classify_requests_are_batched_and_a_bad_one_fails_alone(tmp_path):
    from tests.serving.example_model import save_example_model

    save_example_model(tmp_path / "ex" / "1")
    options = BatchingOptions(max_batch_size=16, batch_timeout_micros=50_000, num_batch_threads=1)
    rest, store = serverlib.start(
        tmp_path,
        serverlib.ServerOptions(
            host="127.0.0.1", rest_port=0, poll_seconds=0, metrics_path=PATH, batching=options
        ),
    )
    base = f"http://127.0.0.1:{rest.server_port}"
    good = [{"examples": [{"x": [float(i), 0.0]}]} for i in range(11)]
    try:
        send = functools.partial(post, f"{base}/v1/models/ex:classify")
        first = concurrently(send, good)
        with urllib.request.urlopen(base + PATH, timeout=30) as resp:
            text = resp.read().decode()
        bad = {"examples": [{"x": "not floats"}]}
        second = concurrently(send, [*good, bad])
    finally:
        serverlib.stop(rest, store)
    for i, (status, body) in enumerate(first + second[:-1]):
        assert status == 200, body
        (scores,) = body["results"]  # softmax over (i, 0): the "cat" score
        i %= len(good)
        assert scores[0][0] == "cat" and scores[0][1] == pytest.approx(1 / (1 + np.exp(-i)))
    assert second[-1][0] == 400 and "x" in second[-1][1]["error"]
    (family,) = [
        f for f in text_string_to_metric_families(text) if f.name == "kerasforge_batch_size"
    ]
    calls = [s.value for s in family.samples if s.name == "kerasforge_batch_size_count"]
    assert sum(calls) < len(good), "some classify requests must have shared a call"


def _doubling():
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    def double(x):
        return {"y": x * 2.0}

    return double.get_concrete_function()


def test_awaited_requests_share_a_batch_and_get_their_own_rows():
    """The REST path's ``run_async``: handlers on one event loop await their batch."""
    import asyncio

    from kerasforge.serving.server.batching import Batcher
    from kerasforge.serving.server.metrics import Metrics

    signature, key = _doubling(), ("m", "1", "serving_default")
    options = BatchingOptions(max_batch_size=4, batch_timeout_micros=50_000, num_batch_threads=1)
    metrics = Metrics()
    batcher = Batcher(options, metrics)
    rows = [np.full((1 + i % 2, 2), i, np.float32) for i in range(6)]

    async def send_all() -> list:
        return await asyncio.gather(
            *(batcher.run_async(key, signature, {"x": r}) for r in rows),
            batcher.run_async(key, signature, {"x": np.zeros((5, 2), np.float32)}),  # > max
        )

    try:
        *answers, too_large = asyncio.run(send_all())
    finally:
        batcher.close()
    assert too_large is None  # the caller runs it alone, off the loop
    for sent, got in zip(rows, answers, strict=True):
        np.testing.assert_array_equal(got["y"], sent * 2.0)
    rows_run = metrics.batch_size.labels(*key)._sum.get()  # over every merged call
    assert rows_run == sum(len(r) for r in rows)


def test_a_cancelled_await_leaves_the_batch_to_finish():
    import asyncio

    from kerasforge.serving.server.batching import Batcher
    from kerasforge.serving.server.metrics import Metrics

    signature, key = _doubling(), ("m", "1", "serving_default")
    options = BatchingOptions(max_batch_size=8, batch_timeout_micros=100_000, num_batch_threads=1)
    batcher = Batcher(options, Metrics())
    x = np.ones((1, 2), np.float32)

    async def cancel_one() -> dict:
        gone = asyncio.ensure_future(batcher.run_async(key, signature, {"x": x}))
        kept = asyncio.ensure_future(batcher.run_async(key, signature, {"x": x + 1}))
        await asyncio.sleep(0.01)
        gone.cancel()  # its client went away while the batch waited
        return await kept

    try:
        answer = asyncio.run(cancel_one())
        np.testing.assert_array_equal(answer["y"], (x + 1) * 2.0)
        np.testing.assert_array_equal(batcher.run(key, signature, {"x": x})["y"], x * 2.0)
    finally:
        batcher.close()
