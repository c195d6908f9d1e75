"""Which REST call a method and path name, parsed as TF Serving parses them; CORS.

TF Serving hands every path under ``/v1/`` (any case) to its REST handler
(``model_servers/http_server.cc``, ``RestApiRequestDispatcher``), which matches
``POST`` against the predict regex and ``GET`` against the status regex of
``model_servers/http_rest_api_util.cc`` (``ParseModelInfo``) and answers
anything else 400 ``Malformed request: <METHOD> <path>``: a ``GET`` of a
``:predict`` path, a ``POST`` of ``/metadata``, an unknown verb, a trailing
slash, ``PUT`` or ``HEAD``. The regexes ignore case, but the verb and the
``metadata`` word are then compared as written: ``:PREDICT`` is malformed and
``GET .../METADATA`` is a status request. The model name and label are
percent-decoded after matching; a version is digits that must fit an int64.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import web

from ..errors import ServingError

API_PREFIX = re.compile(r"/v1/.*", re.IGNORECASE | re.DOTALL)
"""Paths TF Serving's REST handler sees; others are not its (404)."""
_SPEC = r"/v1/models{name}(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
PREDICT_PATH = re.compile(
    _SPEC.format(name="/(?P<name>[^/:]+)") + r":(?P<verb>classify|regress|predict)",
    re.IGNORECASE | re.ASCII,
)
STATUS_PATH = re.compile(
    _SPEC.format(name="(?:/(?P<name>[^/:]+))?") + r"(?:/(?P<sub>metadata|drift))?",
    re.IGNORECASE | re.ASCII,
)
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, GET",
    "Access-Control-Allow-Headers": "Content-Type",
}
"""Added to every ``/v1/`` answer with ``--rest_api_enable_cors_support`` (TF Serving's
``http_rest_api_util.cc``, ``AddCORSHeaders``)."""
VERBS = ("predict", "classify", "regress")
INT64_MAX = (1 << 63) - 1
USAGE = (
    "expected POST /v1/models/<name>[/versions/<n>|/labels/<label>]:predict "
    "(or :classify, :regress), or GET /v1/models/<name>[/versions/<n>|/labels/<label>]"
    "[/metadata|/drift]"
)


@dataclass(frozen=True)
class Route:
    """One parsed REST call: ``verb`` is a :data:`VERBS` entry, ``"metadata"``, ``"drift"``
    (our extension: the drift report, :mod:`.drift`) or ``"status"``."""

    verb: str
    name: str
    version: int | None = None
    label: str | None = None


def malformed(method: str, path: str) -> ServingError:
    """TF Serving's answer to a path or method its handler does not serve (HTTP 400)."""
    return ServingError(f"Malformed request: {method} {path}; {USAGE}")


def parse(method: str, path: str) -> Route:
    """The call ``method`` and ``path`` (a ``/v1/`` path, still percent-encoded) name.

    Raises:
        ServingError: malformed, no model name, or a version beyond int64 (HTTP 400).
    """
    pattern = {"POST": PREDICT_PATH, "GET": STATUS_PATH}.get(method)
    match = pattern.fullmatch(path) if pattern else None
    if match is None:
        raise malformed(method, path)
    digits = match["version"]
    # Length first: int() refuses strings past 4300 digits.
    too_big = bool(digits) and (len(digits.lstrip("0")) > 19 or int(digits) > INT64_MAX)
    if too_big:
        raise ServingError(
            f"Failed to convert version: {digits[:40]}{'...' if len(digits) > 40 else ''} to "
            f"numeric; a version is an int64 (at most {INT64_MAX})"
        )
    version = int(digits) if digits else None
    label = unquote(match["label"]) if match["label"] else None
    if method == "POST":
        verb = match["verb"]
        if verb not in VERBS:  # the regex ignores case, TF Serving's dispatch does not
            raise malformed(method, path)
    else:
        verb = match["sub"] if match["sub"] in ("metadata", "drift") else "status"
    if not match["name"]:
        raise ServingError(
            "Missing model name in request: the status of all models is not served (as "
            "TF Serving); ask for GET /v1/models/<name>"
        )
    return Route(verb, unquote(match["name"]), version, label)


def preflight(request: web.Request) -> web.Response:
    """A CORS preflight (``OPTIONS``): 200 with no body when it names an http(s) ``Origin``
    (TF Serving's ``http_server.cc``, whether or not CORS is enabled), else 400."""
    if re.search(r"https?://", request.headers.get("Origin", "")):
        return web.Response(status=200)
    raise ServingError(
        "Origin header is missing in CORS preflight: an OPTIONS request must name the "
        "page's origin (Origin: https://...)"
    )
