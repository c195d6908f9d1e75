"""LitServe serving the SavedModel: a ``LitAPI`` (setup, decode, predict, encode) in LitServer.

As LitServe's docs write one: ``setup`` loads the model once in the inference
worker, ``decode_request`` turns the JSON body (``{"instances": [...]}``, the same
bytes as TF Serving's) into the model input, ``predict`` calls it,
``encode_response`` builds the answer, at ``POST /predict``. ``LitServer`` on
the CPU accelerator with its defaults (one worker per device), on loopback.
"""

from __future__ import annotations

import argparse
from typing import Any

import litserve as ls
from savedmodel import Signature


class DigitsAPI(ls.LitAPI):
    def __init__(self, model_dir: str) -> None:
        super().__init__()
        self.model_dir = model_dir

    def setup(self, device: str) -> None:
        self.signature = Signature(self.model_dir)

    def decode_request(self, request: dict) -> Any:
        return request["instances"]

    def predict(self, x: Any) -> list[dict[str, Any]]:
        return self.signature(x)

    def encode_response(self, output: list[dict[str, Any]]) -> dict[str, Any]:
        return {"predictions": output}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = ls.LitServer(DigitsAPI(args.model_dir), accelerator="cpu")
    server.run(host="127.0.0.1", port=args.port, generate_client_file=False)
