"""Slow clients from one address cannot starve the others (real sockets on loopback).

A request counts against ``Limits.max_inflight`` only once its body is read; the
bodies still arriving and the connections open are bounded per client address
(``Limits.max_bodies_per_client``, ``ListenLimits.max_connections_per_client``).
TF Serving's libevent server reads each body before its handler runs
(``model_servers/http_server.cc`` ``ProcessRequest`` reads all of it first), so a
slow body never holds one of its ``--rest_api_num_threads`` either.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from kerasforge.serving.server import embedded as serverlib
from kerasforge.serving.server.embedded import ListenLimits
from kerasforge.serving.server.rest_api import Limits
from kerasforge.serving.server.store import ModelStore
from tests.serving.example_model import save_example_model

pytestmark = pytest.mark.heavy  # a server over an exported model

BODIES = 4  # bodies one address may be sending
CONNECTIONS = 10  # connections one address may hold
PREDICT = "/v1/models/ex:predict"
OTHER = "127.0.0.2"  # another client: Linux routes all of 127/8 to loopback


@pytest.fixture(scope="module")
def rest(tmp_path_factory):
    root = tmp_path_factory.mktemp("slow_clients")
    save_example_model(root / "ex" / "1")
    store = ModelStore(root)
    store.refresh()
    limits = Limits(max_inflight=2, max_bodies_per_client=BODIES, body_timeout_s=30)
    listen = ListenLimits(max_connections=64, max_connections_per_client=CONNECTIONS)
    server = serverlib.serve_store(
        store, serverlib.ServerOptions(rest_port=0, limits=limits), listen
    )
    yield server
    serverlib.stop(server, store)


def connect(rest, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(rest.server_address, timeout=10, source_address=(source, 0))


def answer(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def predict(rest, source: str) -> tuple[int, dict]:
    body = json.dumps({"signature_name": "predict", "instances": [[1.0, 2.0]]}).encode()
    with connect(rest, source) as sock:
        head = f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode() + body)
        return answer(sock)


def slow_body(rest) -> socket.socket:
    """Headers, then one byte of a 100-byte body, and nothing more."""
    sock = connect(rest)
    sock.sendall(f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{".encode())
    return sock


def settle(rest) -> None:
    deadline = time.monotonic() + 10  # the server sees the closes before the next test
    while rest.runner.server.connections and time.monotonic() < deadline:
        time.sleep(0.05)


def test_slow_bodies_from_one_address_get_429_past_their_share_while_others_get_200(rest):
    slow = [slow_body(rest) for _ in range(BODIES)]
    try:
        time.sleep(0.2)  # every slow body is being waited for
        assert rest.api.inflight == 0, "a body still arriving holds no model slot"
        with slow_body(rest) as extra:  # one more from the same address: over its share
            status, reply = answer(extra)
        assert status == 429 and "from 127.0.0.1" in reply["error"]
        for _ in range(5):  # the other client is served, more often than the model slots
            assert predict(rest, OTHER) == (200, {"predictions": [[1.0, 2.0]]})
    finally:
        for sock in slow:
            sock.close()
        settle(rest)
    assert predict(rest, "127.0.0.1")[0] == 200  # its share is back


def test_connections_from_one_address_past_its_share_get_503_while_others_connect(rest):
    held = [connect(rest) for _ in range(CONNECTIONS)]
    try:
        time.sleep(0.2)
        with connect(rest) as extra:
            status, reply = answer(extra)
        assert status == 503 and "too many open connections from 127.0.0.1" in reply["error"]
        assert predict(rest, OTHER)[0] == 200
    finally:
        for sock in held:
            sock.close()
        settle(rest)
    assert predict(rest, "127.0.0.1")[0] == 200
