"""The image-folder source: listing, the skipped-file check, decoding, splits and streaming."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.data.example_data import digit_images, write_digit_images
from kerasforge.pipelines.data.pipeline import load_source, split
from kerasforge.pipelines.data.sources import imagefolder
from kerasforge.pipelines.errors import DataError
from kerasforge.pipelines.tasks import get_task
from kerasforge.pipelines.training.inputs import load_splits, make_datasets
from tests.conftest import ROOT

EVERY = 9
"""Every 9th digit: 200 images, about 20 per class."""


def write_folder(root: Path) -> dict[str, list[Path]]:
    """Digits as PNG (even classes) and JPEG (odd classes), a GIF and a BMP, and bad files."""
    pngs = write_digit_images(root, ".png", every=EVERY)
    odd = [p for p in pngs if int(p.parent.name) % 2]
    for p in odd:  # odd classes as JPEG instead
        Image.open(p).save(p.with_suffix(".jpg"), quality=95)
        p.unlink()
    even = [p for p in pngs if p.exists()]
    Image.open(even[0]).save(root / "0" / "extra.gif")
    Image.open(even[1]).save(root / "0" / "extra.BMP")
    data = even[0].read_bytes()
    bad = {
        "truncated": root / "2" / "truncated.png",
        "zero_byte": root / "4" / "empty.png",
        "text_as_jpeg": root / "6" / "notes.jpg",
        "truncated_jpeg": root / "3" / "cut.jpeg",
    }
    bad["truncated"].write_bytes(data[: len(data) // 2])
    bad["zero_byte"].write_bytes(b"")
    bad["text_as_jpeg"].write_text("not an image")
    jpeg = next(p for p in (root / "3").glob("*.jpg")).read_bytes()
    bad["truncated_jpeg"].write_bytes(jpeg[: len(jpeg) // 3])
    (root / "8" / "README.txt").write_text("ignored: not an image suffix")
    renamed = root / "8" / "png_named.jpg"  # a PNG with a JPEG suffix still decodes
    renamed.write_bytes((root / "8").glob("*.png").__next__().read_bytes())
    return {"bad": list(bad.values()), "renamed": [renamed]}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> tuple[Path, dict[str, list[Path]]]:
    root = tmp_path_factory.mktemp("digits_folder")
    return root, write_folder(root)


def _cfg(root: Path, *overrides: str):
    return load_config(
        ROOT / "configs" / "digits_folder.yaml",
        [f"data.file.path={root}", "model.options.filters=[4]", *overrides],
    )


def test_corrupt_files_are_skipped_counted_and_named(folder):
    root, files = folder
    data = load_source("image_folder", _cfg(root).data.file)
    assert data.info.skipped_count == len(files["bad"])
    assert set(data.info.skipped) == {str(p) for p in files["bad"]}
    listed = set(data.x.tolist())
    assert str(files["renamed"][0]) in listed
    assert not any(p.endswith(".txt") for p in listed)
    assert any(p.endswith(".gif") for p in listed) and any(p.endswith(".BMP") for p in listed)
    assert data.info.class_names == tuple(str(d) for d in range(10))
    assert all(Path(p).parent.name == str(label) for p, label in zip(data.x, data.y, strict=True))


def test_decoded_pixels_match_the_originals(folder):
    root, _ = folder
    images, _ = digit_images()
    png = sorted((root / "0").glob("*.png"))[0]
    jpeg = sorted((root / "1").glob("*.jpg"))[0]
    decoded = imagefolder.load_images(np.array([str(png), str(jpeg)]), (8, 8), 1)
    assert decoded.shape == (2, 8, 8, 1) and decoded.dtype == np.float32
    np.testing.assert_allclose(decoded[0, ..., 0], images[int(png.stem)], atol=0.1)
    assert np.abs(decoded[1, ..., 0] - images[int(jpeg.stem)]).mean() < 12  # JPEG is lossy
    rgb = imagefolder.load_images(np.array([str(png)]), (16, 12), 3)
    assert rgb.shape == (1, 16, 12, 3)


def test_an_empty_class_folder_is_an_error_naming_it(tmp_path):
    write_digit_images(tmp_path, every=50)
    (tmp_path / "7").mkdir(exist_ok=True)
    for p in (tmp_path / "7").iterdir():
        p.unlink()
    (tmp_path / "7" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"class folder\(s\) .*7'\] hold no"):
        load_source("image_folder", _cfg(tmp_path).data.file)


def test_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(DataError, match="no folder at"):
        load_source("image_folder", _cfg(tmp_path / "absent").data.file)


def test_split_over_files_is_seeded_and_stratified(folder):
    root, _ = folder
    data = load_source("image_folder", _cfg(root).data.file)
    first, again = (split(data, 0.15, 0.15, seed=3) for _ in range(2))
    other = split(data, 0.15, 0.15, seed=4)
    np.testing.assert_array_equal(first.x_test, again.x_test)
    assert not np.array_equal(first.x_test, other.x_test)
    for labels in (first.y_train, first.y_val, first.y_test):
        assert set(labels.tolist()) == set(range(10))


def test_streamed_splits_keep_every_file_and_a_bounded_sample(folder, tmp_path, monkeypatch):
    root, _ = folder
    monkeypatch.setattr(imagefolder, "MAX_SAMPLE", 25)
    cfg = _cfg(root, f"data.cache_dir={tmp_path / 'cache'}", "data.augmentation.mixup_alpha=0")
    task = get_task(cfg.task.name, cfg.task.options)
    splits = load_splits(cfg, task)
    assert splits.x_train.shape == (25, 8, 8, 1) and len(splits.y_train) == 25
    assert len(splits.files.paths["train"]) == splits.sizes["train"] > 25
    datasets = make_datasets(cfg, task, splits)
    test_labels = np.concatenate([y for _, y in datasets["test"]])
    np.testing.assert_array_equal(test_labels, splits.files.labels["test"])
    epoch = list(datasets["train"].take(datasets["steps_per_epoch"]))
    seen = np.concatenate([y.numpy() for _, y in epoch])
    assert sorted(seen.tolist()) == sorted(splits.files.labels["train"].tolist())
    assert any((tmp_path / "cache").iterdir()), "decoded images cached in files"
    resumed = make_datasets(cfg, task, splits, first_epoch=1)
    second = list(datasets["train"].take(2 * datasets["steps_per_epoch"]))[-1][1]
    np.testing.assert_array_equal(
        list(resumed["train"].take(datasets["steps_per_epoch"]))[-1][1], second
    )


@pytest.mark.parametrize("cache", [False, True])
def test_each_streamed_epoch_is_every_file_once_in_its_own_resumable_order(folder, cache):
    root, _ = folder
    cfg = _cfg(root, f"data.cache={str(cache).lower()}", "data.augmentation.mixup_alpha=0")
    task = get_task(cfg.task.name, cfg.task.options)
    files = load_splits(cfg, task).files

    def epochs(first: int) -> list[list[int]]:
        streamed = imagefolder.file_datasets(cfg.data, files, seed=7, first_epoch=first, epochs=3)
        labels = np.concatenate([y.numpy() for _, y in streamed["train"]])
        return np.split(labels, 3 - first)

    full, resumed = epochs(0), epochs(1)
    for epoch in full:
        assert sorted(epoch.tolist()) == sorted(files.labels["train"].tolist())
    assert not np.array_equal(full[0], full[1]), "each epoch reshuffled"
    np.testing.assert_array_equal(resumed[0], full[1])  # a resumed run sees the same epoch 1


@pytest.mark.heavy
def test_training_from_a_folder_reports_skipped_files_and_exports_no_augmentation(
    folder, tmp_path, capsys
):
    import mlflow

    from kerasforge.pipelines.tracking.run import tracking_uri
    from kerasforge.pipelines.training.train import train

    root, files = folder
    cfg = _cfg(
        root,
        f"output_dir={tmp_path}",
        "model.options.dense_units=8",
        "train.epochs=2",
        "export.tflite=false",
    )
    assert cfg.data.augmentation.mixes_labels and cfg.data.augmentation.rotation > 0
    result = train(cfg)
    out = capsys.readouterr().out
    assert f"skipped {len(files['bad'])} unreadable file(s)" in out
    assert 0.0 <= result.test_metrics["test_accuracy"] <= 1.0
    run = mlflow.MlflowClient(tracking_uri(None, tmp_path)).get_run(result.run_id)
    assert run.data.metrics["data_skipped_files"] == len(files["bad"])
    assert str(files["bad"][0]) in run.data.tags["data.skipped_files"]
    graph = b"".join(p.read_bytes() for p in result.published.path.rglob("*.pb"))
    for op in (b"ImageProjectiveTransform", b"StatelessRandomGamma", b"StatelessRandomUniform"):
        assert op not in graph, f"augmentation op {op!r} in the exported model"
    assert not [
        layer for layer in result.model._flatten_layers() if "Random" in type(layer).__name__
    ]
