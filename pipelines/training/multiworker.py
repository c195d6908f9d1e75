"""Multi-worker training (``MultiWorkerMirroredStrategy``) through the one trainer.

Every worker runs the same ``kerasforge train`` command with its own
``TF_CONFIG``. All of them run the whole flow (fit, evaluate, the task's report,
export): ``fit``, ``evaluate`` and ``predict`` are collective under the
strategy, so a step one worker skips would leave the others waiting. Worker 0
(the chief) writes the experiment's outputs: run folder, MLflow run, published
version. Every other worker writes the same things to its own scratch folder,
``<output_dir>/workers/<task type>-<index>/``, with a local MLflow store there, so a
shared output folder or tracking server sees one run.

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
    return cfg.model_copy(update={"output_dir": scratch, "tracking": tracking})


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
