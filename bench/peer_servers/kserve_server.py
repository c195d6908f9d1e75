"""KServe's Python ModelServer serving the SavedModel: a ``kserve.Model`` with ``load``/``predict``.

As KServe's custom-model docs write one: ``load`` is called from ``__init__``,
``predict`` takes the v1 body ``{"instances": [...]}`` and answers
``{"predictions": [...]}`` at ``/v1/models/<name>:predict``; ``ModelServer`` with
its defaults (one worker process, latency logging on) apart from the port, no
gRPC. Its REST server binds 0.0.0.0 with no option to change it
(kserve/protocol/rest/server.py); the benchmark sends traffic to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
from typing import Any

import kserve
from savedmodel import Signature


class DigitsModel(kserve.Model):
    def __init__(self, name: str, model_dir: str) -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self.signature: Signature | None = None
        self.load()

    def load(self) -> bool:
        self.signature = Signature(self.model_dir)
        self.ready = True
        return self.ready

    def predict(self, payload: dict, headers: dict[str, str] | None = None) -> dict[str, Any]:
        return {"predictions": self.signature(payload["instances"])}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    args, _ = parser.parse_known_args()
    server = kserve.ModelServer(http_port=args.port, enable_grpc=False)
    server.start([DigitsModel("digits_cnn", args.model_dir)])
