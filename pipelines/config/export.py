"""The ``export`` section of an experiment config.

The name models are published under (TF Serving's repository layout) and the
TFLite variants converted beside them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from .rules import Name, Strict, complete

TFLITE_VARIANTS = ("float32", "float16", "dynamic", "int8")


class TFLiteConfig(Strict):
    """TFLite variants to convert and the accuracy budget choosing the edge model.

    ``export.tflite: true`` / ``false`` stays valid shorthand for ``enabled``.
    """

    enabled: bool = True
    variants: list[Literal["float32", "float16", "dynamic", "int8"]] = Field(
        default_factory=lambda: list(TFLITE_VARIANTS), min_length=1
    )
    budget: Annotated[float, Field(ge=0.0, le=100.0)] = 1.0
    """Largest accepted drop of the headline metric against Keras, in points (1 = 0.01)."""

    @field_validator("variants")
    @classmethod
    def _unique(cls, variants: list[str]) -> list[str]:
        if len(set(variants)) != len(variants):
            raise complete(f"export.tflite.variants: each variant once; received {variants}")
        return variants


class ExportConfig(Strict):
    """Where trained models are published (TF Serving's repository layout)."""

    enabled: bool = True
    model_name: Name = "digits_cnn"
    tflite: TFLiteConfig = Field(default_factory=TFLiteConfig)

    @field_validator("tflite", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"enabled": value} if isinstance(value, bool) else value
