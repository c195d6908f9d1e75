"""Bounds on what a config may ask for, and the model-size guard.

The numeric bounds are generous for real experiments and refuse values that
can only be typos or abuse (a billion epochs, a seed numpy cannot take). The
model-size guard builds a model's layers with shapes only, so a model too
large for memory is refused with its parameter count before any weight is
allocated. Importing this module loads no Keras.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    import keras

# --- experiment config
SEED_LIMIT = 2**32
"""Seeds must be below this: ``numpy`` and ``keras.utils.set_random_seed`` take 32-bit seeds."""
MAX_EPOCHS = 100_000
MAX_PATIENCE = MAX_EPOCHS
MAX_BATCH_SIZE = 65_536
MAX_SHUFFLE_BUFFER = 10_000_000
MAX_LEARNING_RATE = 10.0
MAX_NAME_LENGTH = 128
"""Names become folder names (runs, model repository), which filesystems cap at 255 bytes."""
DEFAULT_MAX_PARAMS = 200_000_000
"""``model.max_params``: 0.8 GB of float32 weights, about 3.2 GB with Adam's state and gradients."""

# --- config files and ``--set`` values
MAX_CONFIG_BYTES = 1 << 20
MAX_YAML_VALUES = 100_000
"""Values in a config once YAML aliases are expanded (a real config has fewer than 100)."""
MAX_YAML_DEPTH = 64


def build_within_limit(build: Callable[[], keras.Model], name: str, max_params: int) -> keras.Model:
    """Build a model with ``build()``, refusing it before allocation if it is too large.

    The layers are first built inside a ``keras.StatelessScope`` that defers
    variable initialisation: each weight gets its shape and initializer but no
    memory. If the parameter count is within ``max_params`` the weights are then
    initialised (the values equal those of a plain build) and values a builder
    assigned while building are applied; otherwise the deferred weights are
    dropped and nothing large was ever allocated.

    Args:
        build: builds the model; called once. A builder that cannot defer its
            weights (it creates one from an array) is built a second time,
            plainly and unchecked.
        name: the registered model name, for the message.
        max_params: the most parameters allowed (``model.max_params``).

    Returns:
        The built model, its weights initialised.

    Raises:
        ConfigError: the model would have more than ``max_params`` parameters;
            the message names the count, its size in memory and the limit.
    """
    import keras

    try:
        with keras.StatelessScope(initialize_variables=False) as scope:
            model = build()
    except Exception:
        # A builder that creates weights from arrays cannot defer them; drop
        # what was deferred and build plainly (errors in the options recur).
        keras.utils.clear_session()
        return build()
    count, nbytes = _size(model.weights)
    if count > max_params:
        keras.utils.clear_session()  # forget the deferred weights: none is ever allocated
        raise ConfigError(_too_large(name, count, nbytes, max_params))
    with keras.StatelessScope():  # leaving an outermost scope initialises deferred weights
        pass
    for variable in model.variables:
        value = scope.get_current_value(variable)
        if value is not None:
            variable.assign(value)
    return model


def _size(weights: Sequence[keras.Variable]) -> tuple[int, int]:
    """Parameter count and bytes, from shapes and dtypes alone."""
    import numpy as np

    count = nbytes = 0
    for weight in weights:
        n = math.prod(weight.shape)
        count += n
        nbytes += n * np.dtype(weight.dtype).itemsize
    return count, nbytes


def _too_large(name: str, count: int, nbytes: int, max_params: int) -> str:
    knobs = size_options(name)
    reduce = f"reduce {' or '.join(knobs)} in model.options" if knobs else "choose a smaller model"
    return (
        f"model.options: model {name!r} would have {_count(count)} parameters "
        f"({_human_bytes(nbytes)} of weights, before optimizer state); the limit is "
        f"{max_params:,} (model.max_params); {reduce}, or raise model.max_params "
        "if the machine has the memory"
    )


def size_options(name: str) -> list[str]:
    """Options of builder ``name`` that set sizes: integers and sequences of integers."""
    from ... import models

    return [
        key
        for key, param in models.builder_options(name).items()
        if param.annotation is int or int in typing.get_args(param.annotation)
    ]


def _count(n: int) -> str:
    """``68,234`` when short, else ``2.67e+11`` (exact for any integer)."""
    if n < 10**6:
        return f"{n:,}"
    return f"{float(n):.3g}" if n < 10**300 else f"{Decimal(n):.3g}"


def _human_bytes(nbytes: int) -> str:
    """``1.07 TB``; exact for any integer (``Decimal`` has no float overflow)."""
    units = ("B", "KB", "MB", "GB", "TB", "PB")
    size, power = Decimal(nbytes), 0
    while size >= 1000 and power < len(units) - 1:
        size, power = size / 1000, power + 1
    return f"{size:.3g} {units[power]}"


MAX_IMAGE_SIDE = 4096
"""Largest image side an ``image_folder`` source resizes to."""
