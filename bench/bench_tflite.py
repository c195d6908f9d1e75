"""TFLite variants of the default digits model: size, accuracy, agreement, latency.

Size and accuracy figures come from the parity report the latest publish wrote
(``parity.json``: every variant measured on the same test split in the same
run against the same Keras model). The latency ratio is measured here: the
float32 and int8 variants of that version, single example, through the edge
runtime, interleaved, warm-up excluded, 5,000 calls a side (one call is about
50 microseconds: 300 a side sampled 15 ms, and the ratio moved by 0.3 from run
to run). The default model's multiply-accumulate
count is computed from its layers and reported beside it (the goal applies to
models of at least 1M MACs).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from common import ROOT, ensure_default_model, figure, interleaved, p50_ms

MIN_MACS = 1_000_000


def multiply_accumulates(model: Any) -> int:
    """MACs of one example through the Conv2D and Dense layers of a Keras model."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            _, height, width, out_channels = layer.output.shape
            k_h, k_w, in_channels, _ = layer.kernel.shape
            total += height * width * k_h * k_w * in_channels * out_channels
        elif kind == "Dense":
            total += int(layer.kernel.shape[0]) * int(layer.kernel.shape[1])
    return int(total)


def _default_macs() -> int:
    from kerasforge import models
    from kerasforge.pipelines.config.experiment import load_config

    cfg = load_config(ROOT / "configs" / "digits_cnn.yaml")
    model = models.build_model(
        cfg.model.name, input_shape=(8, 8, 1), num_classes=10, **cfg.model.options
    )
    return multiply_accumulates(model)


def run(args: Any, repeats: int = 5000) -> dict[str, dict]:
    from kerasforge.serving import repository
    from kerasforge.serving.edge.runtime import EdgeModel

    model_dir = ensure_default_model(args.repository)
    version = model_dir / str(repository.latest_version(model_dir))
    report = json.loads((version / "parity.json").read_text())
    rows = {row["model"]: row for row in report["rows"]}
    f32, f16, int8 = rows["float32"], rows["float16"], rows["int8"]
    sizes = {"float32_bytes": f32["size_bytes"]}
    figures = {
        "tflite_int8_size_ratio": figure(
            int8["size_bytes"] / f32["size_bytes"],
            "<= 0.30",
            None,
            int8_bytes=int8["size_bytes"],
            **sizes,
        ),
        "tflite_int8_acc_drop_points": figure(
            int8["drop_points"],
            "<= 1.0",
            int8["drop_points"] <= 1.0,
            keras=report["keras_metric"],
            int8=int8["metric"],
        ),
        "tflite_int8_agreement": figure(
            int8["agreement"], ">= 0.99", int8["agreement"] >= 0.99, examples=report["examples"]
        ),
        "tflite_fp16_size_ratio": figure(
            f16["size_bytes"] / f32["size_bytes"],
            "<= 0.55 with <= 0.1 point loss",
            None,
            fp16_bytes=f16["size_bytes"],
            fp16_drop_points=f16["drop_points"],
            **sizes,
        ),
    }
    ratio = figures["tflite_int8_size_ratio"]
    ratio["met"] = ratio["value"] <= 0.30
    fp16 = figures["tflite_fp16_size_ratio"]
    fp16["met"] = fp16["value"] <= 0.55 and f16["drop_points"] <= 0.1
    float_model = EdgeModel(version / "tflite" / "float32.tflite", num_threads=1)
    int8_model = EdgeModel(version / "tflite" / "int8.tflite", num_threads=1)
    example = np.full((1, 8, 8, 1), 128.0, dtype="float32")
    times = interleaved(
        {
            "float32": lambda: float_model.outputs(example),
            "int8": lambda: int8_model.outputs(example),
        },
        repeats,
        warmup=20,
    )
    macs = _default_macs()
    latency = p50_ms(times["int8"]) / p50_ms(times["float32"])
    figures["tflite_int8_latency_ratio"] = figure(
        latency,
        f"<= 0.8 (models of >= {MIN_MACS} MACs)",
        latency <= 0.8 if macs >= MIN_MACS else None,
        limit="XNNPack's float32 kernels are fast at 8x8 inputs; int8 adds quantizing the "
        "input and dequantizing the output on every call",
        int8_p50_ms=p50_ms(times["int8"]),
        float32_p50_ms=p50_ms(times["float32"]),
        macs=macs,
        runs=repeats,
        threads=1,
    )
    return figures
