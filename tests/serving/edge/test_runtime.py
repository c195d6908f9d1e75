"""The edge runtime: LiteRT only, no TensorFlow, image and .npy inputs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, run_edge


def predict(*args: str) -> subprocess.CompletedProcess:
    return run_edge("predict", *args)


def float32(published) -> str:
    """The float32 variant: exact against Keras (the published edge model may be quantized)."""
    return str(published.published.path / "tflite" / "float32.tflite")


def test_npy_batch_gives_one_class_id_per_input(published, tmp_path):
    result = published
    x = result.splits.x_test[:7]
    np.save(tmp_path / "batch.npy", x)
    proc = predict(float32(result), str(tmp_path / "batch.npy"))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["class_ids"] == result.model.predict(x, verbose=0).argmax(-1).tolist()
    assert out["class_names"] == [str(c) for c in out["class_ids"]]
    assert np.asarray(out["probabilities"]).shape == (7, 10)


def test_single_example_npy_and_image_file(published, tmp_path):
    result = published
    pixels = np.rint(result.splits.x_test[0]).astype("uint8")  # image inputs take 0-255
    x = pixels.astype("float32")
    np.save(tmp_path / "one.npy", x)  # no batch axis
    Image.fromarray(pixels[..., 0], mode="L").save(tmp_path / "digit.png")
    expected = int(result.model.predict(x[np.newaxis], verbose=0).argmax())
    for name in ("one.npy", "digit.png"):
        proc = predict(float32(result), str(tmp_path / name))
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["class_ids"] == [expected]


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda d: d / "missing.npy", "input file"),
        (
            lambda d: (np.save(d / "bad.npy", np.zeros((2, 3))), d / "bad.npy")[1],
            "expected examples of shape [8, 8, 1]",
        ),
        (lambda d: ((d / "x.csv").write_text("1,2"), d / "x.csv")[1], "expected an image"),
        (lambda d: ((d / "x.png").write_text("not an image"), d / "x.png")[1], "cannot read image"),
    ],
)
def test_bad_input_is_one_clear_line(published, tmp_path, make_input, message):
    result = published
    proc = predict(str(result.published.tflite_path), str(make_input(tmp_path)))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_bad_model_file(tmp_path):
    fake = tmp_path / "fake.tflite"
    fake.write_bytes(b"not a flatbuffer")
    proc = predict(str(fake), str(tmp_path / "whatever.npy"))
    assert proc.returncode == 2 and "error: " in proc.stderr and "Traceback" not in proc.stderr


def test_prediction_loads_no_tensorflow(published, tmp_path):
    result = published
    np.save(tmp_path / "batch.npy", result.splits.x_test[:2])
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['edge', 'predict', {str(result.published.tflite_path)!r}, "
        f"{str(tmp_path / 'batch.npy')!r}]\n"
        "try:\n    runpy.run_module('kerasforge.serving.edge', run_name='__main__')\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'tensorflow', 'keras'})\n"
        "assert not bad, bad\n"
        "print('NO_TF_OK')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert "NO_TF_OK" in proc.stdout


@pytest.mark.heavy
def test_regression_answers_values_in_the_target_units(published_once, tmp_path):
    tiny = published_once(ROOT / "configs" / "diabetes_mlp.yaml", ["model.options.width=4"])
    x = tiny.splits.x_test[:5]
    np.save(tmp_path / "rows.npy", x)
    proc = predict(float32(tiny), str(tmp_path / "rows.npy"))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"model", "values", "target_names"}
    expected = tiny.model.predict(x, verbose=0)[:, 0]
    np.testing.assert_allclose(out["values"], expected, rtol=1e-4, atol=1e-3)


def test_the_runtime_s_own_log_lines_show_only_when_asked(published, tmp_path):
    # LiteRT's C++ prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." to fd 2.
    np.save(tmp_path / "one.npy", published.splits.x_test[0])
    quiet = predict(float32(published), str(tmp_path / "one.npy"))
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    shown = run_edge("--verbose", "predict", float32(published), str(tmp_path / "one.npy"))
    assert shown.returncode == 0, shown.stderr
    assert "XNNPACK delegate" in shown.stderr
    assert json.loads(shown.stdout) == json.loads(quiet.stdout)
