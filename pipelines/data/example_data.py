"""Write the example data files the file-source configs read, on demand.

Not kept in git: the first run that reads one of them (``load_source`` calls
:func:`ensure_example`), the tests and ``make example-data`` write them, the same
bytes every time.

Generated from scikit-learn's bundled sets, so nothing is downloaded:
``configs/data/wine.csv`` (named columns, string labels, a few empty cells
for the missing-value policy), ``configs/data/wine.npz`` (arrays ``x``
and ``label``), ``configs/data/digits_folder/<digit>/<n>.png`` (the 8x8
digits as an image folder), ``configs/data/digits.tfrecord`` (tf.Example
records with ``pixels`` and ``label``), and generated chase sentences
(``pipelines/data/sources/textgen.py``) as a text folder
``configs/data/chase_folder/<cat|dog>/<n>.txt`` and a CSV text column ``configs/data/chase.csv``.
"""

from __future__ import annotations

import csv
import fcntl
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

EXAMPLES = Path("configs") / "data"
EXAMPLE_NAMES = (
    "wine.csv",
    "wine.npz",
    "digits_folder",
    "digits.tfrecord",
    "chase_folder",
    "chase.csv",
)
"""What :func:`write_examples` writes into its folder."""


def is_example(path: Path) -> bool:
    """True for one of the example files inside a ``configs/data`` folder."""
    path = Path(path)
    return path.name in EXAMPLE_NAMES and path.parent.parts[-2:] == ("configs", "data")


def ensure_example(path: Path) -> bool:
    """Write the example files when ``path`` is a missing one of them; True if written.

    Each file or folder is written aside and renamed into place, under a lock, so a
    process that finds one finds it whole, and two processes write it once.
    """
    path = Path(path)
    if path.exists() or not is_example(path):
        return False
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".examples.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return False
        with tempfile.TemporaryDirectory(dir=folder, prefix=".writing-") as tmp:
            write_examples(Path(tmp))
            for name in EXAMPLE_NAMES:
                if not (folder / name).exists():
                    os.replace(Path(tmp) / name, folder / name)
    print(f"example data: wrote {folder}/ (generated from scikit-learn's bundled sets)")
    return True


def write_examples(folder: Path = EXAMPLES) -> list[Path]:
    """Write the example files into ``folder``; returns their paths."""
    from sklearn.datasets import load_wine

    bunch = load_wine()
    folder.mkdir(parents=True, exist_ok=True)
    names = [n.replace("/", "_") for n in bunch.feature_names]
    labels = [str(bunch.target_names[t]) for t in bunch.target]
    csv_path = folder / "wine.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*names, "cultivar"])
        for i, (row, label) in enumerate(zip(bunch.data, labels, strict=True)):
            cells = [f"{v:g}" for v in row]
            if i % 37 == 5:  # a few empty cells, filled by `missing: mean`
                cells[i % len(cells)] = ""
            writer.writerow([*cells, label])
    npz_path = folder / "wine.npz"
    np.savez_compressed(npz_path, x=bunch.data.astype("float32"), label=bunch.target)
    write_digit_images(folder / "digits_folder")
    tfrecord = write_digit_tfrecord(folder / "digits.tfrecord")
    texts = [write_text_folder(folder / "chase_folder"), write_text_csv(folder / "chase.csv")]
    return [csv_path, npz_path, folder / "digits_folder", tfrecord, *texts]


def write_text_folder(folder: Path, count: int = 1200) -> Path:
    """Generated chase sentences as a text folder: ``folder/<cat|dog>/<n>.txt``."""
    from .sources.textgen import ANIMALS, chase_examples

    texts, labels = chase_examples(count, seed=1)
    for i, (text, label) in enumerate(zip(texts, labels, strict=True)):
        path = folder / ANIMALS[label] / f"{i:04d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    return folder


def write_text_csv(path: Path, count: int = 1200) -> Path:
    """Generated chase sentences as a CSV with ``id``, ``sentence`` and ``chaser`` columns."""
    from .sources.textgen import ANIMALS, chase_examples

    texts, labels = chase_examples(count, seed=2)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "sentence", "chaser"])
        for i, (text, label) in enumerate(zip(texts, labels, strict=True)):
            writer.writerow([i, text, ANIMALS[label]])
    return path


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """The bundled 8x8 digits as ``uint8`` pixels 0-255 ``[n, 8, 8]`` and their labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return np.round(bunch.images * (255.0 / 16.0)).astype("uint8"), bunch.target


def write_digit_images(folder: Path, suffix: str = ".png", every: int = 1) -> list[Path]:
    """Every ``every``-th digit as an image file ``folder/<digit>/<n><suffix>``."""
    from PIL import Image

    images, labels = digit_images()
    paths = []
    for i in range(0, len(labels), every):
        path = folder / str(labels[i]) / f"{i:04d}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i], mode="L").save(path)
        paths.append(path)
    return paths


def write_digit_tfrecord(path: Path, every: int = 1) -> Path:
    """The digits as tf.Example records: ``pixels`` (64 int64 values, 8x8x1) and ``label``."""
    import tensorflow as tf

    images, labels = digit_images()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i in range(0, len(labels), every):
            features = {
                "pixels": tf.train.Feature(
                    int64_list=tf.train.Int64List(value=images[i].ravel().tolist())
                ),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(labels[i])])),
            }
            example = tf.train.Example(features=tf.train.Features(feature=features))
            writer.write(example.SerializeToString(deterministic=True))
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else EXAMPLES
    shutil.rmtree(target, ignore_errors=True)
    for written in write_examples(target):
        print(written)
