"""Run a ``.tflite`` model with the LiteRT interpreter (no TensorFlow).

The model card beside the file (``kerasforge.json``) names the task, which
picks the answer's format; image files are decoded and resized to the input
size, and their 0-255 pixels go to the model as they are (scaling is inside
the exported graph).

Example:
    >>> model = EdgeModel("artifacts/models/digits_cnn/1/model.tflite")
    >>> model.predict(model.load_input("digit.png"))["class_ids"]
    [3]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from ..card import CARD_FILE, CardError, ModelCard, read_card
from .compat import (
    installed_runtime,
    unsupported_op,
    unsupported_op_error,
)
from .formats import format_outputs, task_contract
from .inputs import MAX_INPUT_MB, EdgeError, chunks, load_image, load_npy
from .text import load_text, tokenizer_for

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".pgm", ".tif", ".tiff"}


def interpreter_class() -> Any:
    """LiteRT's ``Interpreter`` class: ``ai_edge_litert``, else ``tflite_runtime``."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise EdgeError(
                "no TFLite runtime found: install `ai-edge-litert` (or `tflite-runtime`), "
                "e.g. `pip install kerasforge[edge]`"
            ) from None
    return Interpreter


class EdgeModel:
    """One ``.tflite`` model and its ``kerasforge.json`` description when present."""

    def __init__(self, path: str | Path, num_threads: int | None = None) -> None:
        self.path = Path(path)
        if num_threads is not None and num_threads < 1:
            raise EdgeError(f"threads: expected a positive count; received {num_threads}")
        if not self.path.is_file():
            raise EdgeError(f"model file {str(self.path)!r} not found; pass a .tflite file")
        interpreter = interpreter_class()
        try:
            self.interpreter = interpreter(model_path=str(self.path), num_threads=num_threads)
        except ValueError as exc:
            raise self._load_error(exc, interpreter) from None
        signatures = self.interpreter.get_signature_list()
        self.signature_name: str | None = (
            "serving_default" if "serving_default" in signatures else next(iter(signatures), None)
        )
        self.runner = (
            self.interpreter.get_signature_runner(self.signature_name)
            if self.signature_name
            else None
        )
        self.card = _card_beside(self.path)
        detail = self._input_detail()
        self.input_name: str = detail["name"]
        self.input_shape: tuple[int, ...] = tuple(int(d) for d in detail["shape"])
        self.input_dtype = np.dtype(detail["dtype"])
        self.input_quantization: tuple[float, int] = quantization(detail)
        self.raw_dtype = np.dtype("float32") if self.input_quantization[0] else self.input_dtype
        self.tokenizer = tokenizer_for(self.card)
        # Fixed per model: read once, not on every call (single examples on a device
        # spend as long in these lookups as in an 8x8 int8 model itself).
        self._output_quantization = (
            {name: quantization(d) for name, d in self.runner.get_output_details().items()}
            if self.runner
            else {}
        )
        if self.input_quantization[0]:
            info = np.iinfo(self.input_dtype)
            self._input_limits = (info.min, info.max)
        if self.input_dtype.kind in "SOU":  # string inputs (text models) go in as Python str
            self.raw_dtype = np.dtype(object)

    def _load_error(self, exc: ValueError, interpreter: Any) -> EdgeError:
        """The interpreter's refusal in one line: a missing op version names the variants this
        runtime loads (``compat``); anything else says the file is not a TFLite model."""
        op = unsupported_op(str(exc))
        if op is None:
            first = next((line for line in str(exc).splitlines() if line.strip()), "")
            return EdgeError(f"{str(self.path)!r} is not a valid .tflite model: {first}")
        try:
            card = _card_beside(self.path)
        except EdgeError:
            card = None
        return unsupported_op_error(self.path, card, op, installed_runtime(interpreter))

    def _input_detail(self) -> dict[str, Any]:
        if self.runner:
            name, detail = next(iter(self.runner.get_input_details().items()))
            return {**detail, "name": name}
        return self.interpreter.get_input_details()[0]

    @property
    def value_range(self) -> tuple[float, float]:
        """The raw input's range from the card (``(0.0, 1.0)`` when unknown)."""
        try:
            found = self.card.raw_signature().input().value_range if self.card else None
        except (CardError, KeyError):
            found = None
        return found or (0.0, 1.0)

    def load_input(self, path: str | Path, max_mb: float = MAX_INPUT_MB) -> np.ndarray:
        """A batch from a ``.npy`` file (memory-mapped, at most ``max_mb`` MB) or an image
        file (see ``inputs``)."""
        path = Path(path)
        if not path.is_file():
            raise EdgeError(f"input file {str(path)!r} not found; pass an image or a .npy file")
        if path.suffix.lower() == ".npy":
            return load_npy(path, self.input_shape[1:], max_mb)
        if path.suffix.lower() == ".txt" and self.takes_text:  # one text per line
            return load_text(path)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return load_image(path, *self.input_shape[1:4])[np.newaxis]
        raise EdgeError(
            f"input {str(path)!r}: expected an image ({', '.join(sorted(IMAGE_SUFFIXES))}), "
            "a .npy batch or a .txt file (text models, one example per line); "
            f"received a {path.suffix or 'suffix-less'} file"
        )

    def predict(self, batch: np.ndarray) -> dict[str, Any]:
        """The task's answer for a batch, as JSON-ready lists.

        Classification: ``class_ids``, ``probabilities``, ``class_names``;
        regression: ``values``; other tasks: their named outputs.
        """
        texts = np.asarray(batch).dtype.kind in "OSU"  # tokenised in `outputs` when needed
        dtype = np.dtype(object) if texts else self.raw_dtype
        parts = [self.outputs(chunk) for chunk in chunks(batch, dtype)]
        joined = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
        return format_outputs(joined, self.card)

    def outputs(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """The signature's named outputs for a batch of raw inputs.

        Quantized models are handled here: float inputs are quantized with the
        input's scale and zero-point, quantized outputs dequantized to float32,
        so callers always see the same values as from the float model.
        """
        batch = self._tokenized(batch)
        batch = np.asarray(batch, dtype=self.raw_dtype)
        scale, zero_point = self.input_quantization
        if scale:  # in place on one float array: each NumPy call costs as much as its work here
            quantized = np.rint(batch / scale)
            quantized += zero_point
            low, high = self._input_limits
            np.minimum(quantized, high, out=quantized)
            np.maximum(quantized, low, out=quantized)
            batch = quantized.astype(self.input_dtype)
        return self._invoke(batch)

    @property
    def takes_text(self) -> bool:
        """Whether raw inputs are texts: string inputs, or token ids the card's tokeniser makes."""
        return self.tokenizer is not None or self.input_dtype.kind in "SOU"

    def _tokenized(self, batch: Any) -> Any:
        """Texts for a model over token ids: ids from the card's tokeniser; others unchanged."""
        batch = np.asarray(batch) if not isinstance(batch, np.ndarray) else batch
        if batch.dtype.kind not in "OSU" or self.input_dtype.kind not in "iu":
            return batch
        if self.tokenizer is None:
            raise EdgeError(
                f"{str(self.path)!r} takes token ids, and no model card beside it describes "
                "its tokeniser (preprocessing.tokenizer or data.seq2seq): keep kerasforge.json "
                "next to the .tflite, or send a .npy of token ids"
            )
        return self.tokenizer(list(batch))

    def _explained(self, exc: RuntimeError) -> Exception:
        """A runtime lacking the Flex delegate, explained; other errors unchanged."""
        if not needs_select_tf_ops(str(exc)):
            return exc
        return EdgeError(
            f"{str(self.path)!r} needs TensorFlow ops (SELECT_TF_OPS: string tokenisation, "
            "tensor lists; the card's tflite section says select_tf_ops: true) that this TFLite "
            f"runtime lacks: the installed {interpreter_class().__module__} has no Flex delegate "
            "(neither the pip ai-edge-litert nor tflite-runtime ships one). Run it where the "
            "Flex delegate is linked: TensorFlow's tf.lite.Interpreter (pip install tensorflow), "
            "or on Android with org.tensorflow:tensorflow-lite-select-tf-ops; or use a variant "
            "converted with builtin ops only (kerasforge's text models take token ids, tokenised "
            "from the card), or serve the SavedModel over REST"
        )

    def _invoke(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        try:
            return self._run(batch)
        except RuntimeError as exc:
            raise self._explained(exc) from None

    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        if self.runner:  # the runner resizes the batch axis itself
            raw = self.runner(**{self.input_name: batch})
            scales = self._output_quantization
            return {name: _dequantize(value, *scales[name]) for name, value in raw.items()}
        index = self.interpreter.get_input_details()[0]["index"]
        self.interpreter.resize_tensor_input(index, batch.shape)
        self.interpreter.allocate_tensors()
        self.interpreter.set_tensor(index, batch)
        self.interpreter.invoke()
        return {
            d["name"]: _dequantized(self.interpreter.get_tensor(d["index"]), d)
            for d in self.interpreter.get_output_details()
        }


def needs_select_tf_ops(message: str) -> bool:
    """True when an interpreter error says the model holds TensorFlow (Flex) ops."""
    return "Select TensorFlow op" in message or "Flex" in message


def quantization(detail: dict[str, Any]) -> tuple[float, int]:
    """``(scale, zero_point)`` of a tensor; scale 0.0 when it is not quantized."""
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return float(scale), int(zero_point)


def _dequantized(value: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    return _dequantize(value, *quantization(detail))


def _dequantize(value: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    if not scale:
        return value
    values = value.astype(np.float32)
    values -= zero_point
    values *= scale
    return values


def _card_beside(model_path: Path) -> ModelCard | None:
    """The model card of a ``.tflite`` file; ``None`` for a bare model file.

    Looked up beside the file (``model.tflite``), then one folder up (the
    variants under ``tflite/``), else built from the JSON written beside
    every variant (labels and task), so a copied pair of files still works.
    """
    for folder in (model_path.parent, model_path.parent.parent):
        if (folder / CARD_FILE).is_file():
            try:
                return read_card(folder)
            except CardError as exc:
                raise EdgeError(str(exc)) from None
    sidecar = model_path.with_suffix(".json")
    if not sidecar.is_file():
        return None
    try:
        facts = json.loads(sidecar.read_text())
        contract = task_contract(facts["task"])
        labels = list(facts.get("labels", []))
        preprocessing = {"tokenizer": facts.get("preprocessing", {}).get("tokenizer")}
        data = {key: facts[key] for key in contract.card_data if key in facts}
        return ModelCard(
            task=facts["task"],
            architecture=facts["architecture"],
            data=data,
            preprocessing={k: v for k, v in preprocessing.items() if v},
            **{contract.labels: labels},
        )
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        raise EdgeError(f"{str(sidecar)!r} is not a kerasforge model JSON: {exc}") from None
