"""Classification: images, tabular features or sequences in, one class out of several."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from ....serving.card import Headline
from ...errors import ConfigError, DataError
from ..base import Baseline, Task, TaskOptions
from ..preprocess import normalized_input, tokenized_input
from .contract import CONTRACT

if TYPE_CHECKING:
    import keras

    from ....models.registry import ModelEntry
    from ...data.types import DataInfo, Splits


TEXT_TOKENIZATION = (
    "TextVectorization in the graph: lowercase, strip punctuation, split on whitespace, "
    "vocabulary from the training split (0: padding, 1: unknown word)"
)

MARGIN = 0.1
"""Accuracy a candidate must add to the majority class's (10 points): a model near
chance (the random-backbone transfer configs, 0.10-0.16 on digits) stays below it."""


class ClassificationOptions(TaskOptions):
    """``class_weight: balanced`` weighs each class by the inverse of its training frequency.

    ``head`` is the head added to a backbone: ``softmax`` (one unit per class) or,
    for two classes, ``sigmoid`` (one logistic unit ``p``; the model still outputs
    ``[1 - p, p]`` so serving, metrics and the edge see the same two probabilities,
    and cross-entropy on them is binary cross-entropy).
    """

    class_weight: Literal["none", "balanced"] = "none"
    head: Literal["softmax", "sigmoid"] = "softmax"


class Classification(Task):
    """Softmax probabilities over the classes; judged by accuracy."""

    name = CONTRACT.name
    Options = ClassificationOptions
    inputs = CONTRACT.inputs
    targets = "classes"
    headline = Headline(metric="accuracy", mode="max")
    metrics: ClassVar[dict[str, str]] = {"accuracy": "max"}
    takes_input_augmentation: ClassVar[bool] = True
    options: ClassificationOptions

    def check_data(self, info: DataInfo) -> None:
        super().check_data(info)
        if len(info.class_names) < 2:
            raise DataError(
                f"classification needs at least 2 classes; data source {info.name!r} has "
                f"{len(info.class_names)}"
            )
        if self.options.head == "sigmoid" and len(info.class_names) != 2:
            raise DataError(
                f"task.options.head: sigmoid is a binary head and needs exactly 2 classes; data "
                f"source {info.name!r} has {len(info.class_names)}: use head: softmax"
            )

    def assemble(
        self,
        backbone: keras.Model,
        entry: ModelEntry,
        info: DataInfo,
        x_train: np.ndarray,
        y_train: np.ndarray,
    ) -> keras.Model:
        import keras

        if info.inputs == "text":
            inputs, x = tokenized_input(x_train, backbone)
        else:
            inputs, x = normalized_input(info.inputs, x_train, self.input_augmentation)
        x = backbone(x)
        if not entry.has_head:
            x = self._head(x, len(info.class_names))
        elif self.options.head != "softmax":
            raise ConfigError(
                f"task.options.head: model {entry.name!r} ends in its own softmax head; the "
                f"{self.options.head} head applies to backbones (e.g. mlp): use head: softmax"
            )
        return keras.Model(inputs, x, name=entry.name)

    def _head(self, x: keras.KerasTensor, classes: int) -> keras.KerasTensor:
        """Softmax over the classes, or a sigmoid unit ``p`` output as ``[1 - p, p]``."""
        import keras

        if self.options.head == "softmax":
            return keras.layers.Dense(classes, activation="softmax", name="probabilities")(x)
        positive = keras.layers.Dense(1, activation="sigmoid", name="positive_probability")(x)
        negative = keras.layers.Rescaling(-1.0, offset=1.0, name="negative_probability")(positive)
        return keras.layers.Concatenate(name="probabilities")([negative, positive])

    def compile_arguments(self) -> dict[str, Any]:
        return {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}

    def fit_arguments(self, splits: Splits) -> dict[str, Any]:
        if self.options.class_weight == "none":
            return {}
        counts = np.bincount(splits.y_train, minlength=splits.num_classes)
        weights = len(splits.y_train) / (splits.num_classes * np.maximum(counts, 1))
        return {"class_weight": {i: float(w) for i, w in enumerate(weights)}}

    def preprocessing_facts(self, info: DataInfo) -> dict[str, Any]:
        if info.inputs == "text":
            return {"tokenization": TEXT_TOKENIZATION}
        axis = {"image": "all pixels", "sequence": "each feature over all steps"}.get(
            info.inputs, "each feature"
        )
        return {"normalization": f"mean and variance of {axis}, from the training split"}

    def report(self, model: keras.Model, splits: Splits, folder: Path) -> dict[str, float]:
        """Confusion matrix (CSV) and per-class precision/recall/F1 (JSON) on the test split."""
        from sklearn.metrics import classification_report, confusion_matrix

        predicted = model.predict(splits.x_test, verbose=0).argmax(-1)
        labels = list(range(splits.num_classes))
        names = list(splits.info.class_names)
        matrix = confusion_matrix(splits.y_test, predicted, labels=labels)
        folder.mkdir(parents=True, exist_ok=True)
        header = "true\\predicted," + ",".join(names)
        rows = [f"{n}," + ",".join(map(str, r)) for n, r in zip(names, matrix, strict=True)]
        (folder / "confusion_matrix.csv").write_text("\n".join([header, *rows]) + "\n")
        report = classification_report(
            splits.y_test,
            predicted,
            labels=labels,
            target_names=names,
            output_dict=True,
            zero_division=0,
        )
        (folder / "classification_report.json").write_text(json.dumps(report, indent=2))
        return {"test_macro_f1": float(report["macro avg"]["f1-score"])}

    def baseline(self, model: keras.Model, splits: Splits) -> Baseline:
        """The training split's majority class predicted for every test example: its test
        accuracy (the share of that class among the test labels); margin ``MARGIN``."""
        train, test = _labels(splits, "train"), _labels(splits, "test")
        majority = int(np.bincount(train, minlength=splits.num_classes).argmax())
        return Baseline("majority class", float(np.mean(test == majority)), MARGIN)


def _labels(splits: Splits, part: str) -> np.ndarray:
    """Every label of split ``part``: a streamed source's file labels (its arrays hold a
    bounded sample), else the split's array."""
    if splits.files is not None:
        return np.asarray(splits.files.labels[part], dtype="int64")
    return np.asarray(getattr(splits, f"y_{part}"), dtype="int64")


TASK = Classification
