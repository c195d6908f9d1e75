"""A small REST client for TF Serving (and the embedded server). No TensorFlow.

Example:
    >>> client = RestClient("http://127.0.0.1:8501")
    >>> client.predict("digits_cnn", [[[[0.0]] * 8] * 8])
    [{'class_ids': 1, 'probabilities': [...]}]
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from kerasforge.serving.errors import ServingError


class RestClient:
    """Talks TF Serving's REST API at ``base_url`` (e.g. ``http://127.0.0.1:8501``)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8501", timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ServingError(
                f"bad server URL {base_url!r}: expected http://HOST:PORT, "
                "e.g. http://127.0.0.1:8501"
            )
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _model_url(self, name: str, version: int | None) -> str:
        url = f"{self.base_url}/v1/models/{name}"
        return f"{url}/versions/{version}" if version is not None else url

    def request(self, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
        """Send one request; raise ``ServingError`` with the server's message on failure."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                message = json.loads(raw).get("error", raw.decode())
            except ValueError:
                message = raw.decode(errors="replace")
            raise ServingError(f"{url} answered {exc.code}: {message}", exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ServingError(
                f"cannot reach {url}: {getattr(exc, 'reason', exc)}; is the server running "
                "(`make serve`)?",
                503,
            ) from None

    def status(self, name: str, version: int | None = None) -> dict[str, Any]:
        """TF Serving's model status for ``name``."""
        return self.request("GET", self._model_url(name, version))

    def predict(
        self,
        name: str,
        instances: list[Any],
        version: int | None = None,
        signature_name: str | None = None,
    ) -> list[Any]:
        """Row-format predict: one prediction per instance."""
        body: dict[str, Any] = {"instances": instances}
        if signature_name:
            body["signature_name"] = signature_name
        return self.request("POST", f"{self._model_url(name, version)}:predict", body)[
            "predictions"
        ]
