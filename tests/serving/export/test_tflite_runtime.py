"""The oldest runtime each TFLite variant needs: read from the flatbuffer, recorded on the card,
and the edge model one that tflite-runtime 2.14 (a Raspberry Pi's last pip runtime) loads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerasforge.serving.card import read_card
from kerasforge.serving.edge.compat import OLDEST_RUNTIME, runs_on
from kerasforge.serving.export import tflite


def test_every_variant_records_what_its_flatbuffer_says_it_needs(published):
    version = published.published.path
    variants = read_card(version).tflite_variants()
    assert list(variants) == list(tflite.VARIANTS)
    for name, facts in variants.items():
        needs = tflite.runtime_needs((version / "tflite" / f"{name}.tflite").read_bytes())
        assert needs.min_runtime is not None, f"{name}: the converter writes min_runtime_version"
        assert (facts.min_runtime, facts.ops) == (needs.min_runtime, needs.ops), name
        assert {"CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(needs.ops), needs.ops
        sidecar = json.loads((version / "tflite" / f"{name}.json").read_text())
        assert sidecar["min_runtime"] == needs.min_runtime
    assert variants["int8"].ops["FULLY_CONNECTED"] == 4, "int8 in, int8 out (op_version.cc)"


def test_the_edge_model_loads_on_the_oldest_supported_runtime(published):
    """Before the fix, model.tflite could be a variant tflite-runtime 2.14 refuses."""
    version = published.published.path
    card = read_card(version)
    needs = tflite.runtime_needs((version / "model.tflite").read_bytes())
    assert runs_on(needs.min_runtime, OLDEST_RUNTIME), needs
    assert card.tflite_variants()[card.tflite["edge_model"]].min_runtime == needs.min_runtime
    assert OLDEST_RUNTIME in card.tflite["edge_reason"], card.tflite["edge_reason"]
    assert card.tflite["edge_reason"] == published.published.parity.edge_reason


@pytest.fixture(scope="module")
def dense_saved_model(tmp_path_factory):
    """A SavedModel over a Dense kernel big enough (64x64) for dynamic-range quantization."""
    import keras

    features = keras.Input((64,), name="features")
    hidden = keras.layers.Dense(64, activation="relu", name="hidden")(features)
    model = keras.Model(features, keras.layers.Dense(10, name="logits")(hidden))
    folder = tmp_path_factory.mktemp("dense") / "saved_model"
    model.export(str(folder), verbose=False)
    return folder


def test_per_channel_dense_weights_are_what_tflite_2_14_lacks(dense_saved_model):
    """TF's default dynamic range (per-channel Dense) writes FULLY_CONNECTED v12, TFLite 2.17;
    kerasforge's dynamic variant (one scale per Dense kernel) writes v9, TFLite 2.3."""
    import tensorflow as tf

    default = tf.lite.TFLiteConverter.from_saved_model(str(dense_saved_model))
    default.optimizations = [tf.lite.Optimize.DEFAULT]
    needs = tflite.runtime_needs(default.convert())
    assert (needs.ops["FULLY_CONNECTED"], needs.min_runtime) == (12, "2.17.0")
    ours, _select_tf_ops = tflite.convert(dense_saved_model, "dynamic", None)
    needs = tflite.runtime_needs(ours)
    assert needs.ops["FULLY_CONNECTED"] == 9 and runs_on(needs.min_runtime, OLDEST_RUNTIME)
    assert len(ours) < 64 * 64 * 4 / 2, "the 64x64 kernel is stored as int8"


def test_a_flatbuffer_without_the_metadata_has_no_min_runtime(published):
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    path = published.published.path / "tflite" / "float32.tflite"
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(path.read_bytes(), 0))
    model.metadata = [m for m in model.metadata if m.name != b"min_runtime_version"]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    needs = tflite.runtime_needs(bytes(builder.Output()))
    assert needs.min_runtime is None and needs.ops["FULLY_CONNECTED"] == 1
    assert np.all([v >= 1 for v in needs.ops.values()])
