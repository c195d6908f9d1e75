"""The embedded model server: TF Serving's REST API over a model repository.

Serves ``POST /v1/models/<name>[/versions/<v>]:predict`` and the model status
``GET /v1/models/<name>[/versions/<v>]`` with TF Serving's JSON shapes,
binding 127.0.0.1:8501 unless told otherwise. Runs from the exported
SavedModels alone: no training code, no MLflow.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kerasforge.serving import predict
from kerasforge.serving.errors import ServingError
from kerasforge.serving.store import ModelStore

log = logging.getLogger(__name__)

ROUTE = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?::(?P<verb>[a-z]+))?/?$"
)
MAX_BODY_BYTES = 64 * 1024 * 1024


class RestHandler(BaseHTTPRequestHandler):
    """One HTTP request; the server carries the model store."""

    server: RestServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        try:
            match = ROUTE.match(self.path.split("?", 1)[0])
            if not match:
                raise ServingError(f"Malformed request: {method} {self.path}", status=404)
            name, version, verb = match["name"], match["version"], match["verb"]
            version_number = int(version) if version else None
            if method == "GET" and verb is None:
                self._reply(200, self._status(name, version_number))
            elif method == "POST" and verb == "predict":
                self._reply(200, self._predict(name, version_number))
            else:
                raise ServingError(f"Malformed request: {method} {self.path}", status=404)
        except ServingError as exc:
            self._reply(exc.status, {"error": str(exc)})
        except Exception as exc:  # keep serving; the client gets TF Serving's error shape
            log.exception("request failed")
            self._reply(500, {"error": f"{type(exc).__name__}: {exc}"})

    def _status(self, name: str, version: int | None) -> dict[str, Any]:
        store = self.server.store
        # Like TF Serving: every loaded version without a version in the path, else that one.
        models = store.statuses(name) if version is None else [store.get(name, version)]
        return {
            "model_version_status": [
                {
                    "version": str(model.version),
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
                for model in models
            ]
        }

    def _predict(self, name: str, version: int | None) -> dict[str, Any]:
        model = self.server.store.get(name, version)
        body = self._read_json()
        signature = model.signature(body.get("signature_name") if isinstance(body, dict) else None)
        arrays, row_format = predict.parse_request(body, predict.input_specs(signature))
        return predict.format_response(predict.run(signature, arrays), row_format)

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY_BYTES:
            raise ServingError(
                f"expected a JSON body of 1 to {MAX_BODY_BYTES} bytes; received {length} bytes"
            )
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ServingError(f"JSON Parse error: {exc}") from None

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


class RestServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the model store."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: ModelStore) -> None:
        super().__init__(address, RestHandler)
        self.store = store


def start(
    repository: str | Path,
    host: str = "127.0.0.1",
    rest_port: int = 8501,
    poll_seconds: float = 1.0,
) -> tuple[RestServer, ModelStore]:
    """Load the repository and start serving REST in a background thread.

    Args:
        repository: model repository root (``<root>/<name>/<version>/``).
        host: address to bind; loopback unless told otherwise.
        rest_port: REST port; 0 picks a free one (read it from ``server.server_port``).
        poll_seconds: how often to look for new versions; 0 disables polling.

    Returns:
        The running server and its model store; call ``stop(server, store)`` to end.

    Raises:
        ServingError: the repository holds no published model.
    """
    store = ModelStore(repository)
    if not store.refresh():
        raise ServingError(
            f"no model to serve in {str(repository)!r}: expected <repository>/<name>/<version>/"
            "saved_model.pb; run `make train` (or `kerasforge export`) first",
            status=503,
        )
    try:
        server = RestServer((host, rest_port), store)
    except OSError as exc:
        raise ServingError(
            f"cannot listen on {host}:{rest_port}: {exc.strerror}; another server (an earlier "
            "`make serve`?) may hold the port: stop it or choose another with --rest-port",
            status=503,
        ) from None
    threading.Thread(target=server.serve_forever, name="rest", daemon=True).start()
    if poll_seconds > 0:
        store.start_polling(poll_seconds)
    return server, store


def stop(server: RestServer, store: ModelStore) -> None:
    """Stop serving and polling."""
    store.stop()
    server.shutdown()
    server.server_close()
