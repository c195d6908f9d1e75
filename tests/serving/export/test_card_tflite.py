"""The card's tflite section read typed: older cards still read, malformed ones say so."""

from __future__ import annotations

import pytest

from kerasforge.serving.card import CardError, ModelCard, read_card, write_card

BEFORE_MIN_RUNTIME = {  # a tflite section as kerasforge wrote it before min_runtime
    "edge_model": "dynamic",
    "budget_points": 1.0,
    "variants": {
        "float32": {
            "file": "tflite/float32.tflite",
            "size_bytes": 7540,
            "select_tf_ops": False,
            "inputs": [{"name": "pixels", "dtype": "float32", "quantization": None}],
            "outputs": [],
        },
        "int8": {"error": "ValueError: int8 needs a representative dataset"},
    },
}


def test_a_card_written_before_min_runtime_still_reads(tmp_path):
    card = ModelCard(task="classification", architecture="digits_cnn", tflite=BEFORE_MIN_RUNTIME)
    write_card(tmp_path, card)
    variants = read_card(tmp_path).tflite_variants()
    assert variants["float32"].min_runtime is None and variants["float32"].ops == {}
    assert variants["float32"].size_bytes == 7540
    assert variants["float32"].inputs[0]["name"] == "pixels", "unknown facts are kept"
    assert variants["int8"].file is None and variants["int8"].error.startswith("ValueError")
    assert ModelCard(task="regression", architecture="mlp").tflite_variants() == {}


def test_min_runtime_and_ops_round_trip(tmp_path):
    section = {
        "variants": {
            "dynamic": {
                "file": "tflite/dynamic.tflite",
                "min_runtime": "2.4.0",
                "ops": {"CONV_2D": 5, "FULLY_CONNECTED": 9},
            }
        }
    }
    write_card(tmp_path, ModelCard(task="classification", architecture="a", tflite=section))
    dynamic = read_card(tmp_path).tflite_variants()["dynamic"]
    assert (dynamic.min_runtime, dynamic.ops) == ("2.4.0", {"CONV_2D": 5, "FULLY_CONNECTED": 9})


@pytest.mark.parametrize(
    "variants",
    [{"dynamic": {"ops": {"CONV_2D": "five"}}}, {"dynamic": "tflite/dynamic.tflite"}, ["x"]],
)
def test_a_malformed_variant_is_one_card_error(variants):
    card = ModelCard(task="classification", architecture="a", tflite={"variants": variants})
    with pytest.raises(CardError, match=r"tflite\.variants is malformed .*; republish"):
        card.tflite_variants()
