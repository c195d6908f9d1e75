"""The ``export`` section of an experiment config.

The name models are published under (TF Serving's repository layout), what the
default signature of an image model takes, and the TFLite variants converted beside them.
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
    image_input: Literal["pixels", "encoded"] = "pixels"
    """What ``serving_default`` of an image model takes. ``pixels``: the raw pixel tensor
    (encoded images go to ``serving_bytes``). ``encoded``: a batch of JPEG/PNG/GIF/BMP bytes,
    decoded, converted and resized in the graph, as TF Serving's image clients send them
    (``{"b64": ...}``); the pixel tensor moves to ``serving_pixels`` and ``serving_bytes``
    stays. Both forms are exported either way; this picks the default."""
    tflite: TFLiteConfig = Field(default_factory=TFLiteConfig)
    statistics: bool = True
    """Compute the training statistics (``statistics.json`` beside the model card: inputs on
    the training split, outputs on the validation split) that drift is measured against,
    and check the export for skew against them (``serving/export/skew.py``)."""

    @field_validator("tflite", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"enabled": value} if isinstance(value, bool) else value


def image_input_problem(image_input: str, task: str, inputs: str) -> str | None:
    """Why ``export.image_input`` does not fit a ``task`` over ``inputs`` data, else ``None``
    (the tasks whose contract says ``encoded_images`` take it, over image inputs)."""
    from ..tasks import contract, task_names

    offering = [name for name in task_names() if contract(name).encoded_images]
    if image_input == "pixels" or (task in offering and inputs == "image"):
        return None
    return (
        f"export.image_input: {image_input!r} makes serving_default take encoded images, "
        f"which only image {' or '.join(offering)} models export; received task "
        f"{task!r} over {inputs} inputs: set export.image_input: pixels"
    )
