"""Recurrent backbones: stacked blocks, bidirectional, names, argument checks, .keras round trip."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge import models
from kerasforge.pipelines.config.options import model_names

NAMES = ["simple_rnn", "lstm", "gru"]


def test_recurrent_family_is_registered_for_forecasting_and_classification():
    assert set(NAMES) <= set(model_names("forecasting"))
    assert set(NAMES) <= set(model_names("classification"))
    for name in NAMES:
        entry = models.get_entry(name)
        assert not entry.has_head, "a backbone: the task adds the head"
        assert entry.data_arguments() == ("input_shape",)
        assert {"units", "bidirectional", "dropout", "recurrent_dropout"} <= set(
            models.builder_options(name)
        )


@pytest.mark.parametrize("name", NAMES)
def test_stacked_layers_are_named_blocks_and_return_the_last_state(name):
    model = models.build_model(name, input_shape=(5, 3), units=(6, 4))
    layer_names = [layer.name for layer in model.layers]
    assert layer_names == ["sequence", f"block1_{name}", f"block2_{name}"]
    assert model.get_layer(f"block1_{name}").return_sequences
    assert not model.get_layer(f"block2_{name}").return_sequences
    assert model.get_layer(f"block2_{name}").unroll, "unrolled: TFLite builtins only"
    assert model.output.shape == (None, 4)


@pytest.mark.parametrize("name", NAMES)
def test_bidirectional_doubles_the_width_and_is_named(name):
    model = models.build_model(name, input_shape=(5, 2), units=(3,), bidirectional=True)
    assert [layer.name for layer in model.layers] == ["sequence", "block1_bidirectional"]
    assert model.output.shape == (None, 6)


def test_bidirectional_reads_both_directions():
    forward = models.build_model("gru", input_shape=(4, 1), units=(2,), bidirectional=True)
    x = np.arange(8, dtype="float32").reshape(2, 4, 1)
    out = forward.predict(x, verbose=0)
    # The backward half of the output depends on the sequence's first step, the
    # forward half on its last: changing the first step moves both halves.
    changed = x.copy()
    changed[:, 0] += 5.0
    moved = np.abs(forward.predict(changed, verbose=0) - out)
    assert moved[:, :2].max() > 0 and moved[:, 2:].max() > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"units": ()}, r"units must be a non-empty list of positive widths; got \[\]"),
        ({"units": (4, 0)}, r"got \[4, 0\]"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\); got 1.0"),
        ({"recurrent_dropout": -0.1}, r"recurrent_dropout must be in \[0, 1\); got -0.1"),
        ({"input_shape": (8,)}, r"input_shape must be \(steps, features\), both >= 1; got \(8,\)"),
    ],
)
def test_bad_arguments_name_the_received_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.build_model("lstm", **kwargs)


@pytest.mark.heavy
@pytest.mark.parametrize("name", NAMES)
def test_keras_file_round_trip_with_dropout_gives_identical_outputs(name, tmp_path):
    model = models.build_model(
        name, input_shape=(6, 2), units=(4, 3), bidirectional=True, dropout=0.2,
        recurrent_dropout=0.1,
    )  # fmt: skip
    x = np.random.default_rng(0).normal(size=(3, 6, 2)).astype("float32")
    model.save(tmp_path / "m.keras")
    reloaded = models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(model.predict(x, verbose=0), reloaded.predict(x, verbose=0))
    layer = reloaded.get_layer("block1_bidirectional").forward_layer
    assert (layer.dropout, layer.recurrent_dropout) == (0.2, 0.1)
