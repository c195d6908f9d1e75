"""TF Serving warm-up records: ``assets.extra/tf_serving_warmup_requests``.

Written at publish (:func:`write_warmup`) and replayed by the embedded server
when it loads a version (``server/warmup.py``, ``warm_up``), through the request path REST and
gRPC use, before the version serves: Predict, Classify and Regress logs, each
``iterations`` times, as ``tensorflow_model_server --enable_model_warmup``.
A record that cannot be read or run fails the load of that version (the
version before it keeps serving).

TF Serving replays these ``PredictionLog`` records when it loads a version,
before the version takes traffic, so the first user request does not pay for
graph initialisation. Built from real raw inputs (training-split examples),
one example per request: ``MAX_RECORDS`` for ``serving_default`` and
``RECORDS_PER_SIGNATURE`` for every other signature, each in that signature's
own request format (``input_forms.request_inputs``): ``PredictLog`` for predict
signatures, ``ClassifyLog`` / ``RegressLog`` with tf.Examples for ``classify``
/ ``regress``. TF Serving reads at most 1000.

Example:
    >>> write_warmup(version_dir, "digits_cnn", card.signatures, x_train[:100])
    PosixPath('.../assets.extra/tf_serving_warmup_requests')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..card import SignatureInfo
from ..errors import ServingError
from ..wire import CLASSIFY_METHOD, REGRESS_METHOD
from .input_forms import request_inputs
from .signatures import DEFAULT_SIGNATURE, EXAMPLES_INPUT, PIXELS_SIGNATURE
from .text import TOKENS_SIGNATURE

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_RECORDS = 100
"""Records written for ``serving_default`` (TF Serving's own limit is 1000 in all)."""
RECORDS_PER_SIGNATURE = 5
"""Records written for each other signature."""


class WarmupRequest(NamedTuple):
    """One replayable request: the signature it calls and its named input arrays."""

    signature: str
    inputs: dict[str, np.ndarray]


MAX_REPLAYED = 1000
"""Most records a version may hold; more fail its load, as in TF Serving."""


def write_warmup(
    saved_model_dir: Path,
    model_name: str,
    signatures: dict[str, SignatureInfo],
    examples: np.ndarray,
) -> Path:
    """Write one request per example and signature (``serving_default`` first) as a TFRecord.

    Raises:
        ValueError: no examples.
    """
    import tensorflow as tf

    text = np.asarray(examples).dtype.kind in "OSU"
    examples = np.asarray(examples[:MAX_RECORDS], dtype=object if text else "float32")
    if len(examples) == 0:
        raise ValueError("warm-up records need at least one real example; received none")
    path = saved_model_dir / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = signatures.get(PIXELS_SIGNATURE) or signatures[DEFAULT_SIGNATURE]
    value_range = raw.input().value_range  # encoded images: the range of their pixels
    order = sorted(signatures, key=lambda n: (n != DEFAULT_SIGNATURE, n))
    with tf.io.TFRecordWriter(str(path)) as writer:
        for name in order:
            if name == TOKENS_SIGNATURE or not _takes(signatures[name], examples):
                continue
            count = MAX_RECORDS if name == DEFAULT_SIGNATURE else RECORDS_PER_SIGNATURE
            for start in range(min(count, len(examples))):
                batch = examples[start : start + 1]
                log = _log(model_name, name, signatures[name], batch, value_range)
                writer.write(log.SerializeToString())
    return path


def _takes(info: SignatureInfo, examples: np.ndarray) -> bool:
    """False for a predict signature over another tensor than the examples (a VAE's
    ``decode`` over latent vectors, a generator's ``sample`` over seeds): it gets no record."""
    if info.example_features or len(info.inputs) != 1 or info.inputs[0].dtype == "string":
        return True
    shape = info.inputs[0].shape[1:]
    return len(shape) == examples.ndim - 1 and all(
        d is None or d < 0 or d == n for d, n in zip(shape, examples.shape[1:], strict=True)
    )


def _log(
    model_name: str,
    signature: str,
    info: SignatureInfo,
    batch: np.ndarray,
    value_range: tuple[float, float] | None,
) -> Any:
    """The ``PredictionLog`` of one request in the signature's own API."""
    import tensorflow as tf
    from tensorflow_serving.apis import (
        classification_pb2,
        model_pb2,
        predict_pb2,
        prediction_log_pb2,
        regression_pb2,
    )

    from .. import tf_example

    spec = model_pb2.ModelSpec(name=model_name, signature_name=signature)
    if info.method_name in (CLASSIFY_METHOD, REGRESS_METHOD):
        built = tf_example.build(batch, info.example_features)
        if info.method_name == CLASSIFY_METHOD:
            request = classification_pb2.ClassificationRequest(model_spec=spec)
            request.input.example_list.examples.extend(built)
            return prediction_log_pb2.PredictionLog(
                classify_log=prediction_log_pb2.ClassifyLog(request=request)
            )
        request = regression_pb2.RegressionRequest(model_spec=spec)
        request.input.example_list.examples.extend(built)
        return prediction_log_pb2.PredictionLog(
            regress_log=prediction_log_pb2.RegressLog(request=request)
        )
    request = predict_pb2.PredictRequest(model_spec=spec)
    for key, value in request_inputs(info, batch, value_range).items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    log = prediction_log_pb2.PredictLog(request=request)
    return prediction_log_pb2.PredictionLog(predict_log=log)


def read_warmup(saved_model_dir: Path) -> list[WarmupRequest]:
    """Every warm-up request, in order: its signature and named input arrays.

    Classify and regress requests come back as their signature takes them: the
    examples serialized under ``inputs``.
    """
    import tensorflow as tf

    from .. import tf_example

    requests = []
    for entry in read_logs(saved_model_dir / WARMUP_FILE):
        kind = entry.WhichOneof("log_type")
        request = getattr(entry, kind).request
        name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        if kind == "predict_log":
            inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
        else:
            inputs = {EXAMPLES_INPUT: tf_example.serialize(request.input)}
        requests.append(WarmupRequest(name, inputs))
    return requests


def read_logs(path: Path) -> list[Any]:
    import tensorflow as tf
    from google.protobuf.message import DecodeError
    from tensorflow_serving.apis import prediction_log_pb2

    logs = []
    try:
        for record in tf.data.TFRecordDataset(str(path)):
            logs.append(prediction_log_pb2.PredictionLog.FromString(record.numpy()))
            if len(logs) > MAX_REPLAYED:
                raise ServingError(
                    f"warm-up file {path} holds more than {MAX_REPLAYED} records; keep at most "
                    f"{MAX_REPLAYED}"
                )
    except (tf.errors.OpError, DecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ServingError(
            f"warm-up file {path} is not a TFRecord of PredictionLog: {first}; republish the "
            "version or remove the file"
        ) from None
    return logs
