"""scikit-learn's bundled data sets as registered sources: shipped inside the package, so
nothing is downloaded."""

from __future__ import annotations

import numpy as np

from ..types import (
    IMAGE_RANGE,
    DataInfo,
    Dataset,
    TargetKind,
    register_source,
)


@register_source(inputs="image", targets="classes")
def digits() -> Dataset:
    """scikit-learn's bundled 8x8 digits: 1,797 grayscale images, 10 classes.

    The data set stores 0-16 intensities; they are mapped onto 8-bit pixel
    values (0-255), the range every image input of kerasforge takes.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype("float32") * (255.0 / 16.0))[..., np.newaxis]  # (n, 8, 8, 1)
    info = DataInfo(
        "digits",
        "image",
        "classes",
        tuple(str(c) for c in bunch.target_names),
        value_range=IMAGE_RANGE,
    )
    return Dataset(x, bunch.target.astype("int64"), info)


def _sklearn_table(name: str, loader: str, targets: TargetKind, **kwargs: object) -> Dataset:
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, loader)(**kwargs)
    x = np.asarray(bunch.data, dtype="float32")
    features = tuple(str(f) for f in bunch.feature_names)
    if targets == "classes":
        classes = tuple(str(c) for c in bunch.target_names)
        info = DataInfo(name, "tabular", targets, classes, features)
        return Dataset(x, np.asarray(bunch.target, dtype="int64"), info)
    info = DataInfo(name, "tabular", targets, feature_names=features, target_names=("target",))
    return Dataset(x, np.asarray(bunch.target, dtype="float32"), info)


@register_source(inputs="tabular", targets="values")
def diabetes() -> Dataset:
    """scikit-learn's bundled diabetes progression: 442 patients, 10 raw named features."""
    return _sklearn_table("diabetes", "load_diabetes", "values", scaled=False)


@register_source(inputs="tabular", targets="classes")
def breast_cancer() -> Dataset:
    """scikit-learn's bundled Wisconsin breast cancer set: 569 tumours, 30 features, 2 classes."""
    return _sklearn_table("breast_cancer", "load_breast_cancer", "classes")


@register_source(inputs="tabular", targets="classes")
def wine() -> Dataset:
    """scikit-learn's bundled wine recognition set: 178 wines, 13 features, 3 cultivars."""
    return _sklearn_table("wine", "load_wine", "classes")
