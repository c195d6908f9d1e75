"""The edge extra and a Raspberry Pi-like tflite-runtime environment run every TFLite
variant of the default config's trained model, as its model card says they can."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kerasforge.serving.card import read_card
from kerasforge.serving.edge.compat import runs_on
from kerasforge.serving.export.tflite import VARIANTS
from tests.wheels import build_wheel, copy_source, fresh_venv, in_venv, tflite_runtime_venv


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = copy_source(tmp_path_factory.mktemp("source"))
    return build_wheel(source, tmp_path_factory.mktemp("dist"))


EDGE_FILES = (*(f"tflite/{name}.tflite" for name in VARIANTS), "model.tflite")
RUNTIME_PROBE = (
    "import json\nfrom kerasforge.serving.edge import compat, runtime\n"
    "print(json.dumps(compat.installed_runtime(runtime.interpreter_class())))"
)


def agreement_or_refusal(
    bin_dir: Path, version: Path, expected: np.ndarray, cwd: Path
) -> dict[str, float | None]:
    """Run every variant and ``model.tflite`` of ``version`` with one venv's runtime.

    A file loads exactly when the runtime (in TensorFlow's numbering) meets the ``min_runtime``
    its card records; one that loads answers the test split (its top-1 agreement with the
    SavedModel is returned), one that does not is refused in one line (``None``).
    """
    distribution, _own, runtime = json.loads(
        in_venv([str(bin_dir / "python"), "-c", RUNTIME_PROBE], cwd).stdout
    )
    card = read_card(version)
    variants = card.tflite_variants()
    measured: dict[str, float | None] = {}
    for name in EDGE_FILES:
        variant = card.tflite["edge_model"] if name == "model.tflite" else Path(name).stem
        claim = variants[variant].min_runtime
        proc = in_venv(
            [str(bin_dir / "kerasforge-edge"), "predict", str(version / name), "test.npy"], cwd
        )
        if runs_on(claim, runtime):
            assert proc.returncode == 0, (distribution, name, claim, proc.stderr)
            got = np.array(json.loads(proc.stdout)["class_ids"])
            measured[name] = float((got == expected).mean())
            continue
        assert proc.returncode == 2, (distribution, name, claim, "loads, against its card")
        (line,) = proc.stderr.strip().splitlines()
        assert f"(TFLite runtime >= {claim}, says its model card)" in line, line
        assert "ai-edge-litert" in line and "Traceback" not in proc.stderr, line
        measured[name] = None
    return measured


def with_default_dynamic(version: Path, where: Path) -> Path:
    """A copy of ``version`` whose dynamic variant is TensorFlow's default dynamic range
    (per-channel Dense weights: FULLY_CONNECTED v12), its card recording what it needs."""
    import tensorflow as tf

    from kerasforge.serving.export.signatures import DEFAULT_SIGNATURE
    from kerasforge.serving.export.tflite import numeric_saved_model
    from kerasforge.serving.export.tflite_sidecar import runtime_needs

    copy = where / version.name
    shutil.copytree(version, copy)
    with numeric_saved_model(version) as numeric:
        converter = tf.lite.TFLiteConverter.from_saved_model(
            str(numeric.path), signature_keys=[DEFAULT_SIGNATURE]
        )
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        flatbuffer = converter.convert()
    needs = runtime_needs(flatbuffer)
    assert needs.ops["FULLY_CONNECTED"] == 12, needs
    card = json.loads((copy / "kerasforge.json").read_text())
    edge = ["model.tflite"] if card["tflite"]["edge_model"] == "dynamic" else []
    for name in ("tflite/dynamic.tflite", *edge):  # model.tflite is the edge variant's copy
        (copy / name).write_bytes(flatbuffer)
    card["tflite"]["variants"]["dynamic"].update(min_runtime=needs.min_runtime, ops=needs.ops)
    (copy / "kerasforge.json").write_text(json.dumps(card))
    return copy


@pytest.mark.heavy
def test_both_edge_runtimes_agree_with_the_saved_model_without_tensorflow(wheel, trained, tmp_path):
    """`.[edge]` (ai-edge-litert) and a numpy<2 + tflite-runtime 2.14 environment run every
    variant and model.tflite of the trained model: each loads on a runtime exactly when the
    min_runtime on its card says so, and each answers >= 99% top-1 like the SavedModel on
    the digits test split. TensorFlow's default dynamic range (per-channel Dense) is refused
    by 2.14 in one line naming the variants it loads. Measured agreement: printed (-s) and
    written to the test's tmp folder as agreement.json."""
    import tensorflow as tf

    _, result = trained
    version = result.published.path
    x = result.splits.x_test.astype("float32")
    np.save(tmp_path / "test.npy", x)
    signature = tf.saved_model.load(str(version)).signatures["serving_default"]
    expected = signature(pixels=tf.constant(x))["class_ids"].numpy()
    per_channel = with_default_dynamic(version, tmp_path / "per_channel")
    edge_bin, installed = fresh_venv(wheel, "edge", tmp_path / "edge")
    assert not installed & {"tensorflow", "tensorflow-cpu", "keras", "mlflow"}, installed
    pi_bin = tflite_runtime_venv(wheel, tmp_path / "pi")
    measured = {
        f"{runtime}{suffix}": agreement_or_refusal(bin_dir, folder, expected, tmp_path)
        for runtime, bin_dir in (("ai-edge-litert", edge_bin), ("tflite-runtime 2.14", pi_bin))
        for suffix, folder in (("", version), (" / per-channel dynamic", per_channel))
    }
    report = json.dumps({"parity": result.published.parity.to_dict(), "edge": measured}, indent=1)
    (tmp_path / "agreement.json").write_text(report)
    print(result.published.parity.table(), json.dumps(measured, indent=1), sep="\n")
    assert all(v is not None for v in measured["tflite-runtime 2.14"].values()), measured
    assert measured["tflite-runtime 2.14 / per-channel dynamic"]["tflite/dynamic.tflite"] is None
    for runtime, files in measured.items():
        for name, agreement in files.items():
            assert agreement is None or agreement >= 0.99, (runtime, name, agreement)
    probe = (
        "import sys\nfrom kerasforge.serving.edge import runtime\n"
        "runtime.interpreter_class()\nprint(sorted(sys.modules))"
    )
    proc = in_venv([str(pi_bin / "python"), "-c", probe], tmp_path)
    assert "tflite_runtime" in proc.stdout and "ai_edge_litert" not in proc.stdout, proc.stderr
    proc = in_venv([str(edge_bin / "kerasforge"), "train"], tmp_path)
    assert proc.returncode == 2
    assert "kerasforge train needs the 'train' extra" in proc.stderr, proc.stderr
