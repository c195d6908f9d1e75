"""Multi-worker training (``MultiWorkerMirroredStrategy``) through the one trainer.

Every worker runs the same ``kerasforge train`` command with its own
``TF_CONFIG``. All of them run the whole flow (fit, evaluate, the task's report,
export): ``fit``, ``evaluate`` and ``predict`` are collective under the
strategy, so a step one worker skips would leave the others waiting. Worker 0
(the chief) writes the experiment's outputs: run folder, MLflow run, published
version. Every other worker writes the same things to its own scratch folder,
``<output_dir>/workers/<task type>-<index>/``, with a local MLflow store there, so a
shared output folder or tracking server sees one run.

Resuming (a pod restarted by its Job, or ``kerasforge train --workers N`` run again),
every worker starts from the chief's checkpoint (:func:`adopt_chief_checkpoint`),
not its own: each worker writes its checkpoint on its own after an epoch's last
collective, so a worker killed in between is one epoch behind the others, and
workers that resume from different epochs would run different numbers of steps.
The chief's checkpoint is every worker's (the collectives keep the weights
identical, bit for bit), and one file means one epoch by construction. It needs the
output folder shared by all workers, which the chief's publishing needs anyway (one
machine, or the ReadWriteMany volume of ``docker/k8s/train/``). The strategy is built
before this runs, and building it waits until every worker of the new cluster has
connected (TensorFlow's coordination service), so the chief that wrote the
checkpoint has exited by then: nothing writes it while the others read it.

Batch normalization uses the global batch's statistics on every worker
(``synchronized=True``, :func:`synchronize_batch_norm`): with each worker's own
half batch, the moving averages would differ between workers and from a
single-process run of the same global batch.

Keras 3 (3.15 at the time of writing) cannot ``fit`` under this strategy
(keras-team/keras#20585): its first-batch build reduces the distributed input
batch across workers (``Attempt to convert a value (PerReplica...)``), and its
metric reduction asks for a mean over axis 0 of scalars (``Invalid reduction
dimension 0 for input with 0 dimensions``). :func:`install_keras_fixes` replaces
those two steps for this strategy only; every other strategy runs Keras's own
code. ``tests/pipelines/training/test_multiworker.py`` notices when Keras fixes it.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cluster import is_chief, tf_config

if TYPE_CHECKING:
    import keras

    from ..config.experiment import ExperimentConfig

WORKERS_FOLDER = "workers"  # under output_dir: the other workers' scratch folders
_INSTALLED: list[bool] = []


def for_this_worker(cfg: ExperimentConfig) -> ExperimentConfig:
    """``cfg`` for the chief; for another worker, outputs and tracking in its scratch folder."""
    if cfg.train.scale.strategy != "multi_worker" or is_chief():
        return cfg
    task = tf_config().get("task", {})
    scratch = cfg.output_dir / WORKERS_FOLDER / f"{task.get('type')}-{int(task.get('index', 0))}"
    scratch.mkdir(parents=True, exist_ok=True)
    store = f"sqlite:///{(scratch / 'mlflow.db').resolve()}"
    tracking = cfg.tracking.model_copy(update={"uri": store})
    mine = cfg.model_copy(update={"output_dir": scratch, "tracking": tracking})
    if cfg.train.control.resume:
        adopt_chief_checkpoint(cfg, mine)
    return mine


def adopt_chief_checkpoint(chief_cfg: ExperimentConfig, own_cfg: ExperimentConfig) -> int:
    """Make this worker's resume folder hold the chief's checkpoint: its variables, epoch
    and callback counters; this worker's own run folder and MLflow run are kept.

    Returns:
        The epochs done that this worker now resumes after (0: it starts afresh, as the
        chief does).
    """
    from . import resume

    chief, own = resume.resume_folder(chief_cfg), resume.resume_folder(own_cfg)
    state, mine = resume.load_state(chief), resume.load_state(own)
    if state is None or state.epochs_done == 0:
        resume.finish(own)
        return 0
    own.mkdir(parents=True, exist_ok=True)
    for name in (resume.VARIABLES_FILE, resume.BEST_WEIGHTS_FILE):
        if (chief / name).is_file():
            shutil.copyfile(chief / name, own / f".{name}.tmp")
            os.replace(own / f".{name}.tmp", own / name)
        else:
            (own / name).unlink(missing_ok=True)
    run_dir = mine.run_dir if mine else str(_scratch_run_dir(own_cfg.output_dir))
    adopted = resume.ResumeState(
        run_dir=run_dir,
        epochs_done=state.epochs_done,
        mlflow_run_id=mine.mlflow_run_id if mine else None,
        callbacks=state.callbacks,
    )
    resume.save_state(own, adopted)
    return adopted.epochs_done


def _scratch_run_dir(output_dir: Path) -> Path:
    """A run folder for a worker that lost its own state (the trainer names the chief's)."""
    run_dir = output_dir / "runs" / f"resumed-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    return run_dir


def synchronize_batch_norm(model: keras.Model) -> int:
    """Make every BatchNormalization layer of ``model`` reduce its batch statistics
    across workers; returns how many layers there were."""
    import keras

    layers = [
        layer
        for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    for layer in layers:
        layer.synchronized = True
    return len(layers)


def install_keras_fixes() -> None:
    """Let ``Model.fit`` run under ``MultiWorkerMirroredStrategy`` (idempotent)."""
    if _INSTALLED:
        return
    from keras.src.backend.tensorflow import trainer

    build = trainer.TensorFlowTrainer._maybe_symbolic_build
    reduce = trainer.reduce_per_replica

    def maybe_symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> None:
        strategy = self._distribute_strategy
        if iterator is None or not _multi_worker(strategy):
            return build(self, iterator=iterator, data_batch=data_batch)
        for _, _, batches in iterator:  # the shapes come from this worker's first batch
            return build(self, data_batch=_local(strategy, next(batches)))
        return build(self, iterator=iterator, data_batch=data_batch)

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction in ("auto", "mean") and _multi_worker(strategy):
            import tensorflow as tf

            return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return reduce(values, strategy, reduction)

    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer.reduce_per_replica = reduce_per_replica
    _INSTALLED.append(True)


def _multi_worker(strategy: Any) -> bool:
    import tensorflow as tf

    return (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and strategy.extended._in_multi_worker_mode()
    )


def _local(strategy: Any, batch: Any) -> Any:
    """This worker's first replica of a distributed batch."""
    import tensorflow as tf

    def first(value: Any) -> Any:
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    return tf.nest.map_structure(first, batch)
