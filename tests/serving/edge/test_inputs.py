"""Bad input on the edge: one clear line, exit 2, never a traceback; huge batches in chunks."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from PIL import Image

from kerasforge.serving.edge import inputs
from kerasforge.serving.edge.runtime import EdgeModel
from tests.conftest import run_edge


def _pickled(d):
    np.save(d / "x.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    return d / "x.npy"


def _random_bytes(d):
    (d / "x.npy").write_bytes(np.random.default_rng(0).bytes(4096))
    return d / "x.npy"


def _a_pickle(d):
    (d / "x.npy").write_bytes(pickle.dumps([[1.0, 2.0]], protocol=4))
    return d / "x.npy"


def _an_npz(d):
    np.savez(d / "x.npz", x=np.zeros((2, 8, 8, 1), "float32"))
    return (d / "x.npz").rename(d / "x.npy")


def _strings(d):
    np.save(d / "x.npy", np.full((2, 8, 8, 1), "7"))
    return d / "x.npy"


def _truncated(d):
    np.save(d / "x.npy", np.zeros((50, 8, 8, 1), "float32"))
    raw = (d / "x.npy").read_bytes()
    (d / "x.npy").write_bytes(raw[: len(raw) // 2])
    return d / "x.npy"


def _empty(d):
    np.save(d / "x.npy", np.zeros((0, 8, 8, 1), "float32"))
    return d / "x.npy"


def _nan(d):
    x = np.zeros((3, 8, 8, 1), "float32")
    x[2, 0, 0, 0] = np.nan
    np.save(d / "x.npy", x)
    return d / "x.npy"


def _inf(d):
    np.save(d / "x.npy", np.full((1, 8, 8, 1), np.inf, "float32"))
    return d / "x.npy"


def _bomb(d):
    # 15000 x 15000 = 225 megapixels, a few hundred KB on disk
    Image.new("1", (15000, 15000)).save(d / "bomb.png")
    return d / "bomb.png"


def _big(d):
    Image.new("1", (7000, 7000)).save(d / "big.png")  # under Pillow's limit, over ours
    return d / "big.png"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_pickled, "pickled Python objects"),
        # numpy.lib.format: a .npy starts with its magic string; np.load calls anything
        # else "pickled data", so the runtime reads the first bytes itself.
        (_random_bytes, "is not a .npy file: it is corrupt or another format (it starts b'"),
        (_a_pickle, "is not a .npy file: it is a Python pickle, which is never loaded"),
        (_an_npz, "is not a .npy file: it is a zip archive (an .npz holds several arrays)"),
        (_strings, "expected numbers (float or int); received dtype 'str"),
        (_truncated, "is truncated"),
        (_empty, "holds no examples"),
        (_nan, "example 2 holds NaN or Inf"),
        (_inf, "example 0 holds NaN or Inf"),
        (_bomb, "decodes at most 40 megapixels"),
        (_big, "(49 megapixels)"),
    ],
)
def test_bad_input_is_refused_with_one_line_and_exit_2(published, tmp_path, make, message):
    proc = run_edge("predict", str(published.published.tflite_path), str(make(tmp_path)))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().startswith("error: ") and "Traceback" not in proc.stderr
    assert message in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("threads", ["-5", "0", "two"])
def test_bad_thread_counts_are_usage_errors(published, threads):
    proc = run_edge("predict", str(published.published.tflite_path), "x.npy", "--threads", threads)
    assert proc.returncode == 2
    assert "--threads: expected a positive integer" in proc.stderr
    assert "not a valid .tflite" not in proc.stderr


def test_huge_batches_run_in_chunks_from_a_memory_map(published, tmp_path, monkeypatch):
    x = np.repeat(published.splits.x_test[:5], 7, axis=0).astype("float32")  # 35 examples
    np.save(tmp_path / "big.npy", x)
    model = EdgeModel(published.published.tflite_path)
    batch = model.load_input(tmp_path / "big.npy")
    assert isinstance(batch, np.memmap), "the batch stays on disk"
    whole = model.predict(batch)
    monkeypatch.setattr(inputs, "CHUNK", 4)
    seen = []
    original = model.outputs
    monkeypatch.setattr(model, "outputs", lambda b: seen.append(len(b)) or original(b))
    chunked = model.predict(batch)
    assert seen == [4] * 8 + [3]
    assert chunked["class_ids"] == whole["class_ids"]
    np.testing.assert_allclose(chunked["probabilities"], whole["probabilities"], atol=1e-6)


def test_a_batch_over_the_size_limit_is_refused_before_it_is_read(published, tmp_path):
    # A sparse file: its header says 300,000 digits (77 MB), no page of it is written.
    big = np.lib.format.open_memmap(tmp_path / "big.npy", "w+", "float32", (300_000, 8, 8, 1))
    del big
    proc = run_edge("predict", str(published.published.tflite_path), str(tmp_path / "big.npy"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert (
        f"holds 77 MB (300,000 rows of float32); the edge runtime reads at most "
        f"{inputs.MAX_INPUT_MB} MB per call" in proc.stderr
    )
    assert "--max-input-mb 77" in proc.stderr, "the message says how to raise the limit"
    # The flag raises (or lowers) the limit; what it lets through is answered.
    x = published.splits.x_test[:5].astype("float32")
    np.save(tmp_path / "small.npy", x)
    small = [str(published.published.tflite_path), str(tmp_path / "small.npy")]
    proc = run_edge("predict", *small, "--max-input-mb", "0.001")
    assert proc.returncode == 2 and "reads at most 0.001 MB" in proc.stderr
    proc = run_edge("predict", *small, "--max-input-mb", "0.01")
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["class_ids"]) == 5
    proc = run_edge("predict", *small, "--max-input-mb", "nan")
    assert proc.returncode == 2 and "--max-input-mb: expected a positive size" in proc.stderr


def test_bench_prints_latency_percentiles(published):
    proc = run_edge("bench", str(published.published.tflite_path), "--runs", "20", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["runs"] == 20
    assert 0 < out["p50_ms"] <= out["p90_ms"] <= out["p99_ms"]
