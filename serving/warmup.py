"""TF Serving warm-up records: ``assets.extra/tf_serving_warmup_requests``.

TF Serving replays these ``PredictionLog`` records when it loads a version,
before the version takes traffic, so the first user request does not pay for
graph initialisation. Built from real raw inputs (training-split examples),
one example per request, at most ``MAX_RECORDS`` (TF Serving reads at most
1000).

Example:
    >>> write_warmup(version_dir, "digits_cnn", "pixels", x_train[:100])
    PosixPath('.../assets.extra/tf_serving_warmup_requests')
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasforge.serving.signatures import DEFAULT_SIGNATURE

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_RECORDS = 100
"""Records written (TF Serving's own limit is 1000)."""


def write_warmup(
    saved_model_dir: Path, model_name: str, input_name: str, examples: np.ndarray
) -> Path:
    """Write one ``PredictRequest`` per example (``serving_default``) as a TFRecord.

    Raises:
        ValueError: no examples.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    examples = np.asarray(examples[:MAX_RECORDS], dtype="float32")
    if len(examples) == 0:
        raise ValueError("warm-up records need at least one real example; received none")
    path = saved_model_dir / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for example in examples:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=DEFAULT_SIGNATURE)
            )
            request.inputs[input_name].CopyFrom(tf.make_tensor_proto(example[np.newaxis]))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return path


def read_warmup(saved_model_dir: Path) -> list[dict[str, np.ndarray]]:
    """The named input tensors of every warm-up request, in order."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    requests = []
    for record in tf.data.TFRecordDataset(str(saved_model_dir / WARMUP_FILE)):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        inputs = log.predict_log.request.inputs
        requests.append({name: tf.make_ndarray(proto) for name, proto in inputs.items()})
    return requests
