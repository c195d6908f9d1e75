"""Anomaly detection: an autoencoder learns the normal classes; large errors flag the rest.

Train and validation hold only the normal classes; the test split holds both
(the held-out test examples of every class, plus every anomalous example the
split put in train or validation, which the model never sees). Targets become
``1`` (anomaly) or ``0`` (normal) after the split. After training the threshold
is a quantile of the validation reconstruction errors; it is stored in the
model (``AnomalyThreshold``), so the exported graph flags examples itself.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field, model_validator

from ....serving.card import Headline, ModelCard
from ...errors import ConfigError, DataError
from ..base import Baseline, ReconstructionPairs, Task, TaskOptions
from ..preprocess import normalized_input
from .contract import CONTRACT, THRESHOLD_LAYER

if TYPE_CHECKING:
    import keras

    from ....models.registry import ModelEntry
    from ...data.types import DataInfo, Splits

CHANCE_AUC = 0.5
"""ROC AUC of scores that carry no information (random, or all equal)."""
MARGIN = 0.05
"""ROC AUC a candidate must add to chance's: above 0.55."""


class AnomalyOptions(TaskOptions):
    """Which classes are normal: ``anomaly_class`` (all others normal) or ``normal_classes``.

    ``threshold_quantile``: the quantile of the validation reconstruction errors
    above which an example is flagged as an anomaly.
    """

    anomaly_class: int | None = Field(default=None, ge=0)
    normal_classes: list[int] | None = Field(default=None, min_length=1)
    threshold_quantile: float = Field(default=0.99, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _one_choice(self) -> AnomalyOptions:
        if (self.anomaly_class is None) == (self.normal_classes is None):
            raise ValueError(
                "give exactly one of anomaly_class (the class held out as the anomaly) or "
                f"normal_classes; received anomaly_class={self.anomaly_class!r}, "
                f"normal_classes={self.normal_classes!r}"
            )
        return self


class AnomalyDetection(ReconstructionPairs, Task):
    """An autoencoder reconstructing its input; judged by ROC AUC on the test split."""

    name = CONTRACT.name
    Options = AnomalyOptions
    inputs = CONTRACT.inputs
    targets = "classes"
    headline = Headline(metric="roc_auc", mode="max")
    metrics: ClassVar[dict[str, str]] = {}
    options: AnomalyOptions

    def __init__(self, options: TaskOptions) -> None:
        super().__init__(options)
        self.threshold: float | None = None

    def normal_classes(self, class_count: int) -> list[int]:
        """The class ids counted as normal, checked against the data's ``class_count``.

        Raises:
            ConfigError: a class id outside the data, or no class left on one side.
        """
        named = [self.options.anomaly_class] if self.options.normal_classes is None else []
        named += self.options.normal_classes or []
        bad = [c for c in named if c >= class_count]
        if bad:
            raise ConfigError(
                f"task.options: class ids must be below {class_count} (the data has "
                f"{class_count} classes); received {bad}: pick ids in 0..{class_count - 1}"
            )
        if self.options.normal_classes is not None:
            normal = sorted(set(self.options.normal_classes))
        else:
            normal = [c for c in range(class_count) if c != self.options.anomaly_class]
        if not normal or len(normal) == class_count:
            raise ConfigError(
                f"task.options.normal_classes: needs at least one normal and one anomalous class "
                f"among the data's {class_count}; received {self.options.normal_classes}"
            )
        return normal

    def check_data(self, info: DataInfo) -> None:
        super().check_data(info)
        if info.streamed:
            raise DataError(
                f"anomaly_detection needs the whole data set in memory; source {info.name!r} "
                "streams its files: use an in-memory source (digits, numpy, csv)"
            )
        self.normal_classes(len(info.class_names))

    def select(self, splits: Splits) -> Splits:
        """Normal classes only in train and validation; the anomalies all go to test.

        Targets become 1 (anomaly) or 0 (normal).
        """
        normal = self.normal_classes(splits.num_classes)

        def parts(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
            keep = np.isin(y, normal)
            return x[keep], x[~keep], np.zeros(int(keep.sum()), dtype="int64")

        x_train, odd_train, y_train = parts(splits.x_train, splits.y_train)
        x_val, odd_val, y_val = parts(splits.x_val, splits.y_val)
        x_test = np.concatenate([splits.x_test, odd_train, odd_val])
        y_test = (~np.isin(splits.y_test, normal)).astype("int64")
        y_test = np.concatenate([y_test, np.ones(len(odd_train) + len(odd_val), dtype="int64")])
        sizes = {"train": len(x_train), "validation": len(x_val), "test": len(x_test)}
        return dataclasses.replace(
            splits, x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val,
            x_test=x_test, y_test=y_test, sizes=sizes,
        )  # fmt: skip

    def assemble(
        self,
        backbone: keras.Model,
        entry: ModelEntry,
        info: DataInfo,
        x_train: np.ndarray,
        y_train: np.ndarray,
    ) -> keras.Model:
        import keras

        from ....models.layers import AnomalyThreshold

        inputs, x = normalized_input(info.inputs, x_train)
        x = backbone(x)
        # The reconstruction back in raw units, with the training split's statistics.
        axis = None if info.inputs == "image" else -1
        denormalize = keras.layers.Normalization(axis=axis, invert=True, name="denormalize")
        denormalize.adapt(np.asarray(x_train, dtype="float32"))
        x = AnomalyThreshold(name=THRESHOLD_LAYER)(denormalize(x))
        return keras.Model(inputs, x, name=entry.name)

    def compile_arguments(self) -> dict[str, Any]:
        return {"loss": "mean_squared_error"}

    def fit_threshold(self, model: keras.Model, x_val: np.ndarray) -> float:
        """Set the model's threshold to the configured quantile of validation errors."""
        errors = reconstruction_errors(model, x_val)
        self.threshold = float(np.quantile(errors, self.options.threshold_quantile))
        model.get_layer(THRESHOLD_LAYER).threshold.assign(self.threshold)
        return self.threshold

    def card(self, architecture: str, info: DataInfo) -> ModelCard:
        card = super().card(architecture, info)
        anomaly = {
            "normal_classes": [
                info.class_names[c] for c in self.normal_classes(len(info.class_names))
            ],
            "score": "mean squared reconstruction error per example, in raw input units",
            "threshold": self.threshold,
            "threshold_quantile": self.options.threshold_quantile,
            "threshold_from": "validation split (normal classes only)",
        }
        return card.model_copy(update={"data": {**card.data, "anomaly": anomaly}})

    def preprocessing_facts(self, info: DataInfo) -> dict[str, Any]:
        axis = "all pixels" if info.inputs == "image" else "each feature"
        return {
            "normalization": f"mean and variance of {axis}, from the training split",
            "reconstruction": "de-normalised back to raw input units inside the model",
        }

    def report(self, model: keras.Model, splits: Splits, folder: Path) -> dict[str, float]:
        """Threshold from validation, then test ROC AUC, a JSON report and the two plots."""
        from sklearn.metrics import roc_auc_score

        from ...tracking import plots

        threshold = self.fit_threshold(model, splits.x_val)
        checkpoint = folder.parent / "checkpoints" / "best.keras"
        if checkpoint.is_file():  # so `kerasforge export` republishes with the threshold
            model.save(checkpoint)
        errors = reconstruction_errors(model, splits.x_test)
        flagged = errors > threshold
        truth = np.asarray(splits.y_test) == 1
        scores = {
            "test_roc_auc": float(roc_auc_score(truth, errors)),
            "test_threshold": threshold,
            "test_flag_accuracy": float(np.mean(flagged == truth)),
            "test_anomaly_recall": float(np.mean(flagged[truth])) if truth.any() else 0.0,
            "test_false_alarm_rate": float(np.mean(flagged[~truth])) if (~truth).any() else 0.0,
        }
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "anomaly_report.json").write_text(json.dumps(scores, indent=2))
        plots.score_histogram(errors, truth, threshold, folder / "anomaly_scores.png")
        shown = np.concatenate([np.flatnonzero(~truth)[:4], np.flatnonzero(truth)[:4]])
        if np.asarray(splits.x_test).ndim == 4:
            recon = model.predict(splits.x_test[shown], verbose=0)
            plots.reconstructions(splits.x_test[shown], recon, folder / "reconstructions.png")
        return scores

    def baseline(self, model: keras.Model, splits: Splits) -> Baseline:
        """Random scores: ROC AUC 0.5 by definition (``roc_auc_score`` gives exactly that for
        equal scores too); margin ``MARGIN``."""
        return Baseline("random scores", CHANCE_AUC, MARGIN)


def reconstruction_errors(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Mean squared error of each example's reconstruction, in raw input units."""
    x = np.asarray(x, dtype="float32")
    recon = model.predict(x, verbose=0)
    return np.mean(np.square(recon - x).reshape(len(x), -1), axis=1)


TASK = AnomalyDetection
