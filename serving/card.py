"""The model card, ``kerasforge.json``: the one contract between training and serving.

Written once per publish (into the version folder, and into the run folder
so that ``kerasforge export`` can republish a checkpoint), read through
``read_card`` by the exporter, the server, the CLI and the edge runtime, and
validated on read. Needs pydantic only (no TensorFlow), so the edge runtime
reads it too.

Example:
    >>> card = read_card("artifacts/models/digits_cnn/1")
    >>> card.task, card.class_names[:3]
    ('classification', ['0', '1', '2'])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .documents import first_error, read_document

CARD_FILE = "kerasforge.json"
CARD_FORMAT = 1
PIXELS_SIGNATURE = "serving_pixels"
"""The raw pixel tensor's signature where ``serving_default`` takes encoded images."""
"""Bumped when a card written by this version cannot be read by an older one.

Adding facts an older reader keeps as unknown keys (as ``method_name`` and
``example_features`` on signatures) does not bump it."""


class CardError(Exception):
    """A card is missing, unreadable or from an incompatible kerasforge."""


class _Part(BaseModel):
    # Unknown keys are kept (a newer minor kerasforge may add facts), types are checked.
    model_config = ConfigDict(extra="allow", frozen=True)


class TensorInfo(_Part):
    """One named input or output of a signature."""

    name: str
    dtype: str
    shape: list[int | None]
    value_range: tuple[float, float] | None = None
    feature_names: list[str] = Field(default_factory=list)
    description: str = ""


class ExampleFeature(_Part):
    """One feature of the tf.Example a ``classify``/``regress`` signature parses."""

    key: str
    dtype: Literal["float", "bytes"]
    """The tf.Example list it must be sent in: ``float`` is ``float_list``; ``bytes`` is
    ``bytes_list`` (a text model's one UTF-8 string)."""
    shape: list[int]
    """How many values the feature holds (``[1]``: one column; ``[64]``: 8x8x1 pixels)."""


class SignatureInfo(_Part):
    """One exported signature: its method, named inputs and outputs.

    ``method_name`` is the SignatureDef's: ``tensorflow/serving/predict``, or
    ``tensorflow/serving/classify`` / ``regress`` for signatures over serialized
    tf.Examples, whose features ``example_features`` lists (each required,
    as a ``float_list``).
    """

    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    method_name: str = "tensorflow/serving/predict"
    description: str = ""
    example_features: list[ExampleFeature] = Field(default_factory=list)

    def input(self, name: str | None = None) -> TensorInfo:
        """The input called ``name`` (the only one when ``name`` is omitted)."""
        if name is None and len(self.inputs) == 1:
            return self.inputs[0]
        for tensor in self.inputs:
            if tensor.name == name:
                return tensor
        raise KeyError(f"no input {name!r}; inputs: {[t.name for t in self.inputs]}")


class Headline(_Part):
    """The metric a task is judged by, and which way is better."""

    metric: str
    mode: Literal["max", "min"]


class TFLiteVariantInfo(_Part):
    """One TFLite variant in the card's ``tflite`` section (``tflite["variants"][name]``).

    Every field is optional, so cards written before a fact was recorded still read;
    ``inputs`` and ``outputs`` (names, dtypes, quantization) are kept as they are.
    """

    file: str | None = None
    """Its path relative to the version folder (``tflite/int8.tflite``); absent when the
    conversion failed (``error`` says why)."""
    size_bytes: int | None = None
    select_tf_ops: bool = False
    min_runtime: str | None = None
    """The oldest TFLite runtime that loads the file (``"2.4.0"``, TensorFlow's release
    numbering): the converter's ``min_runtime_version`` metadata, read from the flatbuffer."""
    ops: dict[str, int] = Field(default_factory=dict)
    """Its operators (builtin names; custom ones as ``CUSTOM:<code>``), each with the highest
    version the flatbuffer holds (a runtime registers an op's versions from 1 up)."""
    error: str | None = None


class ModelCard(_Part):
    """Everything downstream needs to know about one trained model."""

    format: int = CARD_FORMAT
    task: str
    architecture: str
    model_name: str | None = None
    version: int | None = None
    signatures: dict[str, SignatureInfo] = Field(default_factory=dict)
    tflite: dict[str, Any] = Field(default_factory=dict)
    """TFLite variants and the edge model: ``variants`` (name -> ``TFLiteVariantInfo``'s
    fields; read typed through ``tflite_variants``), ``edge_model`` (the variant copied to
    ``model.tflite``), ``edge_reason`` (why that one) and ``budget_points``."""
    image_input: str = "pixels"
    """What ``serving_default`` of an image model takes (``export.image_input``): ``pixels``
    (the raw tensor; encoded images go to ``serving_bytes``) or ``encoded`` (image bytes; the
    raw tensor is ``serving_pixels``). Read by the export, so a republish keeps it."""
    class_names: list[str] = Field(default_factory=list)
    target_names: list[str] = Field(default_factory=list)
    preprocessing: dict[str, Any] = Field(default_factory=dict)
    headline: Headline | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    experiment: str | None = None
    run_id: str | None = None
    created: float | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    statistics: str | None = None
    """The training statistics' file beside the card (``statistics.json``,
    ``serving/monitoring/statistics.py``), which drift is measured against; ``None`` when
    the version has none (``export.statistics: false``, or published before they existed)."""

    def signature(self, name: str = "serving_default") -> SignatureInfo:
        """The signature ``name`` as described on the card."""
        if name not in self.signatures:
            raise CardError(
                f"the model card lists no signature {name!r}; it has: "
                f"{', '.join(self.signatures) or 'none'}"
            )
        return self.signatures[name]

    def raw_signature(self) -> SignatureInfo:
        """The signature over the raw input tensor: ``serving_pixels`` where
        ``serving_default`` takes encoded images, else ``serving_default``."""
        return self.signatures.get(PIXELS_SIGNATURE) or self.signature()

    def tflite_variants(self) -> dict[str, TFLiteVariantInfo]:
        """The ``tflite`` section's variants, validated (empty when the card has none).

        Raises:
            CardError: a variant's entry is malformed.
        """
        try:
            return {
                name: TFLiteVariantInfo.model_validate(facts)
                for name, facts in dict(self.tflite.get("variants") or {}).items()
            }
        except (ValidationError, TypeError, ValueError) as exc:
            raise CardError(
                f"the model card's tflite.variants is malformed ({first_error(exc)}); "
                "republish the model with this kerasforge"
            ) from None


def write_card(folder: str | Path, card: ModelCard) -> Path:
    """Write ``card`` as ``<folder>/kerasforge.json``."""
    path = Path(folder) / CARD_FILE
    path.write_text(card.model_dump_json(indent=2, exclude_none=True))
    return path


def read_card(folder: str | Path) -> ModelCard:
    """The validated card in ``folder`` (a version folder, a run folder, or beside a .tflite).

    Raises:
        CardError: no card, not JSON, written by a newer kerasforge, or malformed.
    """
    path = Path(folder) / CARD_FILE
    if not path.is_file():
        raise CardError(
            f"no model card {str(path)!r}: expected the {CARD_FILE} that `kerasforge train` "
            "publishes beside every model; republish the model with kerasforge"
        )
    return read_document(
        path,
        ModelCard,
        what="model card",
        version_key="format",
        current=CARD_FORMAT,
        error=CardError,
        fix="it is not a kerasforge card: republish the model with this kerasforge",
    )
