"""What a converted ``.tflite`` file asks and says: the runtime it needs, and its sidecar.

:func:`runtime_needs` reads the flatbuffer's ``min_runtime_version`` and operator
versions (the card's ``tflite.variants``; the edge choice passes over a variant
the oldest supported runtime cannot load). :func:`write_sidecar` writes the JSON
file beside each ``.tflite``: its tensors with their int8 scale and zero-point
(:func:`describe_tflite`), the labels and the pre- and postprocessing, which the
edge runtime and any other LiteRT client read to quantize inputs and dequantize
outputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..card import ModelCard
from .contracts import contract_for
from .signatures import DEFAULT_SIGNATURE

QUANTIZE_RULE = "int8 inputs: q = clip(round(x / scale) + zero_point, -128, 127)"


@dataclass(frozen=True)
class RuntimeNeeds:
    """What a ``.tflite`` flatbuffer asks of the runtime that loads it."""

    min_runtime: str | None
    """The converter's ``min_runtime_version`` metadata (``None`` when absent)."""
    ops: dict[str, int]
    """Each operator's highest version in the file (a runtime registers an op's versions
    from 1 up): builtin names, custom ops as ``CUSTOM:<code>``."""


def runtime_needs(flatbuffer: bytes) -> RuntimeNeeds:
    """Read ``min_runtime_version`` and the operator codes from a ``.tflite`` flatbuffer.

    The converter computes ``min_runtime_version`` from each operator's version
    (``tflite/tools/versioning/runtime_version.cc``) and stores it, NUL-padded, in a
    metadata buffer; this reads it back with TensorFlow's generated schema, without
    unpacking the weights.
    """
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAs(flatbuffer, 0)
    min_runtime = None
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() == b"min_runtime_version":
            raw = model.Buffers(entry.Buffer()).DataAsNumpy()
            text = bytes(raw).split(b"\0", 1)[0].decode("ascii", "replace").strip()
            min_runtime = text or None
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    ops: dict[str, int] = {}
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        # Codes past 127 live in builtin_code; the deprecated int8 field holds 127 for them.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = names.get(builtin, str(builtin))
        if builtin == schema.BuiltinOperator.CUSTOM and code.CustomCode():
            name = f"CUSTOM:{code.CustomCode().decode('utf-8', 'replace')}"
        ops[name] = max(ops.get(name, 0), int(code.Version()))
    return RuntimeNeeds(min_runtime, ops)


def describe_tflite(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The signature's inputs and outputs: name, dtype, shape, quantization (scale, zero-point)."""
    from ..edge.runtime import interpreter_class, quantization

    interpreter = interpreter_class()(model_path=str(path))
    runner = interpreter.get_signature_runner(DEFAULT_SIGNATURE)

    def tensors(details: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for name, detail in sorted(details.items()):
            scale, zero_point = quantization(detail)
            out.append(
                {
                    "name": name,
                    "dtype": np.dtype(detail["dtype"]).name,
                    "shape": [int(d) for d in detail["shape_signature"]],
                    "quantization": (
                        {"scale": float(scale), "zero_point": int(zero_point)} if scale else None
                    ),
                }
            )
        return out

    return {
        "inputs": tensors(runner.get_input_details()),
        "outputs": tensors(runner.get_output_details()),
    }


def write_sidecar(
    path: Path,
    card: ModelCard,
    *,
    variant: str,
    select_tf_ops: bool,
    min_runtime: str | None = None,
) -> Path:
    """Write ``<model>.json`` beside a ``.tflite``: what a client needs to reproduce the server
    (and ``min_runtime``, the oldest TFLite runtime that loads it)."""
    contract = contract_for(card.task)
    tensors = describe_tflite(path)
    quantized = any(t["quantization"] for t in tensors["inputs"] + tensors["outputs"])
    sidecar = {
        "format": 1,
        "variant": variant,
        "task": card.task,
        "architecture": card.architecture,
        "signature": DEFAULT_SIGNATURE,
        "labels": list(card.class_names or card.target_names),
        **tensors,
        "select_tf_ops": select_tf_ops,
        "min_runtime": min_runtime,
        **{key: card.data[key] for key in contract.card_data if key in card.data},
        "preprocessing": {
            "steps": "inside the model: send raw inputs (no scaling by the client)",
            **card.preprocessing,
            "value_range": card.data.get("value_range"),
            "quantize_inputs": QUANTIZE_RULE if quantized else None,
        },
        "postprocessing": {
            "dequantize_outputs": "x = (q - zero_point) * scale" if quantized else None,
            "labels": contract.postprocessing,
        },
    }
    out = path.with_suffix(".json")
    out.write_text(json.dumps(sidecar, indent=2))
    return out
