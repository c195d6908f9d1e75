"""Which runtime loads which variant, and the one line a runtime that lacks an op gives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kerasforge.serving.card import read_card
from kerasforge.serving.edge import compat
from kerasforge.serving.edge.runtime import interpreter_class
from tests.conftest import run_edge

# What tflite-runtime 2.14 raised for the dynamic-range digits model before the fix.
REFUSED_BY_2_14 = (
    "Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'. An older version of "
    "this builtin might be supported. Are you using an old TFLite binary with a newer model?\n"
    "Registration failed.\n"
)


def test_versions_compare_as_numbers_and_unknown_stays_unknown():
    assert compat.version_tuple("2.14.0") == (2, 14, 0)
    assert compat.version_tuple("2.3.0rc1") == (2, 3, 0)
    assert compat.version_tuple(None) is None and compat.version_tuple("nightly") is None
    assert compat.runs_on("2.4.0", "2.14.0") and compat.runs_on("2.14", "2.14.0")
    assert compat.runs_on("2.17.0", "2.14.0") is False
    assert compat.runs_on("1.14.0", "2.3") is True, "2.3 is newer than 1.14, not older"
    assert compat.runs_on(None, "2.14.0") is None


def test_ai_edge_litert_counts_from_the_tensorflow_release_before_it():
    assert compat.litert_equivalent("1.0.1") == "2.17.0"
    assert compat.litert_equivalent("1.4.0") == "2.18.0"
    assert compat.litert_equivalent("2.3.0") == "2.20.0"
    distribution, own, runtime = compat.installed_runtime(interpreter_class())
    assert distribution == "ai-edge-litert", "the dev extra installs ai-edge-litert"
    assert compat.runs_on(compat.OLDEST_RUNTIME, runtime), (own, runtime)


def test_the_interpreter_s_refusal_names_the_op_and_its_version():
    assert compat.unsupported_op(REFUSED_BY_2_14) == ("FULLY_CONNECTED", 12)
    assert compat.unsupported_op("Could not open 'x.tflite'.") is None


def test_loadable_variants_follow_the_recorded_min_runtime(published):
    version = published.published.path
    card = read_card(version)
    claims = {name: v.min_runtime for name, v in card.tflite_variants().items()}
    assert all(compat.runs_on(c, compat.OLDEST_RUNTIME) for c in claims.values()), claims
    dynamic = version / "tflite" / "dynamic.tflite"
    listed = compat.loadable_variants(dynamic, card, "2.14.0")
    assert [name.split(" ")[0] for name in listed] == [
        "tflite/float32.tflite",
        "tflite/float16.tflite",
        "tflite/int8.tflite",
        "model.tflite",
    ]
    assert compat.loadable_variants(dynamic, card, "1.0.0") == [], "older than every variant"


def _patched(source: Path, op_version: int) -> bytes:
    """``source`` with its first operator code's version raised to ``op_version``."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(source.read_bytes(), 0))
    model.operatorCodes[0].version = op_version
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.fixture(scope="module")
def too_new(published, tmp_path_factory):
    """A copy of the published version whose dynamic variant holds an op version no runtime
    has (its card says so), the way TFLite 2.17's FULLY_CONNECTED v12 looked to 2.14."""
    version = tmp_path_factory.mktemp("too_new") / "1"
    shutil.copytree(published.published.path, version)
    dynamic = version / "tflite" / "dynamic.tflite"
    dynamic.write_bytes(_patched(dynamic, 99))
    card = json.loads((version / "kerasforge.json").read_text())
    card["tflite"]["variants"]["dynamic"]["min_runtime"] = "99.0.0"
    (version / "kerasforge.json").write_text(json.dumps(card))
    np.save(version.parent / "batch.npy", published.splits.x_test[:2])
    return version


def test_a_variant_the_runtime_cannot_load_is_one_line_naming_those_it_can(too_new):
    proc = run_edge("predict", str(too_new / "tflite" / "dynamic.tflite"), str(too_new.parent))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: ") and "dynamic.tflite' needs " in line, line
    assert "version 99 (TFLite runtime >= 99.0.0, says its model card)" in line, line
    assert "pip install -U ai-edge-litert" in line, line
    for loadable in ("tflite/float32.tflite", "tflite/int8.tflite", "model.tflite"):
        assert loadable in line, line
    assert "tflite/dynamic.tflite (" not in line, "not itself"


def test_the_message_for_tflite_runtime_says_to_install_ai_edge_litert(too_new):
    card = read_card(too_new)
    installed = ("tflite-runtime", "2.14.0", "2.14.0")
    error = compat.unsupported_op_error(
        too_new / "model.tflite", card, ("FULLY_CONNECTED", 12), installed
    )
    assert "the installed tflite-runtime" in str(error)
    assert "install ai-edge-litert instead (pip install 'kerasforge[edge]')" in str(error)
    assert "model.tflite (" not in str(error), "not itself"
    assert "tflite/dynamic.tflite" not in str(error), "99.0.0 is not loadable"
