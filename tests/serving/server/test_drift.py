"""Drift tracking's parts without a server: the route, the gauges, reading tf.Examples back."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import classification_pb2

from kerasforge.serving import tf_example
from kerasforge.serving.card import ExampleFeature, ModelCard, SignatureInfo, TensorInfo
from kerasforge.serving.errors import ServingError
from kerasforge.serving.monitoring.drift import drift_report
from kerasforge.serving.monitoring.statistics import TrainingStatistics, summarize_like
from kerasforge.serving.server import rest_routes
from kerasforge.serving.server.drift import tracked_inputs
from kerasforge.serving.server.drift_gauges import DriftGauges
from kerasforge.serving.server.metrics import Metrics
from kerasforge.serving.server.observers import Exchange
from kerasforge.serving.server.rest_bodies import drift_body


@pytest.mark.parametrize(
    ("path", "version", "label"),
    [
        ("/v1/models/m/drift", None, None),
        ("/v1/models/m/versions/2/drift", 2, None),
        ("/v1/models/m/labels/stable/drift", None, "stable"),
    ],
)
def test_drift_routes_name_the_model_and_version(path, version, label):
    assert rest_routes.parse("GET", path) == rest_routes.Route("drift", "m", version, label)


def test_a_posted_drift_is_malformed_as_tf_serving_says():
    # model_servers/http_rest_api_handler.cc: a POST that is not :predict/:classify/:regress
    with pytest.raises(ServingError, match=r"Malformed request: POST /v1/models/m/drift"):
        rest_routes.parse("POST", "/v1/models/m/drift")


def test_drift_off_answers_404_with_the_flag_to_change():
    with pytest.raises(ServingError, match=r"--drift_window_size 0") as caught:
        drift_body(None, object())  # type: ignore[arg-type]
    assert caught.value.status == 404


def statistics(rows: int = 500) -> TrainingStatistics:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (rows, 2))
    outputs = {"class_ids": rng.integers(0, 3, rows)}
    return TrainingStatistics.compute("classification", "tabular", x, outputs,
                                      feature_names=["a", "b"])  # fmt: skip


def series(registry) -> dict[tuple, float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, *sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("kerasforge_drift") and not s.name.endswith("_created")
    }


def test_gauges_follow_a_report_and_go_with_the_version():
    training = statistics()
    shifted = np.full(200, 3.0)  # training's columns are N(0, 1)
    live = training.model_copy(
        update={
            "rows": 200,
            "inputs": summarize_like({"a": shifted, "b": shifted}, training.inputs),
        }
    )
    metrics = Metrics()
    gauges = DriftGauges(metrics.registry)
    gauges.set("m", 1, drift_report(training, live))
    found = series(metrics.registry)
    key = ("model", "m"), ("version", "1")
    assert found[("kerasforge_drift_verdict", ("direction", "input"), ("feature", "a"), *key)] == 2
    assert found[("kerasforge_drift_window_rows", *key)] == 200
    assert found[("kerasforge_drift_psi", ("direction", "input"), ("feature", "a"), *key)] > 0.25
    chi2 = [k for k in found if k[0] == "kerasforge_drift_chi2_p_value"]
    assert chi2 and all(("feature", "class_ids") in k for k in chi2)  # categories only
    gauges.remove("m", 1)
    assert series(metrics.registry) == {}


def card_with_examples() -> ModelCard:
    pixels = TensorInfo(name="pixels", dtype="float32", shape=[None, 2, 2, 1])
    examples = TensorInfo(name="inputs", dtype="string", shape=[None])
    feature = ExampleFeature(key="pixels", dtype="float", shape=[4])
    return ModelCard(
        task="classification",
        architecture="tiny",
        signatures={
            "serving_default": SignatureInfo(inputs=[pixels], outputs=[]),
            "classify": SignatureInfo(inputs=[examples], outputs=[], example_features=[feature]),
        },
    )


def test_classify_examples_are_read_back_into_the_raw_layout():
    card = card_with_examples()
    x = np.arange(12, dtype="float32").reshape(3, 2, 2, 1)
    request = classification_pb2.ClassificationRequest()
    request.input.example_list.examples.extend(
        tf_example.build(x, card.signature("classify").example_features)
    )
    training = TrainingStatistics(task="classification", input_kind="image", rows=0)
    exchange = Exchange("m", 1, "classify", "classify", "grpc", request=request, outputs={})
    np.testing.assert_array_equal(tracked_inputs(card, training, exchange), x)
    rest = Exchange("m", 1, "classify", "classify", "rest", request=request.input, outputs={})
    np.testing.assert_array_equal(tracked_inputs(card, training, rest), x)
    predict = Exchange("m", 1, "serving_default", "predict", "rest", inputs={"pixels": x})
    assert tracked_inputs(card, training, predict) is x
    other = Exchange("m", 1, "serving_bytes", "predict", "rest", inputs={"image_bytes": x})
    assert tracked_inputs(card, training, other) is None
