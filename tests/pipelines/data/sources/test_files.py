"""User files as sources (CSV, NumPy) and the data checks before training."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge.pipelines.config.experiment import ConfigError, load_config
from kerasforge.pipelines.data.pipeline import load_source
from kerasforge.pipelines.data.types import DataInfo, Dataset
from kerasforge.pipelines.data.validate import check_dataset, validate
from kerasforge.pipelines.errors import DataError


def file_cfg(source: str, path, *overrides: str):
    return load_config(None, [f"data.source={source}", f"data.file.path={path}", *overrides])


def write(path, text: str):
    path.write_text(text)
    return path


def test_csv_with_typed_columns_string_labels_and_categories(tmp_path):
    path = write(
        tmp_path / "t.csv",
        "size,colour,weight,kind\n1.5,red,3,b\n2.5,blue,4,a\n3.0,red,5,a\n0.5,green,6,b\n",
    )
    cfg = file_cfg(
        "csv_table",
        path,
        "data.file.label=kind",
        "data.file.columns={size: float, colour: category, weight: int}",
    )
    data = load_source("csv_table", cfg.data.file)
    assert data.info.class_names == ("a", "b")
    assert data.y.tolist() == [1, 0, 0, 1]
    assert data.info.feature_names == (
        "size",
        "colour=blue",
        "colour=green",
        "colour=red",
        "weight",
    )
    np.testing.assert_array_equal(data.x[0], [1.5, 0, 0, 1, 3])
    assert data.x.dtype == np.float32


@pytest.mark.parametrize(
    ("policy", "rows", "filled"),
    [("drop", 2, None), ("mean", 3, 2.0)],
)
def test_csv_missing_value_policies(tmp_path, policy, rows, filled):
    path = write(tmp_path / "m.csv", "a,b,label\n1,NA,0\n2,5,1\n3,7,0\n")
    data = load_source(
        "csv_table", file_cfg("csv_table", path, f"data.file.missing={policy}").data.file
    )
    assert len(data.y) == rows
    if filled is not None:
        assert data.x[0, 0] == 1 and data.x[0, 1] == pytest.approx(6.0)


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        ("a,b,label\n1,,0\n2,5,1\n", [], r"missing values in b: 1 \(first at row 2\).*'drop'"),
        ("a,b,label\n1,x,0\n2,5,1\n", [], r"column 'b' holds 'x', not a number"),
        ("a,b,kind\n1,2,0\n", [], r"no label column 'label'.*\['a', 'b', 'kind'\]"),
        ("a,b,label\n1,2\n", [], r"row 2 has 2 cells, the header 3"),
        ("a,b,label\n", [], r"header row and data rows"),
    ],
)
def test_bad_csv_files_get_one_clear_message(tmp_path, text, overrides, message):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(DataError, match=message):
        load_source("csv_table", file_cfg("csv_table", path, *overrides).data.file)


def test_numpy_npz_and_npy(tmp_path):
    x = np.arange(12, dtype="float64").reshape(6, 2)
    labels = np.array([0, 1, 2, 0, 1, 2])
    np.savez(tmp_path / "d.npz", feats=x, target=labels)
    cfg = file_cfg(
        "numpy_arrays", tmp_path / "d.npz", "data.file.features=feats", "data.file.label=target"
    )
    data = load_source("numpy_arrays", cfg.data.file)
    assert data.x.shape == (6, 2) and data.info.class_names == ("0", "1", "2")
    np.save(tmp_path / "m.npy", np.column_stack([x, labels]))
    again = load_source("numpy_arrays", file_cfg("numpy_arrays", tmp_path / "m.npy").data.file)
    np.testing.assert_array_equal(again.x, data.x)
    np.testing.assert_array_equal(again.y, data.y)
    with pytest.raises(
        DataError, match=r"no arrays \['x', 'label'\]; it holds \['feats', 'target'\]"
    ):
        load_source("numpy_arrays", file_cfg("numpy_arrays", tmp_path / "d.npz").data.file)
    write(tmp_path / "junk.npy", "not numpy")
    with pytest.raises(DataError, match="not a readable NumPy file"):
        load_source("numpy_arrays", file_cfg("numpy_arrays", tmp_path / "junk.npy").data.file)


def test_file_sources_need_a_path_in_the_config(tmp_path):
    with pytest.raises(ConfigError, match=r"data\.file\.path: source 'csv_table' reads a file"):
        load_config(None, ["data.source=csv_table"])
    with pytest.raises(DataError, match="no file at"):
        load_source("csv_table", file_cfg("csv_table", tmp_path / "nope.csv").data.file)


def _data(x, y, classes=3, targets="classes"):
    info = DataInfo("t", "tabular", targets, tuple(str(i) for i in range(classes)))
    return Dataset(np.asarray(x, "float32"), np.asarray(y), info)


def test_data_checks_errors_and_warnings(caplog):
    ok = _data(np.ones((30, 2)), [0] * 10 + [1] * 10 + [2] * 10)
    assert check_dataset(ok) == []
    nan = np.ones((30, 2))
    nan[3, 1] = np.inf
    with pytest.raises(DataError, match=r"1 examples hold NaN or Inf \(first: \[3\]\)"):
        validate(_data(nan, [0, 1, 2] * 10))
    with pytest.raises(DataError, match=r"labels must lie in 0\.\.2; 1 do not \(e\.g\. 5\)"):
        validate(_data(np.ones((3, 2)), [0, 1, 5]))
    with pytest.raises(DataError, match=r"classes \[2\] have no examples"):
        validate(_data(np.ones((4, 2)), [0, 1, 0, 1]))
    with pytest.raises(DataError, match="3 inputs but 2 targets"):
        validate(_data(np.ones((3, 2)), [0, 1]))
    skewed = _data(np.ones((45, 2)), [0] * 40 + [1] * 4 + [2])
    with caplog.at_level("WARNING", logger="kerasforge.data"):
        (finding,) = validate(skewed)
    assert finding.level == "warning" and "imbalanced (40 vs 1" in finding.message
    assert "imbalanced" in caplog.text


def test_a_label_seen_once_is_named_with_its_count_and_the_fix(tmp_path):
    from kerasforge.pipelines.data.pipeline import keep_classes, split

    rows = [f"{i},{i % 7},{'red' if i % 2 else 'blue'}" for i in range(30)] + ["5,5,purple"]
    path = write(tmp_path / "colors.csv", "a,b,label\n" + "\n".join(rows) + "\n")
    data = load_source("csv_table", file_cfg("csv_table", path).data.file)
    # scikit-learn's own message names the class id ([1]); ours names the label as written.
    with pytest.raises(DataError) as caught:
        split(data, 0.15, 0.15, seed=0)
    message = str(caught.value)
    assert "label 'purple' appears once in 31 examples" in message
    assert "at least 2 examples of every class" in message and "[1]" not in message
    # The fix the message offers is a valid override that makes the split work.
    fix = message.split("--set ")[-1]
    kept = keep_classes(data, file_cfg("csv_table", path, fix).data.classes)
    assert sum(split(kept, 0.15, 0.15, seed=0).sizes.values()) == 30


def test_a_npy_label_that_is_not_a_whole_number_is_refused(tmp_path):
    x = np.arange(8, dtype="float64").reshape(4, 2)
    np.save(tmp_path / "m.npy", np.column_stack([x, [0.0, 1.5, 1.0, 0.0]]))
    with pytest.raises(DataError, match=r"whole numbers; its last column holds 1\.5 at row 2"):
        load_source("numpy_arrays", file_cfg("numpy_arrays", tmp_path / "m.npy").data.file)
    np.savez(tmp_path / "d.npz", x=x, label=np.array([0.0, 1.0, np.nan, 1.0]))
    with pytest.raises(DataError, match=r"its label array holds nan at row 3"):
        load_source("numpy_arrays", file_cfg("numpy_arrays", tmp_path / "d.npz").data.file)
