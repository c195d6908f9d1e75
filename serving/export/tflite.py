"""TFLite variants of a published SavedModel: float32, float16, dynamic-range, int8.

Each variant converts the SavedModel's ``serving_default`` signature, its
numeric outputs only (``numeric_default``: string outputs and the signatures
over strings never go to TFLite), with the builtin op set; only
when a family needs more is ``SELECT_TF_OPS`` added, and the variant records
it. Full-integer int8 needs a representative dataset of raw training inputs
(``ExportData``, at least ``MIN_REPRESENTATIVE`` examples): its input and
output tensors are int8, and their scale and zero-point are written to the
JSON sidecar beside the ``.tflite`` (``serving.export.tflite_sidecar``), which
the edge runtime and any other LiteRT client read to quantize inputs and
dequantize outputs.

Example:
    >>> data = ExportData(representative=x_train[:200], x_test=x_test, y_test=y_test)
    >>> variants = convert_variants(saved_model_dir, folder, ("float32", "int8"), data)
    >>> variants["int8"].path.name
    'int8.tflite'
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..card import ModelCard
from .signatures import DEFAULT_SIGNATURE, PIXELS_SIGNATURE
from .tflite_sidecar import runtime_needs, write_sidecar

VARIANTS = ("float32", "float16", "dynamic", "int8")
"""All variants, largest first."""
MIN_REPRESENTATIVE = 100
"""Fewest training examples int8 calibration accepts."""
MAX_REPRESENTATIVE = 500


@dataclass(frozen=True)
class ExportData:
    """Raw examples the export needs from training (never the config).

    Attributes:
        representative: raw inputs from the training split, calibrating int8.
        x_test: raw test-split inputs, for the parity report.
        y_test: their targets (class ids, or values in the target's units).
    """

    representative: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @classmethod
    def from_splits(cls, splits: Any, count: int = MAX_REPRESENTATIVE) -> ExportData:
        """The first ``count`` training inputs (the split shuffled them) and the test split."""
        return cls(splits.x_train[:count], splits.x_test, splits.y_test)


@dataclass(frozen=True)
class TFLiteOptions:
    """Which variants to convert and the accuracy budget (points) choosing the edge model."""

    variants: tuple[str, ...] = VARIANTS
    budget: float = 1.0


@dataclass(frozen=True)
class Variant:
    """One converted (or refused) TFLite variant.

    ``min_runtime`` and ``ops`` are what the flatbuffer says it needs
    (``runtime_needs``): the oldest TFLite runtime that loads it, and its operators.
    """

    name: str
    path: Path | None
    select_tf_ops: bool = False
    error: str | None = None
    size: int = field(default=0)
    min_runtime: str | None = None
    ops: dict[str, int] = field(default_factory=dict)

    def card_facts(self) -> dict[str, Any]:
        """Its entry in the card's ``tflite.variants`` (``card.TFLiteVariantInfo``)."""
        if self.path is None:
            return {"error": self.error}
        sidecar = json.loads(self.path.with_suffix(".json").read_text())
        return {
            "file": f"tflite/{self.path.name}",
            "size_bytes": self.size,
            "select_tf_ops": self.select_tf_ops,
            "min_runtime": self.min_runtime,
            "ops": dict(self.ops),
            "inputs": sidecar["inputs"],
            "outputs": sidecar["outputs"],
        }


@dataclass(frozen=True)
class NumericModel:
    """``numeric_default`` saved on its own: its folder and its input's dtype."""

    path: Path
    input_dtype: str


def numeric_default(saved_model_dir: Path) -> tuple[Any, Any]:
    """``serving_default`` of the SavedModel without its string outputs, and its owner.

    A classifier's ``classes`` (class names) is a string tensor, which TFLite
    neither needs (the sidecar's ``labels`` index ``class_ids``) nor
    quantizes; the converter gets the numeric outputs only, still under the
    signature key ``serving_default``, with the same input name.
    """
    import tensorflow as tf

    from .text import TOKENS_SIGNATURE

    loaded = tf.saved_model.load(str(saved_model_dir))
    # A model over strings (a text classifier, sequence to sequence) exports a token-ids twin
    # of serving_default (its string ops would need SELECT_TF_OPS): TFLite converts that one.
    # An image model whose serving_default takes encoded images keeps its pixel tensor as
    # serving_pixels (decoding would need SELECT_TF_OPS; the edge decodes with Pillow).
    twins = (TOKENS_SIGNATURE, PIXELS_SIGNATURE)
    key = next((k for k in twins if k in loaded.signatures), DEFAULT_SIGNATURE)
    signature = loaded.signatures[key]
    ((name, spec),) = signature.structured_input_signature[1].items()
    numeric = sorted(k for k, v in signature.structured_outputs.items() if v.dtype != tf.string)

    @tf.function(input_signature=[tf.TensorSpec(spec.shape, spec.dtype, name=name)])
    def serve(x: tf.Tensor) -> dict[str, tf.Tensor]:
        outputs = signature(**{name: x})
        return {k: outputs[k] for k in numeric}

    return serve.get_concrete_function(), loaded


@contextmanager
def numeric_saved_model(saved_model_dir: Path) -> Iterator[NumericModel]:
    """``numeric_default`` saved on its own, in a temporary folder, for the converter.

    Given a concrete function, TFLite's converter first saves a SavedModel of
    everything the function's owner holds (every signature and restored Keras
    function), and it does so for every conversion (tiny ResNet-50: 14 s a
    variant). Saved once here, with only the variables the function reads, each
    variant is a conversion and nothing more (6 s once, then 5 s a variant).
    """
    import tensorflow as tf

    # `loaded` stays referenced until the save is done: a restored function holds only
    # weak references to the variables it reads.
    concrete, loaded = numeric_default(saved_model_dir)
    holder = tf.Module()
    holder.variables_read = list(concrete.variables)
    with tempfile.TemporaryDirectory(prefix="kerasforge-tflite-") as tmp:
        tf.saved_model.save(holder, tmp, signatures={DEFAULT_SIGNATURE: concrete})
        (spec,) = concrete.structured_input_signature[0]
        del loaded
        yield NumericModel(Path(tmp), spec.dtype.name)


def _converter(numeric: NumericModel, variant: str, data: ExportData | None) -> Any:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(numeric.path), signature_keys=[DEFAULT_SIGNATURE]
    )
    if variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        # Per-channel int8 Dense weights with float activations make FULLY_CONNECTED
        # version 12 (op_version.cc: hybrid and per-channel), which TFLite runtimes before
        # 2.17 lack (runtime_version.cc), tflite-runtime 2.14 included; one scale per
        # Dense kernel is FULLY_CONNECTED version 9 (TFLite 2.3), as accurate on the digits
        # model. Convolutions stay per-channel. Should a TensorFlow drop this flag, the file's
        # min_runtime_version (on the card) says so and the edge choice passes it over.
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    elif variant == "int8":
        assert data is not None
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        examples = np.asarray(data.representative).astype(numeric.input_dtype, copy=False)
        converter.representative_dataset = lambda: _representative(examples)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if np.dtype(numeric.input_dtype).kind == "f":  # token ids stay integers
            converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter


def _representative(examples: np.ndarray) -> Iterator[list[np.ndarray]]:
    for example in examples:
        yield [example[np.newaxis]]


def _tokenized(data: ExportData | None, card: ModelCard) -> ExportData | None:
    """``data`` with representative texts replaced by the token ids the ``.tflite`` takes,
    tokenised as the card says (as the edge runtime does); other data unchanged."""
    from ..edge.text import tokenizer_for

    tokenizer = tokenizer_for(card)
    if data is None or tokenizer is None or np.asarray(data.representative).dtype.kind != "O":
        return data
    return dataclasses.replace(data, representative=tokenizer(list(data.representative)))


def convert(saved_model_dir: Path, variant: str, data: ExportData | None) -> tuple[bytes, bool]:
    """Convert one variant; returns the flatbuffer and whether SELECT_TF_OPS was needed.

    Raises:
        ValueError: int8 without at least ``MIN_REPRESENTATIVE`` representative examples.
        tf.lite ConverterError: the model cannot be converted even with SELECT_TF_OPS.
    """
    with numeric_saved_model(saved_model_dir) as numeric:
        return _convert_numeric(numeric, variant, data)


def _convert_numeric(
    numeric: NumericModel, variant: str, data: ExportData | None
) -> tuple[bytes, bool]:
    """:func:`convert` from a ``numeric_saved_model`` folder (raising as it does)."""
    import tensorflow as tf

    if variant == "int8":
        count = 0 if data is None else len(data.representative)
        if count < MIN_REPRESENTATIVE:
            raise ValueError(
                f"int8 needs a representative dataset of at least {MIN_REPRESENTATIVE} "
                f"training examples; received {count}"
            )
    try:
        return _converter(numeric, variant, data).convert(), False
    except Exception as exc:  # ConverterError; int8 cannot fall back to TF ops
        if variant == "int8" or "select_tf_ops" not in str(exc).lower():
            raise
    converter = _converter(numeric, variant, data)
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS,
        tf.lite.OpsSet.SELECT_TF_OPS,
    ]
    return converter.convert(), True


def convert_variants(
    saved_model_dir: Path,
    folder: Path,
    variants: tuple[str, ...],
    data: ExportData | None,
    card: ModelCard,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Variant]:
    """Write ``<folder>/<variant>.tflite`` and ``<variant>.json`` for each variant; each
    finished variant is reported to ``progress`` (name, size, seconds) as one line.

    A variant that cannot be converted is kept with its ``error`` (the parity
    report shows it as rejected); nothing is written for it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    data = _tokenized(data, card)
    written = {}
    with numeric_saved_model(saved_model_dir) as numeric:
        for name in variants:
            begun = time.monotonic()
            variant = written[name] = _write_variant(numeric, folder, name, data, card)
            if progress is not None:
                seconds = time.monotonic() - begun
                done = (
                    f"not converted ({(variant.error or '')[:80]})"
                    if variant.path is None
                    else f"{file_size(variant.size)} in {seconds:.1f} s"
                )
                progress(f"export: TFLite {name}: {done}")
    return written


def file_size(size: int) -> str:
    """``82.4 KB``, ``3.1 MB``: a file size for a progress line."""
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} KB"


def _write_variant(
    numeric: NumericModel, folder: Path, name: str, data: ExportData | None, card: ModelCard
) -> Variant:
    try:
        flatbuffer, select_tf_ops = _convert_numeric(numeric, name, data)
    except Exception as exc:  # reported, not fatal: other variants may still serve
        return Variant(name, None, error=f"{type(exc).__name__}: {_first_line(exc)}")
    path = folder / f"{name}.tflite"
    path.write_bytes(flatbuffer)
    needs = runtime_needs(flatbuffer)
    write_sidecar(
        path, card, variant=name, select_tf_ops=select_tf_ops, min_runtime=needs.min_runtime
    )
    return Variant(name, path, select_tf_ops, None, len(flatbuffer), needs.min_runtime, needs.ops)


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else "")[:300]
