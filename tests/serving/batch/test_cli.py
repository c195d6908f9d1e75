"""``kerasforge batch-predict``'s launch errors (``serving/batch/plan.py``): one line on
stderr and exit status 2, before any job starts."""

from __future__ import annotations

from kerasforge.serving.batch.plan import file_kind, record_kind
from tests.conftest import run_cli


def batch_predict(*args: str):
    return run_cli("batch-predict", *args, timeout=180)


def test_an_unknown_model_is_one_line_and_exit_2(published, tmp_path):
    repository = published.published.path.parents[1]
    proc = batch_predict(
        "--model",
        "nope",
        "--repository",
        str(repository),
        "--input",
        "x/*.png",
        "--output",
        str(tmp_path / "out"),
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: no published model 'nope'")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_glob_matching_nothing_is_one_line_and_exit_2(published, tmp_path):
    repository = published.published.path.parents[1]
    proc = batch_predict(
        "--model",
        published.published.name,
        "--repository",
        str(repository),
        "--input",
        str(tmp_path / "*.png"),
        "--output",
        str(tmp_path / "out"),
    )
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --input") and "matches no files" in last
    assert "Traceback" not in proc.stderr


def test_an_unknown_label_names_the_labels_there_are(published, tmp_path):
    repository = published.published.path.parents[1]
    proc = batch_predict(
        "--model",
        published.published.name,
        "--repository",
        str(repository),
        "--label",
        "canary",
        "--input",
        str(tmp_path / "*.png"),
        "--output",
        str(tmp_path / "out"),
    )
    assert proc.returncode == 2
    assert "no version label 'canary'" in proc.stderr.strip().splitlines()[-1]


def test_files_of_two_kinds_or_an_unknown_suffix_are_refused():
    import pytest

    from kerasforge.serving.errors import ServingError

    with pytest.raises(ServingError, match="mixes kinds of files"):
        file_kind(["a.png", "b.csv"])
    with pytest.raises(ServingError, match=r"received a \.parquet file"):
        file_kind(["a.parquet"])
    assert file_kind(["a.PNG", "b.jpg"]) == "image"


def test_a_tfrecord_says_what_it_holds_by_its_first_byte():
    import tensorflow as tf

    example = tf.train.Example(
        features=tf.train.Features(feature={"x": tf.train.Feature()})
    ).SerializeToString()
    tensor = tf.make_tensor_proto([1.0]).SerializeToString()
    assert record_kind(example) == "example"
    assert record_kind(tensor) == "tensor"
    assert record_kind(None) == "example"  # an empty file: no records to tell
