"""A Keras callback that reports each epoch's validation metric to an Optuna trial.

Optuna's own Keras integration targets ``tf.keras``; this one is small and
follows the Keras 3 callback contract.
"""

from __future__ import annotations

from typing import Any

import keras

from ..errors import ConfigError


class PruningCallback(keras.callbacks.Callback):
    """Report ``monitor`` to an Optuna trial each epoch; stop training when it should prune.

    Training is stopped, not interrupted: the run ends normally and is then told
    to the study as pruned. ``values`` are the reported epochs' values.
    """

    def __init__(self, trial: Any, monitor: str) -> None:
        super().__init__()
        self.trial = trial
        self.monitor = monitor
        self.values: list[float] = []
        self.pruned = False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ConfigError(f"tuning watches {self.monitor!r} but the epoch logged only "
                              f"{sorted(logs or {})}; tune needs a validation split")  # fmt: skip
        self.values.append(float(value))
        self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            self.pruned = True
            self.model.stop_training = True
