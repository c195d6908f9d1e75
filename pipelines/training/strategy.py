"""Where and how training runs: tf.distribute strategy, determinism, mixed precision, XLA.

``train.scale.strategy``: ``default`` (one device), ``mirrored`` (all local
GPUs), ``multi_worker`` (``MultiWorkerMirroredStrategy``; the cluster comes
from the ``TF_CONFIG`` environment variable), ``tpu``. Call
:func:`configure_runtime` before any other TensorFlow work: a multi-worker
strategy must exist before the first op runs (the command line creates it
before it starts TensorFlow; later calls reuse it).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .cluster import tf_config

if TYPE_CHECKING:
    import tensorflow as tf

    from ..config.experiment import ExperimentConfig


def configure_runtime(cfg: ExperimentConfig) -> tf.distribute.Strategy:
    """Seed everything, apply determinism and precision, and return the strategy.

    Raises:
        ConfigError: mixed precision without a GPU (unless forced), a
            multi-worker strategy without ``TF_CONFIG``, or no TPU found.
    """
    import keras
    import tensorflow as tf

    scale = cfg.train.scale
    strategy = make_strategy(scale.strategy)
    keras.utils.set_random_seed(cfg.seed)
    if cfg.train.control.deterministic:
        tf.config.experimental.enable_op_determinism()
    check_mixed_precision(scale.mixed_precision, scale.force_mixed_precision)
    policy = "float32" if scale.mixed_precision == "off" else scale.mixed_precision
    if keras.mixed_precision.global_policy().name != policy:
        keras.mixed_precision.set_global_policy(policy)
    return strategy


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy called ``name`` in the config."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        cluster = tf_config()
        if not cluster.get("cluster", {}).get("worker"):
            raise ConfigError(
                "train.scale.strategy: 'multi_worker' reads the cluster from the TF_CONFIG "
                'environment variable, e.g. {"cluster": {"worker": ["host1:12345", '
                '"host2:12345"]}, "task": {"type": "worker", "index": 0}}; received '
                f"{os.environ.get('TF_CONFIG')!r}"
            )
        if not _MULTI_WORKER:  # collectives are configured once per process
            from .multiworker import install_keras_fixes

            install_keras_fixes()
            _MULTI_WORKER.append(tf.distribute.MultiWorkerMirroredStrategy())
        return _MULTI_WORKER[0]
    return _tpu_strategy()


_MULTI_WORKER: list[Any] = []


def check_mixed_precision(policy: str, forced: bool) -> None:
    """Refuse mixed precision on a machine without a GPU unless ``forced``."""
    if policy == "off" or forced:
        return
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        raise ConfigError(
            f"train.scale.mixed_precision: {policy!r} needs a GPU to be faster; this machine "
            "has none, and on CPUs mixed precision is slower than float32. Use "
            "train.scale.mixed_precision=off, or train.scale.force_mixed_precision=true to "
            "run it anyway"
        )


def _tpu_strategy() -> tf.distribute.Strategy:
    import tensorflow as tf

    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as exc:
        raise ConfigError(
            f"train.scale.strategy: 'tpu' found no TPU ({str(exc)[:120]}); run on a TPU host "
            "or use strategy 'default'"
        ) from None
    return tf.distribute.TPUStrategy(resolver)
