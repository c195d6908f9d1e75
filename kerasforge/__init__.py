"""kerasforge: config -> tf.data -> Keras -> MLflow -> TF Serving and TFLite.

The distribution owns this one import name. Its packages live in the
repository's top-level folders and are mapped here by setuptools:
``kerasforge.models`` (``models/``), ``kerasforge.pipelines`` (``pipelines/``)
and ``kerasforge.serving`` (``serving/``). Importing this package loads nothing
heavy: the notebook API below is imported on first use.

* :func:`train` (``kerasforge.pipelines.training.api.train``): train an experiment
  and publish its model, as ``kerasforge train``.
* :func:`load` (``kerasforge.serving.loading.load``): a published model version,
  loaded in this process, that predicts from NumPy or Python values.

Example:
    >>> import kerasforge
    >>> result = kerasforge.train("configs/digits_cnn.yaml", **{"train.epochs": 3})
    >>> model = kerasforge.load("digits_cnn")
    >>> model.predict(result.splits.x_test[:4])["probabilities"].argmax(axis=1)
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("kerasforge")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

# The notebook API: name -> the module that defines it, imported when first asked for.
_LAZY = {
    "train": "kerasforge.pipelines.training.api",
    "load": "kerasforge.serving.loading",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'kerasforge' has no attribute {name!r}")
    found = getattr(import_module(_LAZY[name]), name)
    globals()[name] = found
    return found


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
