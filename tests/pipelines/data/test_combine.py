"""``data.extra``: more sources appended to the main one, classes matched by name."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from kerasforge.pipelines.config.data import DataConfig, ExtraSource, FileConfig
from kerasforge.pipelines.data.combine import add_extra
from kerasforge.pipelines.data.pipeline import load_source
from kerasforge.pipelines.errors import DataError


def npy(path, x, labels):
    np.save(path, np.c_[x, labels].astype("float32"))
    return ExtraSource(source="numpy_arrays", file=FileConfig(path=path))


def test_extra_rows_join_with_their_classes_matched_by_name(tmp_path):
    main = load_source("numpy_arrays", npy(tmp_path / "a.npy", np.zeros((4, 2)), [3, 5, 3, 5]).file)
    extra = npy(tmp_path / "b.npy", np.ones((2, 2)), [5, 5])  # its only class, id 0, is "5"
    merged = add_extra(main, [extra])
    assert merged.info.class_names == ("3", "5")
    assert merged.y.tolist() == [0, 1, 0, 1, 1, 1]
    assert merged.x[-2:].tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_an_extra_class_the_main_source_lacks_is_named(tmp_path):
    main = load_source("numpy_arrays", npy(tmp_path / "a.npy", np.zeros((4, 2)), [3, 5, 3, 5]).file)
    with pytest.raises(DataError, match=r"classes \['7'\] that the main source lacks"):
        add_extra(main, [npy(tmp_path / "b.npy", np.ones((2, 2)), [7, 3])])
    with pytest.raises(DataError, match=r"shape \[3\]"):
        add_extra(main, [npy(tmp_path / "c.npy", np.ones((2, 3)), [3, 5])])


def test_an_unknown_extra_source_is_rejected_with_its_path():
    with pytest.raises(ValidationError, match=r"data\.extra\.source"):
        DataConfig(extra=[{"source": "nope"}])
