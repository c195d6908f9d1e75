from __future__ import annotations

import numpy as np
import pytest

from kerasforge.pipelines.data import pipeline as data
from kerasforge.pipelines.data.types import DataInfo
from kerasforge.pipelines.errors import DataError


@pytest.fixture(scope="module")
def digits():
    return data.load_source("digits")


def test_digits_ship_with_scikit_learn(digits):
    assert digits.x.shape == (1797, 8, 8, 1)
    assert digits.x.dtype == np.float32
    assert digits.x.min() == 0 and digits.x.max() == 255, "8-bit pixel values"
    assert digits.info.class_names == tuple(str(i) for i in range(10))
    assert (digits.info.inputs, digits.info.targets) == ("image", "classes")
    assert digits.info.value_range == (0.0, 255.0)


@pytest.mark.parametrize(
    ("name", "shape", "targets", "classes"),
    [
        ("diabetes", (442, 10), "values", 0),
        ("breast_cancer", (569, 30), "classes", 2),
        ("wine", (178, 13), "classes", 3),
    ],
)
def test_bundled_tabular_sources(name, shape, targets, classes):
    ds = data.load_source(name)
    assert ds.x.shape == shape and ds.x.dtype == np.float32
    assert ds.info.inputs == "tabular" and ds.info.targets == targets
    assert len(ds.info.feature_names) == shape[1] and len(ds.info.class_names) == classes
    assert data.get_source(name).targets == targets, "known without loading"
    if targets == "values":
        assert ds.y.dtype == np.float32 and ds.info.target_names
        assert ds.x[:, 0].max() > 1, "raw feature values (age in years), not pre-scaled"


def test_regression_split_is_seeded_and_not_stratified():
    ds = data.load_source("diabetes")
    a, b = data.split(ds, 0.15, 0.2, seed=1), data.split(ds, 0.15, 0.2, seed=1)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert sum(a.sizes.values()) == 442


def test_split_is_deterministic_stratified_and_disjoint(digits):
    a = data.split(digits, 0.15, 0.15, seed=3)
    b = data.split(digits, 0.15, 0.15, seed=3)
    c = data.split(digits, 0.15, 0.15, seed=4)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.y_test, c.y_test)
    assert sum(a.sizes.values()) == 1797
    assert a.sizes["test"] == pytest.approx(0.15 * 1797, abs=2)
    assert a.sizes["validation"] == pytest.approx(0.15 * 1797, abs=2)
    for labels in (a.y_train, a.y_val, a.y_test):
        counts = np.bincount(labels, minlength=10)
        fractions = counts / counts.sum()
        np.testing.assert_allclose(fractions, 0.1, atol=0.02)  # classes are balanced in digits
    flat = {arr.tobytes() for arr in a.x_train} & {arr.tobytes() for arr in a.x_test}
    assert len(flat) <= 5, "train and test must not share examples (digits has a few duplicates)"


def test_split_that_starves_a_class_is_a_clear_error(digits):
    # 3 of each digit, but a test split of 5 examples cannot hold all 10 classes.
    tiny = data.Dataset(digits.x[:30], digits.y[:30], digits.info)
    with pytest.raises(DataError, match=r"cannot split 30 examples.*every class"):
        data.split(tiny, 0.15, 0.15, seed=0)
    # Fewer than 2 of a digit: its label is named (scikit-learn's message names an id).
    rare = data.Dataset(digits.x[:12], digits.y[:12], digits.info)
    with pytest.raises(DataError, match=r"^label '2' appears once; label '3' appears once"):
        data.split(rare, 0.15, 0.15, seed=0)


def test_unknown_source():
    expected = r"unknown data source 'mnist'; available: breast_cancer, (\w+, )*csv_table, "
    with pytest.raises(DataError, match=expected):
        data.load_source("mnist")


def test_to_dataset_batches_and_shuffles_reproducibly(digits):
    x, y = digits.x[:100], digits.y[:100]
    ds = data.to_dataset(x, y, batch_size=32, training=True, seed=1)
    batches = list(ds.as_numpy_iterator())
    assert [len(b[1]) for b in batches] == [32, 32, 32, 4]
    again = list(data.to_dataset(x, y, batch_size=32, training=True, seed=1).as_numpy_iterator())
    np.testing.assert_array_equal(batches[0][1], again[0][1])
    assert not np.array_equal(batches[0][1], y[:32]), "training batches must be shuffled"
    ordered = list(data.to_dataset(x, y, batch_size=32, training=False, seed=1).as_numpy_iterator())
    np.testing.assert_array_equal(ordered[0][1], y[:32])


def test_keep_classes_relabels_in_the_order_given(digits):
    kept = data.keep_classes(digits, ["7", "5"])
    assert kept.info.class_names == ("7", "5")
    assert set(kept.y.tolist()) == {0, 1}
    assert len(kept.y) == np.isin(digits.y, [5, 7]).sum()
    np.testing.assert_array_equal(kept.x[kept.y == 0], digits.x[digits.y == 7])
    np.testing.assert_array_equal(kept.x[kept.y == 1], digits.x[digits.y == 5])


def test_keep_classes_names_the_classes_it_does_not_know(digits):
    with pytest.raises(DataError, match=r"\['x'\] are not classes of 'digits'.*'9'"):
        data.keep_classes(digits, ["5", "x"])
    with pytest.raises(DataError, match="values targets, not classes"):
        data.keep_classes(data.load_source("diabetes"), ["5", "6"])


def test_a_class_the_test_split_leaves_alone_is_named_by_its_label():
    info = DataInfo("colors", "tabular", "classes", ("red", "blue", "purple"))
    y = np.array([0] * 20 + [1] * 20 + [2] * 2)
    colors = data.Dataset(np.zeros((len(y), 2), "float32"), y, info)
    # Half to test: one 'purple' goes there, one is left for train and validation.
    with pytest.raises(DataError, match=r"'purple' appears twice \(1 left after the test split\)"):
        data.split(colors, 0.15, 0.5, seed=0)
