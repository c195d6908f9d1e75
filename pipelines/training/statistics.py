"""The training statistics of one run: what ``statistics.json`` holds, computed after fit.

Inputs are summarised on the training split (raw, as the server receives them; a
streamed image source's bounded decoded sample), outputs on the validation split through
the raw signature's function over the trained model (``serving/export/skew.py``), so the
class mix and scores are what the server would have answered. The file goes into the run
folder and to MLflow (``statistics/``); the publish copies it beside the model card
(``serving/export/publish.py``). ``export.statistics: false`` turns it off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...serving.card import ModelCard
from ...serving.export.skew import keras_outputs
from ...serving.export.text import tokenizer_layer
from ...serving.monitoring.statistics import TrainingStatistics, write_statistics
from ..config.experiment import ExperimentConfig
from ..data.types import Splits

MAX_INPUT_ROWS = 100_000
"""Training examples summarised (the split is shuffled, so the first ones are a sample)."""
MAX_OUTPUT_ROWS = 5_000
"""Validation examples whose outputs are summarised (one forward pass)."""


def compute_statistics(model: Any, card: ModelCard, splits: Splits) -> TrainingStatistics:
    """The statistics of the training inputs and of the model's validation outputs."""
    layer = tokenizer_layer(model)
    statistics = TrainingStatistics.compute(
        card.task,
        splits.info.inputs,
        splits.x_train[:MAX_INPUT_ROWS],
        feature_names=splits.info.feature_names,
        vocabulary=[str(w) for w in layer.get_vocabulary()] if layer is not None else None,
    )
    outputs = keras_outputs(model, card, splits.x_val[:MAX_OUTPUT_ROWS])
    return statistics.with_outputs(outputs[1]) if outputs else statistics


def write_run_statistics(
    cfg: ExperimentConfig, model: Any, card: ModelCard, splits: Splits, run_dir: Path, tracker: Any
) -> Path | None:
    """Compute, write into ``run_dir`` and log the run's statistics; ``None`` when
    ``export.statistics`` is off."""
    if not cfg.export.statistics:
        return None
    path = write_statistics(run_dir, compute_statistics(model, card, splits))
    tracker.log_artifact(path, "statistics")
    return path
