"""Keras model builders, registered by name.

Importing this package registers every family; the families import Keras, the
registry itself does not.
"""

from .registry import (
    UnknownModelError,
    build_model,
    builder_options,
    get_builder,
    get_entry,
    list_models,
    load_model,
    parameter_count,
    register_model,
)

# Families register themselves on import.
from . import autoencoder, cnn, efficientnet, mlp, recurrent, resnet, transfer, vgg  # noqa: F401  isort: skip
from . import seq2seq, transformer  # noqa: F401  isort: skip
from . import gan, vae  # noqa: F401  isort: skip

__all__ = [
    "UnknownModelError",
    "build_model",
    "builder_options",
    "get_builder",
    "get_entry",
    "list_models",
    "load_model",
    "parameter_count",
    "register_model",
]
