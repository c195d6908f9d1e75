"""Warm-up on load: replay a version's warm-up records before it answers (TF Serving's
``--enable_model_warmup``). The export writes the records (``export.warmup``)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from ..errors import ServingError
from ..export.warmup import WARMUP_FILE, read_logs
from ..wire import CLASSIFY_METHOD, REGRESS_METHOD
from .tf_serving_metrics import record_warmup

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WarmupOptions:
    """TF Serving's ``--enable_model_warmup`` and ``--num_request_iterations_for_warmup``."""

    enabled: bool = True
    iterations: int = 1


def warm_up(model: Any, options: WarmupOptions) -> int:
    """Replay ``model``'s warm-up records (if any); sets and returns ``model.warmup_requests``.

    Raises:
        ServingError: the file is corrupt, holds more than ``MAX_REPLAYED``
            records, or a record is not a Predict/Classify/Regress log the model runs.
    """
    path = model.path / WARMUP_FILE
    if not options.enabled or not path.is_file():
        return 0
    start = time.perf_counter()
    logs = read_logs(path)
    for _ in range(options.iterations):
        for i, prediction_log in enumerate(logs):
            try:
                _replay(model, prediction_log)
            except Exception as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise ServingError(f"warm-up record {i} of {path} failed: {first}") from None
    model.warmup_requests = len(logs) * options.iterations
    # TF Serving records a warm-up that read its file to the end (RunSavedModelWarmupUntracked)
    record_warmup(str(model.path), "OK", len(logs), time.perf_counter() - start)
    log.info(
        "warm-up of %s version %d done: %d requests replayed",
        model.name,
        model.version,
        model.warmup_requests,
    )
    return model.warmup_requests


def _replay(model: Any, prediction_log: Any) -> None:
    import tensorflow as tf

    from . import examples, predict  # TensorFlow's protos: loaded with the first version

    kind = prediction_log.WhichOneof("log_type")
    if kind == "predict_log":
        request = prediction_log.predict_log.request
        signature = model.signature(request.model_spec.signature_name or None)
        arrays = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        predict.run(signature, arrays)
    elif kind in ("classify_log", "regress_log"):
        request = getattr(prediction_log, kind).request
        method = CLASSIFY_METHOD if kind == "classify_log" else REGRESS_METHOD
        examples.run(model, request.model_spec.signature_name or None, method, request.input)
    else:
        raise ServingError(
            f"unsupported warm-up log type {kind!r}; expected predict_log, classify_log or "
            "regress_log"
        )
