"""Clients of TF Serving (and the embedded server): REST here, gRPC in ``grpc_client``.

Both answer one interface, :class:`Client`: ``predict`` takes row-format
instances (numbers, nested lists, ``{input: value}`` objects, ``bytes`` for
string inputs) and returns TF Serving's row-format ``predictions``, the same
values over either protocol; ``status`` and ``metadata`` return TF Serving's
JSON. A model version is the newest, a ``version`` or a ``label``. This
module loads no TensorFlow (the gRPC client does: the official protos need it)
and nothing from training.

Example:
    >>> client = RestClient("http://127.0.0.1:8501")
    >>> client.predict("digits_cnn", [[[[0.0]] * 8] * 8])
    [{'class_ids': 1, 'probabilities': [...]}]
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Protocol

from .. import wire
from ..errors import ServingError


class Client(Protocol):
    """What every client answers; see the module docstring."""

    def predict(
        self,
        name: str,
        instances: list[Any],
        version: int | None = None,
        signature_name: str | None = None,
        label: str | None = None,
    ) -> list[Any]: ...

    def status(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> dict[str, Any]: ...

    def metadata(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> dict[str, Any]: ...


def check_version_choice(version: int | None, label: str | None) -> None:
    """A request names a version, a label or neither (TF Serving's ``version_choice``).

    Raises:
        ServingError: both were given.
    """
    if version is not None and label is not None:
        raise ServingError(
            f"give a version ({version}) or a label ({label!r}), not both: a label names a version"
        )


def _wire(value: Any) -> Any:
    """``bytes`` become ``{"b64": ...}`` (TF Serving's JSON for binary string values)."""
    if isinstance(value, bytes):
        return {wire.B64: base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


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

    def _model_url(self, name: str, version: int | None, label: str | None = None) -> str:
        check_version_choice(version, label)
        url = f"{self.base_url}/v1/models/{urllib.parse.quote(name, safe='')}"
        if label is not None:
            return f"{url}/labels/{urllib.parse.quote(label, safe='')}"
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

    def status(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> dict[str, Any]:
        """TF Serving's model status for ``name``."""
        return self.request("GET", self._model_url(name, version, label))

    def metadata(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> dict[str, Any]:
        """TF Serving's ``GetModelMetadataResponse`` as JSON (the ``SignatureDef``s)."""
        return self.request("GET", f"{self._model_url(name, version, label)}/metadata")

    def predict(
        self,
        name: str,
        instances: list[Any],
        version: int | None = None,
        signature_name: str | None = None,
        label: str | None = None,
    ) -> list[Any]:
        """Row-format predict: one prediction per instance."""
        body: dict[str, Any] = {wire.INSTANCES: _wire(instances)}
        if signature_name:
            body[wire.SIGNATURE_NAME] = signature_name
        url = f"{self._model_url(name, version, label)}:predict"
        return self.request("POST", url, body)[wire.PREDICTIONS]
