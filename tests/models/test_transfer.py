"""Transfer learning: local weights files, blocks, and gradual unfreezing during fit."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge import models
from kerasforge.models.backbones import backbone_blocks
from kerasforge.pipelines.data.types import DataInfo
from kerasforge.pipelines.tasks import get_task

SHAPE = (32, 32, 1)
BACKBONE = "MobileNetV2"


def _assembled(**options):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (16, *SHAPE)).astype("float32")
    y = np.arange(16) % 3
    info = DataInfo("example", "image", "classes", ("a", "b", "c"))
    task = get_task("classification")
    backbone = models.build_model("transfer", input_shape=SHAPE, backbone=BACKBONE, **options)
    return task.assemble(backbone, models.get_entry("transfer"), info, x, y), task, x, y


def _backbone(model):
    from kerasforge.models.backbones import find_backbone

    return find_backbone(model)


def test_a_local_weights_file_is_loaded(tmp_path):
    import keras

    source = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg"
    )
    path = tmp_path / "mobilenet_v2_notop.weights.h5"
    source.save_weights(path)
    model, *_ = _assembled(weights=str(path))
    loaded = _backbone(model).weights
    assert len(loaded) == len(source.weights)
    for ours, theirs in zip(loaded, source.weights, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_modes_set_what_trains_at_build():
    frozen, *_ = _assembled(mode="feature_extraction")
    assert _backbone(frozen).trainable_weights == []
    tuned, *_ = _assembled(mode="fine_tune", trainable_blocks=2)
    backbone = _backbone(tuned)
    top_two = {
        w.path
        for block in backbone_blocks(backbone)[:2]
        for layer in block
        for w in layer.trainable_weights
    }
    assert {w.path for w in backbone.trainable_weights} == top_two and top_two


@pytest.mark.heavy
def test_gradual_unfreezing_during_fit(tmp_path):
    """Blocks unfreeze from the top at the given epochs; BN statistics never move (inference
    mode); the optimizer's iteration count carries across the recompiles."""
    import keras

    options = {"mode": "gradual_unfreeze", "trainable_blocks": 1, "unfreeze_epochs": (1, 2)}
    options["fine_tune_learning_rate"] = 0.01
    model, task, x, y = _assembled(**options)
    backbone = _backbone(model)
    blocks = backbone_blocks(backbone)
    stats = {w.path: w.numpy().copy() for w in backbone.non_trainable_weights if "moving" in w.path}
    frozen = {w.path: w.numpy().copy() for w in blocks[2][0].weights}
    top = {w.path: w.numpy().copy() for layer in blocks[0] for w in layer.weights}
    (callback,) = models.get_entry("transfer").make_callbacks(options)
    model.compile(optimizer=keras.optimizers.Adam(0.05), **task.compile_arguments())
    model.fit(*task.training_pairs(x, y), batch_size=8, epochs=3, callbacks=[callback], verbose=0)

    def paths(block_count):
        return sorted(
            w.path for b in blocks[:block_count] for layer in b for w in layer.trainable_weights
        )

    assert callback.history[0] == []
    assert sorted(callback.history[1]) == paths(1)
    assert sorted(callback.history[2]) == paths(2)
    assert int(model.optimizer.iterations) == 3 * 2, "2 steps per epoch, counted across recompiles"
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    for path, value in stats.items():
        moved = {w.path: w for w in backbone.weights}[path]
        np.testing.assert_array_equal(moved.numpy(), value, err_msg=f"{path} moved")
    for w in blocks[2][0].weights:
        np.testing.assert_array_equal(w.numpy(), frozen[w.path], err_msg=f"{w.path} still frozen")
    changed = [w.path for layer in blocks[0] for w in layer.trainable_weights]
    assert changed and all(
        not np.array_equal(w.numpy(), top[w.path])  # random weights: some steps are tiny
        for layer in blocks[0]
        for w in layer.trainable_weights
    ), "the unfrozen top block trained"


@pytest.mark.heavy
def test_kerasforge_backbone_writes_the_weights_a_new_transfer_model_starts_from(tmp_path):
    """Pretrain, save the backbone, transfer: the new model's backbone holds exactly the
    trained checkpoint's backbone weights (its head is new)."""
    from tests.conftest import run_cli

    trained, *_ = _assembled(mode="fine_tune", trainable_blocks=1)
    for variable in _backbone(trained).weights:  # "trained": unlike any fresh initialisation
        variable.assign(np.full(variable.shape, 0.5, dtype=variable.dtype))
    checkpoint = tmp_path / "best.keras"
    trained.save(checkpoint)
    out = tmp_path / "pretrained.weights.h5"
    done = run_cli("backbone", str(checkpoint), str(out))
    assert done.returncode == 0, done.stderr
    assert "model.options.weights=" in done.stdout and out.is_file()

    transferred, *_ = _assembled(weights=str(out), mode="feature_extraction")
    expected = _backbone(trained).weights
    got = _backbone(transferred).weights
    assert len(got) == len(expected)
    for ours, theirs in zip(got, expected, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.heavy
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.keras", "x.weights.h5"], "no checkpoint file at"),
        (["{ckpt}", "x.h5"], "must end with .weights.h5"),
        (["{plain}", "x.weights.h5"], "holds no `transfer` backbone"),
    ],
)
def test_kerasforge_backbone_refuses_bad_arguments_with_one_line(args, message, tmp_path):
    from tests.conftest import run_cli

    trained, *_ = _assembled()
    trained.save(tmp_path / "transfer.keras")
    plain = models.build_model("digits_cnn")
    plain.save(tmp_path / "plain.keras")
    paths = {"ckpt": tmp_path / "transfer.keras", "plain": tmp_path / "plain.keras"}
    argv = [a.format(**paths) if "{" in a else str(tmp_path / a) for a in args]
    done = run_cli("backbone", *argv)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.weights.h5").exists()
