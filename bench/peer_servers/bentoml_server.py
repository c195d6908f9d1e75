"""BentoML serving the SavedModel: a ``@bentoml.service`` class with one ``@bentoml.api``.

The body is BentoML's native JSON, one field per parameter: ``{"instances":
[...]}`` (the same bytes as TF Serving's), at ``POST /predict``. Workers:
``"cpu_count"``, BentoML's setting for CPU-bound services (its "Workers" guide;
the default is 1). ``python bentoml_server.py --model-dir D --port P`` runs
``bentoml serve`` on this file, bound to loopback.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import bentoml
import numpy as np
from savedmodel import Signature


@bentoml.service(workers="cpu_count")
class DigitsModel:
    def __init__(self) -> None:
        self.signature = Signature(os.environ["PEER_MODEL_DIR"])

    @bentoml.api
    def predict(self, instances: np.ndarray) -> dict[str, Any]:
        return {"predictions": self.signature(instances)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    os.environ["PEER_MODEL_DIR"] = args.model_dir
    os.environ["BENTOML_DO_NOT_TRACK"] = "True"
    cmd = [sys.executable, "-m", "bentoml", "serve", "bentoml_server:DigitsModel"]
    os.execv(sys.executable, [*cmd, "--host", "127.0.0.1", "--port", str(args.port)])
