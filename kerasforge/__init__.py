"""kerasforge: config -> tf.data -> Keras -> MLflow -> TF Serving and TFLite.

The distribution owns this one import name. Its packages live in the
repository's top-level folders and are mapped here by setuptools:
``kerasforge.models`` (``models/``), ``kerasforge.pipelines`` (``pipelines/``)
and ``kerasforge.serving`` (``serving/``). Importing this package loads nothing
heavy.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kerasforge")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
