"""KServe's Python ModelServer serving the SavedModel: a ``kserve.Model`` with ``load``/``predict``.

As KServe's custom-model docs write one: ``load`` is called from ``__init__``,
``predict`` takes the v1 body ``{"instances": [...]}`` and answers
``{"predictions": [...]}`` at ``/v1/models/<name>:predict``; ``ModelServer`` with
its defaults (one worker process, latency logging on) apart from the port, no
gRPC. Its REST server builds its ``uvicorn.Config`` with ``host="0.0.0.0"`` and no option
to change it (kserve/protocol/rest/server.py); :class:`LoopbackConfig` binds it to
127.0.0.1 instead, as every server of this project listens, which changes nothing else.
"""

from __future__ import annotations

import argparse
from typing import Any

import kserve
import uvicorn
from savedmodel import Signature


class LoopbackConfig(uvicorn.Config):
    """``uvicorn.Config`` bound to 127.0.0.1 whatever host its caller names."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["host"] = "127.0.0.1"
        super().__init__(*args, **kwargs)


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
    uvicorn.Config = LoopbackConfig  # read by kserve's RESTServer when it starts
    server = kserve.ModelServer(http_port=args.port, enable_grpc=False)
    server.start([DigitsModel("digits_cnn", args.model_dir)])
