"""The task interface every kind of problem implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from ...serving.card import Headline, ModelCard
from ..errors import DataError

if TYPE_CHECKING:
    import keras
    import numpy as np

    from ...models.registry import ModelEntry
    from ...serving.export.tflite import ExportData
    from ..data.types import DataInfo, Splits


@dataclass(frozen=True)
class Baseline:
    """The task's trivial baseline on the test split, in the headline metric's units.

    The release gate's floor: a candidate must be strictly better than ``value``
    by more than ``margin`` (above ``value + margin`` for a ``max`` headline,
    below ``value - margin`` for a ``min`` one).

    Attributes:
        name: what the baseline predicts, in short words (``"majority class"``).
        value: the headline metric of that prediction on the test split.
        margin: the task's default margin, in the headline's units (``>= 0``).
    """

    name: str
    value: float
    margin: float


class TaskOptions(BaseModel):
    """A task's options from the config's ``task.options``: strict and frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ReconstructionPairs:
    """For tasks whose model reproduces its input (autoencoders, a VAE, a GAN's real images):
    ``fit`` sees ``(x, x)`` and the labels are not used."""

    def training_pairs(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        x = np.asarray(x, dtype="float32")
        return x, x


class Task(ABC):
    """One kind of problem. Subclasses set the class attributes and implement the hooks.

    Class attributes:
        name: registry key, used in configs (``task.name``) and on the model card.
        Options: the pydantic model of ``task.options``.
        inputs: the data input kinds it accepts (``image``, ``tabular``, ``sequence``, ``series``).
        targets: the target kind it needs (``classes``, ``values``).
        headline: the metric it is judged by and which way is better.
        metrics: every metric ``fit`` reports besides ``loss``, with which way is better.
        takes_input_augmentation: ``assemble`` puts ``input_augmentation`` (a layer, set
            by the trainer for ``data.augmentation.placement: model``) after the raw input.
    """

    name: ClassVar[str]
    Options: ClassVar[type[TaskOptions]] = TaskOptions
    inputs: ClassVar[tuple[str, ...]]
    targets: ClassVar[str]
    headline: ClassVar[Headline]
    metrics: ClassVar[dict[str, str]]
    takes_input_augmentation: ClassVar[bool] = False

    def __init__(self, options: TaskOptions) -> None:
        self.options = options
        self.input_augmentation: Any = None

    # --- data
    def check_data(self, info: DataInfo) -> None:
        """Refuse data this task cannot learn from, with what was expected."""
        if info.inputs not in self.inputs or info.targets != self.targets:
            raise DataError(
                f"task {self.name!r} expects {' or '.join(self.inputs)} inputs with "
                f"{self.targets} as targets; data source {info.name!r} has {info.inputs} "
                f"inputs with {info.targets}: pick a source that fits or another task"
            )

    def select(self, splits: Splits) -> Splits:
        """The splits this task trains and is tested on; default: ``splits`` unchanged.

        Anomaly detection keeps the anomalous classes out of train and validation here.
        """
        return splits

    def training_pairs(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        """What ``fit`` and ``evaluate`` see for examples ``x`` with targets ``y``.

        Default: ``(x, y)`` unchanged. A task reshapes targets here (regression:
        ``[N, targets]``), or builds other pairs: an autoencoder ``(x, x)``, a
        sequence-to-sequence model ``({"source": x, "decoder_input": ...}, target)``.
        """
        return x, y

    # --- model
    def builder_arguments(self, entry: ModelEntry, splits: Splits) -> dict[str, Any]:
        """The data arguments the backbone's builder takes (``input_shape``, ``num_classes``)."""
        available = {"input_shape": splits.input_shape, "num_classes": splits.num_classes}
        return {k: available[k] for k in entry.data_arguments()}

    @abstractmethod
    def assemble(
        self,
        backbone: keras.Model,
        entry: ModelEntry,
        info: DataInfo,
        x_train: np.ndarray,
        y_train: np.ndarray,
    ) -> keras.Model:
        """Raw input -> preprocessing fitted on ``x_train``/``y_train`` -> backbone -> head."""

    @abstractmethod
    def compile_arguments(self) -> dict[str, Any]:
        """``loss`` and ``metrics`` for ``model.compile``."""

    def serving_examples(self, model: keras.Model, x: np.ndarray) -> np.ndarray:
        """The raw inputs the model's ``serving_default`` takes for data examples ``x``:
        ``x`` itself by default; a generator's latent vectors."""
        return x

    def predict_examples(self, model: keras.Model, x: np.ndarray, y: np.ndarray) -> Any:
        """What ``model.predict`` takes for examples ``x`` with targets ``y`` (the MLflow
        Model's input example): the serving examples by default; a sequence-to-sequence
        model's teacher-forced inputs."""
        return self.serving_examples(model, x)

    def export_data(self, model: keras.Model, splits: Splits) -> ExportData:
        """Serving examples for the export's warm-up records, int8 calibration and parity
        report (``serving.export.tflite.ExportData``); by default the splits' raw inputs."""
        from ...serving.export.tflite import ExportData

        return ExportData.from_splits(splits)

    def fit_arguments(self, splits: Splits) -> dict[str, Any]:
        """Extra ``model.fit`` arguments (class weights, ...); none by default."""
        return {}

    # --- after training
    def card(self, architecture: str, info: DataInfo) -> ModelCard:
        """The model card facts this task knows (export adds signatures and versions)."""
        data: dict[str, Any] = {"source": info.name, "inputs": info.inputs}
        if info.value_range is not None:
            data["value_range"] = list(info.value_range)
        if info.feature_names:
            data["feature_names"] = list(info.feature_names)
        return ModelCard(
            task=self.name,
            architecture=architecture,
            class_names=list(info.class_names),
            target_names=list(info.target_names),
            headline=self.headline,
            data=data,
            preprocessing=self.preprocessing_facts(info),
        )

    def preprocessing_facts(self, info: DataInfo) -> dict[str, Any]:
        """What the model does to raw inputs before the backbone (for the card)."""
        return {}

    def report(self, model: keras.Model, splits: Splits, folder: Path) -> dict[str, float]:
        """Write evaluation artefacts on the test split into ``folder``; return extra metrics."""
        return {}

    @abstractmethod
    def baseline(self, model: keras.Model, splits: Splits) -> Baseline:
        """The trivial baseline's headline on the test split, with the task's default margin.

        Computed the way the test headline is, so the two compare directly. Deterministic
        and cheap: no training, at most one forward pass over the test split.

        Args:
            model: the trained model (a DCGAN's discriminator judges the baseline's fakes;
                the other tasks ignore it).
            splits: the splits the model was trained and tested on (after ``select``).
        """
