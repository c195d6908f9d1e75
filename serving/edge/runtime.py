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

from pathlib import Path
from typing import Any

import numpy as np

from kerasforge.serving.card import CARD_FILE, CardError, ModelCard, read_card
from kerasforge.serving.edge.formats import format_outputs

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".pgm", ".tif", ".tiff"}


class EdgeError(Exception):
    """Bad model or input file; the message says what was expected."""


def _interpreter_class() -> Any:
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
        if not self.path.is_file():
            raise EdgeError(f"model file {str(self.path)!r} not found; pass a .tflite file")
        try:
            self.interpreter = _interpreter_class()(
                model_path=str(self.path), num_threads=num_threads
            )
        except ValueError as exc:
            raise EdgeError(f"{str(self.path)!r} is not a valid .tflite model: {exc}") from None
        signatures = self.interpreter.get_signature_list()
        self.signature_name: str | None = (
            "serving_default" if "serving_default" in signatures else next(iter(signatures), None)
        )
        self.card = _card_beside(self.path)
        detail = self._input_detail()
        self.input_name: str = detail["name"]
        self.input_shape: tuple[int, ...] = tuple(int(d) for d in detail["shape"])
        self.input_dtype = np.dtype(detail["dtype"])

    def _input_detail(self) -> dict[str, Any]:
        if self.signature_name:
            runner = self.interpreter.get_signature_runner(self.signature_name)
            name, detail = next(iter(runner.get_input_details().items()))
            return {"name": name, "shape": detail["shape"], "dtype": detail["dtype"]}
        detail = self.interpreter.get_input_details()[0]
        return {"name": detail["name"], "shape": detail["shape"], "dtype": detail["dtype"]}

    def load_input(self, path: str | Path) -> np.ndarray:
        """A batch from a ``.npy`` file (one example or a batch) or an image file."""
        path = Path(path)
        if not path.is_file():
            raise EdgeError(f"input file {str(path)!r} not found; pass an image or a .npy file")
        if path.suffix.lower() == ".npy":
            batch = np.load(path, allow_pickle=False).astype(self.input_dtype)
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            batch = self._load_image(path)[np.newaxis]
        else:
            raise EdgeError(
                f"input {str(path)!r}: expected an image ({', '.join(sorted(IMAGE_SUFFIXES))}) "
                f"or a .npy batch; received a {path.suffix or 'suffix-less'} file"
            )
        example = self.input_shape[1:]
        if batch.shape == example:  # a single example without the batch axis
            batch = batch[np.newaxis]
        if batch.shape[1:] != example:
            raise EdgeError(
                f"input {str(path)!r}: expected examples of shape {list(example)} "
                f"(batch shape [N, {', '.join(map(str, example))}]); "
                f"received shape {list(batch.shape)}"
            )
        return batch

    def _load_image(self, path: Path) -> np.ndarray:
        """Decode, convert to the model's channels and resize; pixels stay 0-255."""
        from PIL import Image, UnidentifiedImageError

        height, width, channels = self.input_shape[1:4]
        try:
            image = Image.open(path).convert("L" if channels == 1 else "RGB")
        except (UnidentifiedImageError, OSError) as exc:
            raise EdgeError(f"cannot read image {str(path)!r}: {exc}") from None
        pixels = np.asarray(image.resize((width, height), Image.BILINEAR), dtype="float32")
        return pixels.reshape(height, width, channels).astype(self.input_dtype)

    def predict(self, batch: np.ndarray) -> dict[str, Any]:
        """The task's answer for a batch, as JSON-ready lists.

        Classification: ``class_ids``, ``probabilities``, ``class_names``;
        regression: ``values``; other tasks: their named outputs.
        """
        return format_outputs(self._invoke(batch.astype(self.input_dtype)), self.card)

    def _invoke(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        if self.signature_name:  # the runner resizes the batch axis itself
            runner = self.interpreter.get_signature_runner(self.signature_name)
            return runner(**{self.input_name: batch})
        index = self.interpreter.get_input_details()[0]["index"]
        self.interpreter.resize_tensor_input(index, batch.shape)
        self.interpreter.allocate_tensors()
        self.interpreter.set_tensor(index, batch)
        self.interpreter.invoke()
        return {
            d["name"]: self.interpreter.get_tensor(d["index"])
            for d in self.interpreter.get_output_details()
        }


def _card_beside(model_path: Path) -> ModelCard | None:
    """The model card next to a ``.tflite`` file; ``None`` for a bare model file."""
    if not (model_path.parent / CARD_FILE).is_file():
        return None
    try:
        return read_card(model_path.parent)
    except CardError as exc:
        raise EdgeError(str(exc)) from None
