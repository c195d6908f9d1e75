"""The peer-server benchmark's plumbing, without installing any peer.

``bench/bench_peers.py`` needs KServe, BentoML and LitServe in venvs of their own
(minutes to install); these tests run what it shares with them in the project's
venv: the SavedModel wrapper every peer script serves through
(``bench/peer_servers/savedmodel.py``), the load client's per-request latencies
and the figure's verdict, against a real ``kerasforge serve``. They assert on
counts, shapes and answers, never on time.
"""

from __future__ import annotations

import http.client
import json
import math

import numpy as np
import pytest

from tests.bench import bench_module

bench_peers = bench_module("bench_peers")


def _row(rps8: float, p99_8: float, rps32: float, p99_32: float) -> dict[str, float]:
    return {
        "c8_requests_per_s": rps8,
        "c8_p99_ms": p99_8,
        "c32_requests_per_s": rps32,
        "c32_p99_ms": p99_32,
    }


def test_the_figure_is_ours_over_the_best_peer_at_the_worse_concurrency():
    rows = {
        "kerasforge": _row(1200, 10, 1300, 40),
        "kserve": _row(750, 15, 600, 60),
        "bentoml": _row(350, 30, 650, 70),
    }
    fig = bench_peers.verdict(rows, {})
    assert fig["ratio_by_clients"] == {"c8": 1.6, "c32": 2.0}
    assert fig["best_peer_by_clients"] == {"c8": "kserve", "c32": "bentoml"}
    assert fig["value"] == 1.6 and fig["met"] is False
    assert fig["servers"]["kserve"]["c8_requests_per_s"] == 750


def test_a_skipped_peer_never_lets_the_figure_pass():
    rows = {"kerasforge": _row(3000, 5, 3000, 9), "kserve": _row(750, 15, 600, 60)}
    fig = bench_peers.verdict(rows, {"litserve": "pip failed"})
    assert fig["value"] == 4.0 and fig["met"] is None, "unknown: the skipped one might win"
    assert fig["servers"]["litserve"]["skipped"] == "pip failed"
    slow = bench_peers.verdict({**rows, "kerasforge": _row(900, 50, 900, 90)}, {"x": "no"})
    assert slow["met"] is False, "below the goal against the peers measured: not met"
    alone = bench_peers.verdict({"kerasforge": rows["kerasforge"]}, {"kserve": "no"})
    assert math.isnan(alone["value"]) and alone["met"] is None


def test_our_p99_must_be_below_the_best_peers():
    rows = {"kerasforge": _row(2000, 20, 2000, 90), "kserve": _row(500, 15, 500, 60)}
    fig = bench_peers.verdict(rows, {})
    assert fig["value"] == 4.0 and fig["met"] is False
    assert fig["our_p99_below_best_peer"] == {"c8": False, "c32": False}


@pytest.fixture(scope="module")
def ours(published):
    from load import start_server

    proc, port = start_server(published.cfg.output_dir / "models")
    yield port
    proc.terminate()
    proc.wait(timeout=60)


def _body() -> bytes:
    x = np.random.default_rng(0).uniform(0, 1, (1, 8, 8, 1)).astype("float32")
    return json.dumps({"instances": x.tolist()}).encode()


@pytest.mark.heavy
def test_the_peer_wrapper_answers_as_our_server_does(published, ours):
    """Every peer serves through ``savedmodel.Signature``: in TF Serving's row format
    (util/json_tensor.cc, MakeJsonFromTensors: one object per instance, named outputs)
    it must answer what our server answers for the same SavedModel and body."""
    signature = bench_module("peer_servers/savedmodel")
    wrapper = signature.Signature(str(published.published.path))
    theirs = json.loads(json.dumps({"predictions": wrapper(json.loads(_body())["instances"])}))
    conn = http.client.HTTPConnection("127.0.0.1", ours, timeout=60)
    conn.request("POST", bench_peers.OUR_PATH, body=_body())
    mine = json.loads(conn.getresponse().read())
    assert theirs["predictions"][0].keys() == mine["predictions"][0].keys()
    for name, value in mine["predictions"][0].items():
        if isinstance(value, str):
            assert theirs["predictions"][0][name] == value
        else:
            np.testing.assert_allclose(theirs["predictions"][0][name], value, rtol=1e-5)


@pytest.mark.heavy
def test_the_harness_measures_each_target_through_the_shared_client(ours, monkeypatch):
    """The path a peer takes, with our server standing in for two of them."""
    from load import Target

    monkeypatch.setattr(bench_peers, "PER_CLIENT", {8: 2, 32: 1})
    monkeypatch.setattr(bench_peers, "ROUNDS", 2)
    target = Target(ours, bench_peers.OUR_PATH, _body())
    targets = {"kerasforge": target, "stand_in": target}
    assert bench_peers.first_class(target) in range(10)
    rows = bench_peers.compare(targets)
    for row in rows.values():
        assert row["c8_requests"] == 8 * 2 * 2 and row["c32_requests"] == 32 * 1 * 2
        assert 0 < row["c8_p50_ms"] <= row["c8_p99_ms"] and row["c32_requests_per_s"] > 0
    fig = bench_peers.verdict(rows, {})
    assert fig["best_peer_by_clients"] == {"c8": "stand_in", "c32": "stand_in"}
