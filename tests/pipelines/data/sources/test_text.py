"""Text sources: folders of .txt files, a CSV text column, the generated chase task."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from kerasforge.pipelines.config.experiment import FileConfig
from kerasforge.pipelines.data.pipeline import load_source, split
from kerasforge.pipelines.data.sources.text import csv_text, text_folder
from kerasforge.pipelines.data.sources.textgen import chase_examples
from kerasforge.pipelines.errors import DataError


def write_folder(root, files: dict[str, bytes]):
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def test_text_folder_reads_classes_and_skips_unreadable_files(tmp_path):
    root = write_folder(
        tmp_path / "reviews",
        {
            "neg/a.txt": b"Not good at all.",
            "neg/b.txt": "Caf\u00e9 was awful".encode(),
            "neg/latin1.txt": "Caf\u00e9 m\u00e9diocre".encode("latin-1"),  # not UTF-8
            "pos/a.txt": b"Really good!\n",
            "pos/blank.txt": b"  \n",
            "pos/notes.md": b"ignored: not a .txt",
        },
    )
    data = text_folder(FileConfig(path=root))
    assert data.info.inputs == "text" and data.info.class_names == ("neg", "pos")
    assert data.x.tolist() == ["Not good at all.", "Caf\u00e9 was awful", "Really good!"]
    assert data.y.tolist() == [0, 0, 1]
    assert data.info.skipped_count == 2
    assert {p.rsplit("/", 1)[-1] for p in data.info.skipped} == {"latin1.txt", "blank.txt"}


def test_text_folder_refuses_an_empty_class_naming_it(tmp_path):
    root = write_folder(tmp_path / "t", {"a/1.txt": b"hello", "b/1.txt": b"\xff\xfe\x00bad"})
    (root / "c").mkdir()
    with pytest.raises(DataError, match=r"class folder\(s\) .*'.*/b', '.*/c'.* hold no readable"):
        text_folder(FileConfig(path=root))


@pytest.mark.parametrize("make", ["missing", "one_class"])
def test_text_folder_needs_a_folder_of_two_classes(tmp_path, make):
    root = tmp_path / "t"
    if make == "one_class":
        write_folder(root, {"only/1.txt": b"hello"})
    with pytest.raises(DataError, match=r"text_folder reads a folder|at least 2"):
        text_folder(FileConfig(path=root))


def test_csv_text_reads_a_text_column_and_string_labels(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text('id,review,stars\n1,"Good, really",pos\n2,bad,neg\n3,fine,pos\n')
    data = csv_text(FileConfig(path=path, text="review", label="stars"))
    assert data.x.tolist() == ["Good, really", "bad", "fine"]
    assert data.info.class_names == ("neg", "pos") and data.y.tolist() == [1, 0, 1]


def test_csv_text_names_a_missing_column_and_empty_texts(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("review,label\nok,a\n,b\nfine,b\n")
    with pytest.raises(DataError, match=r"no column\(s\) \['text'\]; its columns are"):
        csv_text(FileConfig(path=path))
    with pytest.raises(DataError, match=r"1 row\(s\) with an empty text .* row 3.*'drop'"):
        csv_text(FileConfig(path=path, text="review"))
    kept = csv_text(FileConfig(path=path, text="review", missing="drop"))
    assert kept.x.tolist() == ["ok", "fine"]


def test_csv_text_refuses_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes("text,label\nm\u00e9diocre,a\n".encode("latin-1"))
    with pytest.raises(DataError, match="is not a UTF-8 CSV file"):
        csv_text(FileConfig(path=path))


def test_chase_is_seeded_balanced_and_names_both_animals_once():
    first, labels = chase_examples(400, seed=1)
    again, _ = chase_examples(400, seed=1)
    assert first.tolist() == again.tolist()
    assert 0.4 < labels.mean() < 0.6
    for text in first:
        words = Counter(text.split())
        assert words["cat"] == 1 and words["dog"] == 1


def test_chase_labels_are_independent_of_the_bag_of_words():
    """Each word's presence is (near) equally frequent in both classes: no bag-of-words signal."""
    texts, labels = chase_examples(6000, seed=3)
    vocabulary = sorted({w for t in texts for w in t.split()})
    present = np.array([[w in t.split() for w in vocabulary] for t in texts], "float64")
    gap = np.abs(present[labels == 0].mean(0) - present[labels == 1].mean(0))
    assert gap.max() < 0.05, dict(zip(vocabulary, gap.round(3), strict=True))


def test_chase_splits_into_text_arrays():
    parts = split(load_source("chase"), 0.15, 0.15, seed=0)
    assert parts.x_train.dtype == object and isinstance(parts.x_train[0], str)
    assert parts.info.inputs == "text" and parts.num_classes == 2
