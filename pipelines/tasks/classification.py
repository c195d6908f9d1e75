"""Classification: images or tabular features in, one class out of several."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from kerasforge.pipelines.errors import DataError
from kerasforge.pipelines.tasks.base import Task, TaskOptions
from kerasforge.pipelines.tasks.preprocess import normalized_input
from kerasforge.serving.card import Headline

if TYPE_CHECKING:
    import keras

    from kerasforge.models.registry import ModelEntry
    from kerasforge.pipelines.data import DataInfo, Splits


class ClassificationOptions(TaskOptions):
    """``class_weight: balanced`` weighs each class by the inverse of its training frequency."""

    class_weight: Literal["none", "balanced"] = "none"


class Classification(Task):
    """Softmax probabilities over the classes; judged by accuracy."""

    name = "classification"
    Options = ClassificationOptions
    inputs = ("image", "tabular")
    targets = "classes"
    headline = Headline(metric="accuracy", mode="max")
    metrics: ClassVar[dict[str, str]] = {"accuracy": "max"}
    options: ClassificationOptions

    def check_data(self, info: DataInfo) -> None:
        super().check_data(info)
        if len(info.class_names) < 2:
            raise DataError(
                f"classification needs at least 2 classes; data source {info.name!r} has "
                f"{len(info.class_names)}"
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

        inputs, x = normalized_input(info.inputs, x_train)
        x = backbone(x)
        if not entry.has_head:
            classes = len(info.class_names)
            x = keras.layers.Dense(classes, activation="softmax", name="probabilities")(x)
        return keras.Model(inputs, x, name=entry.name)

    def compile_arguments(self) -> dict[str, Any]:
        return {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}

    def fit_arguments(self, splits: Splits) -> dict[str, Any]:
        if self.options.class_weight == "none":
            return {}
        counts = np.bincount(splits.y_train, minlength=splits.num_classes)
        weights = len(splits.y_train) / (splits.num_classes * np.maximum(counts, 1))
        return {"class_weight": {i: float(w) for i, w in enumerate(weights)}}

    def preprocessing_facts(self, info: DataInfo) -> dict[str, Any]:
        axis = "all pixels" if info.inputs == "image" else "each feature"
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
