"""TF Serving's ``:tensorflow:serving:*`` families, as its exporter writes them (no server).

Expectations come from TF Serving's servables/tensorflow/util.cc (names, label
names, ``Buckets::Exponential(10, 1.8, 33)``), util/prometheus_exporter.cc
(``GetPrometheusMetricName``, ``SerializeScalar``, ``SerializeHistogram``) and the
callers that record them: model_servers/http_server.cc ``ProcessRequest`` and
model_servers/prediction_service_impl.cc.
"""

from __future__ import annotations

import contextlib

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kerasforge.serving.errors import ServingError
from kerasforge.serving.server.metrics import Metrics
from kerasforge.serving.server.tf_serving_metrics import LATENCY_BUCKETS

COUNT, LATENCY = ":tensorflow:serving:request_count", ":tensorflow:serving:request_latency"


def tracked(
    metrics: Metrics, protocol: str, api: str, model: str, error: Exception | None = None, **fields
) -> None:
    """One call through ``Metrics.track``, as the handlers make it, failing with ``error``."""
    with contextlib.suppress(ServingError), metrics.track(protocol, api, model) as call:
        for name, value in fields.items():
            setattr(call, name, value)
        if error is not None:
            raise error


def families(metrics: Metrics) -> dict:
    text = metrics.exposition().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_request_count_is_by_model_name_and_grpc_code_name():
    # util.cc: Counter<2> "/tensorflow/serving/request_count" labels model_name, status
    # (error::Code_Name of the answer's status), recorded for failures too.
    metrics = Metrics()
    for _ in range(3):
        tracked(metrics, "rest", "predict", "m")
    tracked(metrics, "grpc", "classify", "m", ServingError("bad", status=400))
    tracked(metrics, "grpc", "predict", "", ServingError("no model", status=404))
    found = families(metrics)[COUNT]
    assert found.type == "counter"
    counts = {tuple(s.labels.items()): s.value for s in found.samples}
    assert counts == {
        (("model_name", "m"), ("status", "OK")): 3,
        (("model_name", "m"), ("status", "INVALID_ARGUMENT")): 1,
        (("model_name", ""), ("status", "NOT_FOUND")): 1,
    }
    text = metrics.exposition().decode()  # SerializeScalar: no _total, an integer value
    assert f'\n{COUNT}{{model_name="m",status="OK"}} 3\n' in text
    assert f"# TYPE {COUNT} counter\n" in text


def test_request_latency_is_microseconds_of_successful_calls_by_api_and_entrypoint():
    # http_server.cc: RecordRequestLatency(model_name, method, "REST") for HTTP 200 only;
    # prediction_service_impl.cc: api "Predict"/"Classify"/"Regress", entrypoint "GRPC".
    metrics = Metrics()
    tracked(metrics, "rest", "predict", "m")
    tracked(metrics, "rest", "classify", "m")
    tracked(metrics, "grpc", "regress", "m")
    tracked(metrics, "grpc", "predict", "m", ServingError("bad", status=400))
    found = families(metrics)[LATENCY]
    assert found.type == "histogram"
    counts = {
        (s.labels["API"], s.labels["entrypoint"]): s.value
        for s in found.samples
        if s.name == LATENCY + "_count"
    }
    assert counts == {("predict", "REST"): 1, ("classify", "REST"): 1, ("Regress", "GRPC"): 1}
    assert {s.labels["model_name"] for s in found.samples} == {"m"}


def test_latency_buckets_are_tf_servings_exponential_10_1_8_33():
    # util.cc: Buckets::Exponential(10, 1.8, 33); prometheus_exporter.cc writes each
    # limit with StrCat (six significant digits) and the last (DBL_MAX) as +Inf.
    assert len(LATENCY_BUCKETS) == 34
    assert LATENCY_BUCKETS[0] == 10
    assert LATENCY_BUCKETS[32] == pytest.approx(10 * 1.8**32)
    metrics = Metrics()
    tracked(metrics, "rest", "predict", "m")
    buckets = [s for s in families(metrics)[LATENCY].samples if s.name == LATENCY + "_bucket"]
    assert [s.labels["le"] for s in buckets][:4] == ["10", "18", "32.4", "58.32"]
    assert buckets[-1].labels["le"] == "+Inf" and len(buckets) == 34
    assert [s.value for s in buckets] == sorted(s.value for s in buckets)  # cumulative
    assert buckets[-1].value == 1


def test_multi_inference_tasks_are_left_out_of_tf_servings_families():
    # prediction_service_impl.cc MultiInference records neither request_count nor
    # request_latency; kerasforge_requests still counts each task.
    metrics = Metrics()
    tracked(metrics, "grpc", "classify", "m", multi_inference=True)
    found = families(metrics)
    assert found[COUNT].samples == [] and found[LATENCY].samples == []
    assert sum(s.value for s in found["kerasforge_requests"].samples if s.name.endswith("total"))


def test_label_values_are_escaped():
    # prometheus_exporter.cc SanitizeLabelValue escapes backslash and double quote.
    metrics = Metrics()
    tracked(metrics, "rest", "predict", 'a"b\\c')
    (sample,) = families(metrics)[COUNT].samples
    assert sample.labels["model_name"] == 'a"b\\c'
