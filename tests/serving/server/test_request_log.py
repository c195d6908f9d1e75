"""Request logging without a server: ``logging_config`` parsing and the writer's queue.

The server-level tests (real gRPC and REST traffic, files read back with
``tf.data``) are in ``test_request_log_server.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kerasforge.serving.errors import ServingError
from kerasforge.serving.server import model_config
from kerasforge.serving.server.metrics import Metrics
from kerasforge.serving.server.model_config import ModelEntry, RequestLogConfig
from kerasforge.serving.server.observers import Exchange
from kerasforge.serving.server.request_log import RequestLog
from kerasforge.serving.server.store import ModelStore

LOGGED = """
model_config_list {{
  config {{
    name: "m" base_path: "/srv/m" model_platform: "tensorflow"
    logging_config {{
      log_collector_config {{ type: "{kind}" filename_prefix: "{prefix}" }}
      sampling_config {{ sampling_rate: {rate} }}
      {custom}
    }}
  }}
}}
"""

LIMITS = """custom_logging_config {{
  [type.googleapis.com/google.protobuf.Struct] {{
    fields {{ key: "{key}" value {{ number_value: {value} }} }}
  }}
}}"""


def config_file(tmp_path: Path, prefix="logs/m", rate="0.5", kind="tfrecord", custom="") -> Path:
    path = tmp_path / "models.config"
    path.write_text(LOGGED.format(prefix=prefix, rate=rate, kind=kind, custom=custom))
    return path


def test_logging_config_parses_with_its_prefix_inside_the_config_folder(tmp_path):
    custom = LIMITS.format(key="max_file_bytes", value=4096)
    (entry,) = model_config.read_config(config_file(tmp_path, custom=custom))
    folder = tmp_path.resolve()
    assert entry.logging == RequestLogConfig(f"{folder}/logs/m", 0.5, max_file_bytes=4096)
    # the one writer of models.config keeps it (a release rewriting the file loses nothing)
    rewritten = tmp_path / "again.config"
    rewritten.write_text(model_config.config_text([entry]))
    assert model_config.read_config(rewritten)[0].logging == entry.logging


def test_no_logging_config_logs_nothing(tmp_path):
    path = tmp_path / "models.config"
    path.write_text('model_config_list { config { name: "m" base_path: "/srv/m" } }')
    assert model_config.read_config(path)[0].logging is None


@pytest.mark.parametrize("prefix", ["/etc/cron.d/m", "../outside/m", "logs/../../m"])
def test_a_prefix_outside_the_config_folder_is_refused_in_one_line(tmp_path, prefix):
    with pytest.raises(ServingError) as info:
        model_config.read_config(config_file(tmp_path, prefix=prefix))
    message = str(info.value)
    assert "\n" not in message
    assert f"filename_prefix {prefix!r} lies outside {tmp_path.resolve()}" in message


def test_a_config_sent_over_the_network_may_not_enable_logging(tmp_path):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2 as pb

    text = config_file(tmp_path).read_text()
    proto = text_format.Parse(text, pb.ModelServerConfig())
    with pytest.raises(ServingError, match="accepted only in the --model_config_file"):
        model_config.entries_from_proto(proto)  # what HandleReloadConfigRequest calls


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"kind": "disk"}, "Cannot find LogCollector::Factory for type: disk"),
        ({"rate": "1.5"}, "sampling_rate must lie in [0, 1]; received 1.5"),
        ({"prefix": ""}, "filename_prefix is empty"),
        ({"custom": LIMITS.format(key="max_files", value=3)}, "'max_files': 3 is not accepted"),
        ({"custom": LIMITS.format(key="queue_size", value=0)}, "'queue_size': 0 is not accepted"),
        (
            {"rate": "1 per_task_sampling_configs { dc: 'aa' sampling_rate: 0 }"},
            "set only sampling_config.sampling_rate",
        ),
    ],
)
def test_bad_logging_configs_are_refused_with_the_fix(tmp_path, change, expected):
    with pytest.raises(ServingError) as info:
        model_config.read_config(config_file(tmp_path, **change))
    assert expected in str(info.value)


def exchange(i: int) -> Exchange:
    x = np.full((1, 2), i, np.float32)
    return Exchange("m", 1, "predict", "predict", "rest", inputs={"x": x}, outputs={"y": x * 2})


def test_a_full_queue_drops_and_counts_and_what_is_queued_is_written(tmp_path):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    config = RequestLogConfig(f"{tmp_path}/logs/m", 1.0, queue_size=1)
    store = ModelStore()
    store.configure([ModelEntry("m", tmp_path / "m", logging=config)])  # no versions: fine
    metrics = Metrics()
    request_log = RequestLog(store, metrics)
    sent = 2000
    for i in range(sent):  # far faster than the writer: the one-slot queue overflows
        request_log.observe(exchange(i))
    request_log.close()
    counted = {
        outcome: metrics.registry.get_sample_value(
            "kerasforge_request_log_records_total", {"model": "m", "outcome": outcome}
        )
        or 0
        for outcome in ("written", "dropped", "failed")
    }
    files = sorted((tmp_path / "logs").glob("m-*.tfrecord"))
    records = [
        prediction_log_pb2.PredictionLog.FromString(r.numpy())
        for r in tf.data.TFRecordDataset([str(f) for f in files])
    ]
    assert counted["dropped"] > 0 and counted["failed"] == 0
    assert counted["written"] == len(records) > 0
    assert counted["written"] + counted["dropped"] == sent
    first = records[0].predict_log
    value = tf.make_ndarray(first.request.inputs["x"])[0, 0]
    np.testing.assert_array_equal(tf.make_ndarray(first.response.outputs["y"]), [[2 * value] * 2])
