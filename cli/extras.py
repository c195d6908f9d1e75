"""Which extra each command needs, and the message when it is not installed.

The base install (``pip install kerasforge``) holds only NumPy and pydantic;
each role adds an extra: ``train``, ``serve`` or ``edge`` (``all`` is the
three). A command run without its extra fails before it starts when a module
it always imports is absent (:func:`check_installed`), or later on its first
import of one (:func:`missing_extra` turns that ``ModuleNotFoundError`` into
the same one-line message naming the extra to install).

Example:
    >>> with needs_extra("kerasforge train"):
    ...     import mlflow  # in an install without the train extra
    Traceback (most recent call last):
    MissingExtraError: kerasforge train needs the 'train' extra (missing module
    'mlflow'): pip install 'kerasforge[train]'
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

BASE_MODULES = frozenset({"numpy", "pydantic", "pydantic_core"})

# Import names each extra installs (pyproject's distributions, as imported);
# tests/test_packaging.py checks this against pyproject.toml.
EXTRA_MODULES: dict[str, frozenset[str]] = {
    "train": BASE_MODULES
    | {
        "tensorflow",
        "keras",
        "tensorflow_serving",
        "mlflow",
        "sklearn",
        "yaml",
        "PIL",
        "matplotlib",
        "optuna",
        "statsmodels",
        "tensorboard",
    },
    "serve": BASE_MODULES
    | {
        "tensorflow",
        "keras",
        "tensorflow_serving",
        "grpc",
        "grpc_health",
        "aiohttp",
        "orjson",
        "prometheus_client",
    },
    "edge": BASE_MODULES | {"PIL", "ai_edge_litert", "tflite_runtime"},
    "batch": BASE_MODULES | {"apache_beam", "tensorflow", "tensorflow_serving"},
}


@dataclass(frozen=True)
class Needs:
    """The extra a command runs on, and the modules it imports on every run."""

    extra: str
    modules: tuple[str, ...] = ()


COMMANDS: dict[str, Needs] = {
    "kerasforge train": Needs("train", ("yaml", "tensorflow", "keras", "mlflow", "sklearn")),
    "kerasforge models": Needs("train", ("keras",)),
    "kerasforge backbone": Needs("train", ("tensorflow", "keras")),
    "kerasforge publish": Needs("train", ("yaml", "mlflow", "tensorflow_serving")),
    "kerasforge runs": Needs("train", ("yaml", "mlflow")),
    "kerasforge tune": Needs("train", ("yaml", "tensorflow", "keras", "mlflow", "optuna")),
    "kerasforge monitor": Needs("train", ("tensorflow", "mlflow", "tensorflow_serving")),
    "kerasforge serve": Needs("serve", ("tensorflow", "keras")),
    "kerasforge export": Needs("serve", ("tensorflow", "keras")),
    "kerasforge predict": Needs("serve"),  # the REST client: standard library and NumPy
    "kerasforge batch-predict": Needs("batch", ("apache_beam", "tensorflow")),
    # The TFLite runtime is one of two packages; serving.edge.runtime names the extra.
    "kerasforge-edge": Needs("edge"),
}


class MissingExtraError(Exception):
    """A command needs an extra that is not installed; the message says which."""

    def __init__(self, command: str, extra: str, module: str) -> None:
        super().__init__(
            f"{command} needs the {extra!r} extra (missing module {module!r}): "
            f"pip install 'kerasforge[{extra}]'"
        )
        self.command = command
        self.extra = extra
        self.module = module


def missing_extra(error: ModuleNotFoundError, command: str) -> MissingExtraError | None:
    """The missing-extra error behind ``error``, raised while ``command`` ran, if it is one.

    Args:
        error: what the failed import raised.
        command: the command as the user typed it, e.g. ``"kerasforge train"``.

    Returns:
        A :class:`MissingExtraError` when the missing module is a top-level
        package that ``command``'s extra installs; ``None`` otherwise (a missing
        submodule of an installed package, or a module no extra provides, is a
        bug or a broken install, whose traceback is more useful).
    """
    needs = COMMANDS.get(command)
    if needs is None or not error.name or "." in error.name:
        return None
    if error.name not in EXTRA_MODULES[needs.extra]:
        return None
    return MissingExtraError(command, needs.extra, error.name)


def check_installed(command: str) -> None:
    """Fail fast, before ``command`` starts, when a module it always imports is absent.

    Looks the modules up without importing them, so a missing MLflow is
    reported before TensorFlow's start-up, not after it.

    Raises:
        MissingExtraError: the first missing module, with the extra to install.
    """
    needs = COMMANDS.get(command, Needs(""))
    for module in needs.modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a finder refused it, or a broken install
            found = False
        if not found:
            raise MissingExtraError(command, needs.extra, module)


@contextmanager
def needs_extra(command: str) -> Iterator[None]:
    """Run ``command``'s block with its extra checked; a missing module names the extra.

    Args:
        command: the command as the user typed it, e.g. ``"kerasforge serve"``.

    Raises:
        MissingExtraError: a module of the extra is absent, before the block
            runs (:func:`check_installed`) or on an import inside it.
    """
    check_installed(command)
    try:
        yield
    except ModuleNotFoundError as exc:
        missing = missing_extra(exc, command)
        if missing is None:
            raise
        raise missing from None
