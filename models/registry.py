"""Model registry: every builder is registered under a lowercase name.

Builders are plain functions that take explicit keyword arguments and return a
``keras.Model``. Each declares its kind (:data:`KINDS`: what it builds, which
the tasks read to say which models may serve them) and an example input (the
shape of one example at its default size). A builder that takes
``num_classes`` ends in its own classifier head; one that does not is a
backbone, and the task adds the head. Configs name models by registry key,
never by class path. Registering and listing import no Keras.

Example:
    >>> from kerasforge.models import build_model, list_models
    >>> list_models("digits*")
    ['digits_cnn']
    >>> model = build_model("digits_cnn", input_shape=(8, 8, 1), num_classes=10)
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, TypeVar

Builder = TypeVar("Builder", bound=Callable[..., Any])

# Arguments a builder receives from the data, not from the config.
DATA_ARGUMENTS = ("input_shape", "num_classes")

KINDS = {
    "classifier": "ends in its own classifier head (images, text)",
    "dense": "a dense backbone over feature vectors; the task adds the head",
    "recurrent": "a recurrent backbone over sequences; the task adds the head",
    "autoencoder": "reconstructs its input",
    "generative": "a VAE or a GAN (its own train_step)",
    "encoder_decoder": "an encoder-decoder over token ids",
}
"""What a builder builds. Each task's serving contract lists the kinds that may serve it
(``pipelines/tasks/<task>/contract.py``, ``backbones``); models name no task."""


@dataclass(frozen=True)
class ModelEntry:
    """One registered builder and what it declares about itself."""

    name: str
    builder: Callable[..., Any]
    kind: str
    example_input: tuple[int, ...]
    input_dtype: str
    description: str
    tiny: dict[str, Any] = field(default_factory=dict)
    callbacks: Callable[..., list] | None = None

    def make_callbacks(self, options: dict[str, Any]) -> list:
        """Training callbacks the builder asks for under model ``options`` (usually none)."""
        return list(self.callbacks(**options)) if self.callbacks else []

    @property
    def has_head(self) -> bool:
        """True when the builder ends in its own classifier head (it takes ``num_classes``)."""
        return "num_classes" in inspect.signature(self.builder).parameters

    def data_arguments(self) -> tuple[str, ...]:
        """The data arguments this builder takes."""
        params = inspect.signature(self.builder).parameters
        return tuple(a for a in DATA_ARGUMENTS if a in params)


_REGISTRY: dict[str, ModelEntry] = {}


class UnknownModelError(KeyError):
    """Raised when a name is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def register_model(
    *,
    kind: str,
    example_input: tuple[int, ...],
    input_dtype: str = "float32",
    tiny: dict[str, Any] | None = None,
    callbacks: Callable[..., list] | None = None,
) -> Callable[[Builder], Builder]:
    """Register the decorated builder under its function name; a duplicate name is an error.

    Args:
        kind: what it builds, one of :data:`KINDS`.
        example_input: one example's shape at the builder's default size.
        input_dtype: the dtype of that input.
        tiny: builder arguments that make a tiny instance of the same layout
            (smaller widths and input, same blocks), for fast tests; an
            ``input_shape`` here replaces ``example_input``.
        callbacks: ``callbacks(**model_options) -> list`` of Keras callbacks the
            trainer adds to ``fit`` (e.g. a schedule that unfreezes layers).
    """

    if kind not in KINDS:
        raise ValueError(f"model kind {kind!r} is not one of {', '.join(KINDS)}")

    def register(fn: Builder) -> Builder:
        name = fn.__name__.lower()
        if name in _REGISTRY:
            existing = _REGISTRY[name].builder
            raise ValueError(
                f"model name {name!r} is already registered by "
                f"{existing.__module__}.{existing.__qualname__}; choose another function name"
            )
        doc = (inspect.getdoc(fn) or "").strip().splitlines()
        _REGISTRY[name] = ModelEntry(
            name,
            fn,
            kind,
            tuple(example_input),
            input_dtype,
            doc[0] if doc else "",
            dict(tiny or {}),
            callbacks,
        )
        return fn

    return register


def list_models(pattern: str = "*", kinds: Collection[str] | None = None) -> list[str]:
    """Registered model names matching a shell-style ``pattern`` (and of one of ``kinds``),
    sorted."""
    return sorted(
        name
        for name, entry in _REGISTRY.items()
        if fnmatch.fnmatchcase(name, pattern.lower()) and (kinds is None or entry.kind in kinds)
    )


def get_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``.

    Raises:
        UnknownModelError: ``name`` is not registered; the message names close matches.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise UnknownModelError(
            f"unknown model {name!r}; {hint}registered models: {', '.join(list_models())} "
            "(`kerasforge models` lists them)"
        ) from None


def get_builder(name: str) -> Callable[..., Any]:
    """The builder registered as ``name``."""
    return get_entry(name).builder


def builder_options(name: str) -> dict[str, inspect.Parameter]:
    """The keyword arguments a config may set for model ``name``, annotations resolved.

    These are the builder's parameters minus the ones filled from the data
    (``input_shape``, ``num_classes``).
    """
    fn = get_builder(name)
    options = {}
    for key, param in inspect.signature(fn).parameters.items():
        if key in DATA_ARGUMENTS:
            continue
        if isinstance(param.annotation, str):  # postponed annotations (PEP 563)
            param = param.replace(annotation=eval(param.annotation, fn.__globals__))
        options[key] = param
    return options


def build_model(name: str, **kwargs: Any) -> Any:
    """Build the model registered as ``name`` with ``kwargs``.

    Raises:
        UnknownModelError: ``name`` is not registered.
        ValueError: an argument is out of range (the message names it).
    """
    return get_builder(name)(**kwargs)


def parameter_count(name: str, **kwargs: Any) -> int:
    """Parameters of model ``name`` built with ``kwargs``, without allocating its weights.

    The layers are built inside ``keras.StatelessScope(initialize_variables=False)``:
    every weight gets a shape but no memory, so counting VGG-19 costs no 570 MB.
    Counts include non-trainable weights (batch-norm moving statistics), as Keras does.
    """
    import math

    import keras

    with keras.StatelessScope(initialize_variables=False):
        model = build_model(name, **kwargs)
    count = sum(math.prod(w.shape) for w in model.weights)
    keras.utils.clear_session()
    return count


def load_model(path: str | Any, **kwargs: Any) -> Any:
    """``keras.models.load_model`` with the zoo's custom layers registered first."""
    import keras

    # Importing registers the zoo's custom layers (the Transformer's, the VAE and DCGAN models,
    # the sequence-to-sequence tokeniser).
    from . import chars, generative, layers, transformer_layers  # noqa: F401

    return keras.models.load_model(path, **kwargs)
