"""HTTP-level faults get JSON answers with an HTTP/1.1 status line and one log line.

aiohttp's own answers to what its parser refuses are plain text, ``HTTP/1.0``
and a logged traceback each (``serving/server/http_errors.py``). TF Serving's
libevent server (``util/net_http/server/internal/evhttp_server.cc``) answers such
requests with a 4xx; the JSON body is ours (every answer of the API is JSON).
Raw sockets, since no HTTP client sends these on purpose.
"""

from __future__ import annotations

import json
import logging
import socket

import pytest

from kerasforge.serving.server import embedded as serverlib
from kerasforge.serving.server.store import ModelStore
from tests.serving.example_model import save_example_model

pytestmark = pytest.mark.heavy  # a server over an exported model


@pytest.fixture(scope="module")
def address(tmp_path_factory):
    root = tmp_path_factory.mktemp("http_errors")
    save_example_model(root / "ex" / "1")
    store = ModelStore(root)
    store.refresh()
    rest = serverlib.serve_store(store, serverlib.ServerOptions(rest_port=0))
    yield rest.server_address
    serverlib.stop(rest, store)


def exchange(address, payload: bytes) -> tuple[str, dict, bytes]:
    """Send ``payload``, read until the server closes: (status line, headers, body)."""
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(payload)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return lines[0], headers, body


GZIP_PLAIN = (
    b"POST /v1/models/ex:predict HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
    b'Content-Length: 17\r\n\r\n{"instances": []}'
)


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        (GZIP_PLAIN, "400 Bad Request", "Content-Encoding: gzip"),
        (b"FO\x01O /v1/models/ex HTTP/1.1\r\nHost: x\r\n\r\n", "400 Bad Request", "method"),
        (
            b"GET /v1/models/ex HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
            "400 Bad Request",
            "8190 bytes",
        ),
        (
            b"POST /v1/models/ex:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n{}",
            "400 Bad Request",
            "Content-Length",
        ),
        (b"GET /v1/models/ex HTTP/2.0\r\nHost: x\r\n\r\n", "505 HTTP Version Not Supported", "2.0"),
    ],
)
def test_http_faults_are_json_with_the_right_status_line_and_one_log_line(
    address, caplog, payload, status, message
):
    with caplog.at_level(logging.INFO):
        line, headers, body = exchange(address, payload)
    assert line == f"HTTP/1.1 {status}"
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert message in json.loads(body)["error"]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_a_keep_alive_connection_still_serves_after_a_json_error(address):
    request = b"GET /v1/models/ex HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(b"GET /v1/models/ex:predict HTTP/1.1\r\nHost: x\r\n\r\n" + request)
        data = b""
        while data.count(b"HTTP/1.1 ") < 2 or not data.endswith(b"}]}"):
            data += sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 400 ") and b"HTTP/1.1 200 OK" in data


def test_expect_100_continue_gets_its_interim_answer_before_the_body_is_sent(address):
    # curl sends `Expect: 100-continue` with bodies over 1 KiB and waits for the interim
    # answer (RFC 9110 10.1.1); the body goes only after it.
    body = json.dumps({"signature_name": "predict", "instances": [[1.0, 2.0]] * 60}).encode()
    head = (
        b"POST /v1/models/ex:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(head)
        interim = sock.recv(65536)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert len(json.loads(data.partition(b"\r\n\r\n")[2])["predictions"]) == 60


def test_an_unknown_expectation_is_a_json_417(address):
    line, headers, body = exchange(
        address,
        b"POST /v1/models/ex:predict HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n"
        b"Connection: close\r\nContent-Length: 2\r\n\r\n{}",
    )
    assert line == "HTTP/1.1 417 Expectation Failed"
    assert headers["content-type"] == "application/json"
    assert "100-continue" in json.loads(body)["error"]
