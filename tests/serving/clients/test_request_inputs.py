"""Input files -> one predict request (``serving/clients/request_inputs.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge.cli.console import UsageError
from kerasforge.cli.main import main
from kerasforge.serving.clients.request_inputs import (
    RequestInputs,
    predict_target,
    read_inputs,
    write_last_trained,
    write_sample_request,
)


def test_npy_json_and_csv_become_instances(tmp_path):
    np.save(tmp_path / "batch.npy", np.zeros((2, 2, 1), "float32"))
    np.save(tmp_path / "more.npy", np.ones((1, 2, 1), "float32"))
    batches = read_inputs([tmp_path / "batch.npy", tmp_path / "more.npy"])
    assert batches == RequestInputs([[[0.0], [0.0]], [[0.0], [0.0]], [[1.0], [1.0]]])
    (tmp_path / "body.json").write_text('{"instances": [[1, 2]], "signature_name": "predict"}')
    assert read_inputs([tmp_path / "body.json"]) == RequestInputs([[1, 2]], "predict")
    (tmp_path / "list.json").write_text("[[3]]")
    assert read_inputs([tmp_path / "list.json"]) == RequestInputs([[3]])
    (tmp_path / "rows.csv").write_text("age, bmi\n0.5,1\n-2,3e-1\n")
    assert read_inputs([tmp_path / "rows.csv"]) == RequestInputs(
        [{"age": 0.5, "bmi": 1.0}, {"age": -2.0, "bmi": 0.3}], "serving_features"
    )
    (tmp_path / "texts.txt").write_text("the dog chased a cat\n\n  3 March 2021  \n")
    assert read_inputs([tmp_path / "texts.txt"]) == RequestInputs(
        ["the dog chased a cat", "3 March 2021"]
    )


def test_images_are_sent_encoded_to_the_bytes_signature(tmp_path):
    (tmp_path / "a.PNG").write_bytes(b"\x89PNG fake")
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8 fake")
    request = read_inputs([tmp_path / "a.PNG", tmp_path / "b.jpg"])
    assert request == RequestInputs([b"\x89PNG fake", b"\xff\xd8 fake"], "serving_bytes")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"x.json": "{"}, "not valid JSON"),
        ({"x.json": '{"x": 1}'}, "expected a .npy batch"),
        ({"x.json": "[]"}, "expected a .npy batch"),
        ({"x.dat": "1,2"}, "received a .dat file"),
        ({"x.txt": "\n \n"}, "holds no text"),
        ({"x.csv": "a,b\n"}, "at least one data row"),
        ({"x.csv": "a,b\n1\n"}, "line 2: expected 2 values (a, b); received 1"),
        ({"x.csv": "a,b\n1,zz\n"}, "column 'b': expected a number; received 'zz'"),
        ({"x.npy": "not npy"}, "not a readable .npy array"),
        ({"x.csv": "a\n1\n", "y.json": "[[1]]"}, "inputs mix csv and json files"),
        ({"x.json": '{"instances": [1], "signature_name": "a"}', "y.json": "[2]"}, "different"),
    ],
)
def test_bad_inputs_get_one_clear_message(tmp_path, capsys, files, message):
    paths = []
    for name, content in files.items():
        paths.append(tmp_path / name)
        paths[-1].write_text(content)
    with pytest.raises(UsageError) as info:
        read_inputs(paths)
    assert message in str(info.value)
    assert main(["predict", *map(str, paths)]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_file_or_no_file_is_named(tmp_path):
    with pytest.raises(UsageError, match=r"input file .*nope.png' not found"):
        read_inputs([tmp_path / "nope.png"])
    with pytest.raises(UsageError, match="no inputs"):
        read_inputs([])
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(UsageError, match="is not UTF-8 text"):
        read_inputs([tmp_path / "latin1.txt"])


def test_arrays_go_to_serving_pixels_only_where_the_default_takes_bytes():
    from kerasforge.serving.clients.request_inputs import pixels_signature

    def metadata(default_dtype: str, *others: str) -> dict:
        defs = {"serving_default": {"inputs": {"x": {"dtype": default_dtype}}}}
        defs.update({name: {"inputs": {"x": {"dtype": "DT_FLOAT"}}} for name in others})
        return {"metadata": {"signature_def": {"signature_def": defs}}}

    assert pixels_signature(metadata("DT_STRING", "serving_pixels")) == "serving_pixels"
    assert pixels_signature(metadata("DT_FLOAT", "serving_pixels")) is None
    assert pixels_signature(metadata("DT_STRING")) is None  # nowhere else to send arrays
    assert pixels_signature({}) is None


def test_predict_asks_the_model_trained_last_with_its_sample_unless_told_otherwise(tmp_path):
    artifacts = tmp_path / "artifacts"
    digits = write_sample_request(artifacts, "digits_cnn", [[[[0.0]]]])
    rows = write_sample_request(artifacts, "diabetes_mlp", [[1.0, 2.0]])
    assert rows == artifacts / "samples" / "diabetes_mlp.json"
    write_last_trained(artifacts, "diabetes_mlp", 2, rows, "diabetes_mlp")

    target = predict_target(None, [], artifacts)
    assert (target.model, target.paths) == ("diabetes_mlp", [rows])
    assert target.note == f"predict: asking diabetes_mlp (trained last, version 2) with {rows}"
    assert read_inputs(target.paths) == RequestInputs([[1.0, 2.0]])

    named = predict_target("digits_cnn", [], artifacts)  # --model: that model's own sample
    assert (named.model, named.paths) == ("digits_cnn", [digits])
    assert named.note.startswith("predict: asking digits_cnn (--model) with ")
    given = predict_target(None, [tmp_path / "x.npy"], artifacts)  # files: the last model
    assert (given.model, given.paths) == ("diabetes_mlp", [tmp_path / "x.npy"])


def test_predict_before_any_training_or_without_a_sample_says_what_to_do(tmp_path):
    artifacts = tmp_path / "artifacts"
    fallback = predict_target(None, [tmp_path / "x.json"], artifacts)
    assert fallback.model == "digits_cnn" and "(the default; no " in fallback.note
    with pytest.raises(UsageError, match="no input files and no sample request for digits_cnn"):
        predict_target(None, [], artifacts)
    artifacts.mkdir()
    (artifacts / "last_trained.json").write_text('{"version": 1}')
    with pytest.raises(UsageError, match="naming the model trained last"):
        predict_target(None, [], artifacts)
