"""Reading the edge runtime's inputs safely: ``.npy`` batches and image files.

Every refusal is an ``EdgeError`` saying what was expected and what was
received: files that are not ``.npy`` at all (corrupt, a pickle, an
``.npz``), pickled object arrays, strings, truncated files, zero-size
batches, batches over ``MAX_INPUT_MB`` (``--max-input-mb``), images over
``MAX_IMAGE_PIXELS`` (decompression bombs) and non-finite values (NaN/Inf)
are refused before they reach the interpreter.
Non-finite inputs are refused rather than predicted on, so every answer is
standard JSON (a bare ``NaN`` is not). ``.npy`` batches are memory-mapped and
run in chunks of ``CHUNK`` examples, so a million-example file never sits in
memory at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

CHUNK = 1024
MAX_INPUT_MB = 64
"""Largest ``.npy`` batch read per call, in MB of array data (``--max-input-mb`` raises it):
every example's answer is kept and printed, so the work and the memory grow with it."""
NPY_MAGIC = b"\x93NUMPY"
"""How every ``.npy`` file starts (NumPy's format, ``numpy.lib.format.MAGIC_PREFIX``)."""
MAX_IMAGE_PIXELS = 40_000_000
"""Largest image decoded (40 megapixels); larger files are refused before decoding."""


class EdgeError(Exception):
    """Bad model or input file; the message says what was expected."""


def load_npy(path: Path, example: tuple[int, ...], max_mb: float = MAX_INPUT_MB) -> np.ndarray:
    """A memory-mapped ``[N, *example]`` batch (a single example gains the batch axis).

    Args:
        path: the ``.npy`` file.
        example: the shape of one example, as the model takes it.
        max_mb: the largest batch accepted, in MB of array data (default ``MAX_INPUT_MB``).

    Raises:
        EdgeError: not a ``.npy`` file, pickled objects, strings, truncated data, over
            ``max_mb``, wrong shape or no examples.
    """
    _check_npy_header(path)
    try:
        batch = np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as exc:
        if any(hint in str(exc) for hint in ("allow_pickle", "Object arrays", "Python objects")):
            raise EdgeError(
                f"input {str(path)!r} holds pickled Python objects, which are never loaded "
                "(they can run code); save a numeric array: np.save(path, x.astype('float32'))"
            ) from None
        if "greater than file size" in str(exc):
            raise EdgeError(
                f"input {str(path)!r} is truncated: its header promises more data than the "
                "file holds; write it again with np.save"
            ) from None
        raise EdgeError(f"input {str(path)!r} is not a readable .npy array: {exc}") from None
    except (OSError, EOFError) as exc:
        raise EdgeError(f"input {str(path)!r} is truncated or not a .npy file: {exc}") from None
    if batch.dtype.kind not in "biuf":
        raise EdgeError(
            f"input {str(path)!r}: expected numbers (float or int); received dtype "
            f"{batch.dtype.name!r}; save raw numeric inputs, e.g. x.astype('float32')"
        )
    _check_size(path, batch, max_mb)
    if batch.shape == example:  # a single example without the batch axis
        batch = batch[np.newaxis]
    if batch.shape[1:] != example:
        raise EdgeError(
            f"input {str(path)!r}: expected examples of shape {list(example)} "
            f"(batch shape [N, {', '.join(map(str, example))}]); received shape {list(batch.shape)}"
        )
    if batch.shape[0] == 0:
        raise EdgeError(f"input {str(path)!r} holds no examples (shape {list(batch.shape)})")
    return batch


def _check_npy_header(path: Path) -> None:
    """Refuse a file that is not a ``.npy`` at all, saying what it looks like instead.

    NumPy calls any file without its header "pickled data"; a pickle is told apart
    from a corrupt or foreign file by its first bytes (protocol 2+ starts ``\\x80 N``).
    """
    try:
        with path.open("rb") as file:
            head = file.read(len(NPY_MAGIC))
    except OSError as exc:
        raise EdgeError(f"input {str(path)!r} cannot be read: {exc.strerror}") from None
    if head == NPY_MAGIC:
        return
    fix = "save the batch with np.save(path, x.astype('float32'))"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        what = "a Python pickle, which is never loaded (it can run code)"
    elif head[:4] == b"PK\x03\x04":
        what = "a zip archive (an .npz holds several arrays): save the one array as .npy"
    else:
        what = f"corrupt or another format (it starts {head!r}, a .npy starts {NPY_MAGIC!r})"
    raise EdgeError(f"input {str(path)!r} is not a .npy file: it is {what}; {fix}")


def _check_size(path: Path, batch: np.ndarray, max_mb: float) -> None:
    """Refuse a batch over ``max_mb`` MB before any of it is read."""
    size_mb = batch.nbytes / 1e6
    if size_mb > max_mb:
        raise EdgeError(
            f"input {str(path)!r} holds {size_mb:,.0f} MB ({batch.shape[0]:,} rows of "
            f"{batch.dtype.name}); the edge runtime reads at most {max_mb:g} MB per call: "
            f"split it into smaller files, or raise the limit with --max-input-mb "
            f"{int(size_mb) + 1} (default {MAX_INPUT_MB}, EdgeModel.load_input(max_mb=...))"
        )


def chunks(batch: np.ndarray, dtype: np.dtype, size: int | None = None) -> Iterator[np.ndarray]:
    """``batch`` in chunks of ``size`` (default ``CHUNK``) examples, each checked to be finite.

    Raises:
        EdgeError: an example holds NaN or Inf.
    """
    size = size or CHUNK
    for start in range(0, len(batch), size):
        chunk = np.asarray(batch[start : start + size], dtype=dtype)
        if chunk.dtype.kind in "fc" and not np.isfinite(chunk).all():
            bad = start + int(np.argwhere(~np.isfinite(chunk.reshape(len(chunk), -1)))[0][0])
            raise EdgeError(
                f"example {bad} holds NaN or Inf; the edge runtime refuses non-finite inputs "
                "(its answers are standard JSON); replace or drop those examples"
            )
        yield chunk


def load_image(path: Path, height: int, width: int, channels: int) -> np.ndarray:
    """Decode, convert to the model's channels and resize; pixels stay 0-255.

    Raises:
        EdgeError: not an image, or over ``MAX_IMAGE_PIXELS`` (checked before decoding).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            pixels = image.size[0] * image.size[1]
            if pixels > MAX_IMAGE_PIXELS:
                raise EdgeError(
                    f"image {str(path)!r} is {image.size[0]}x{image.size[1]} "
                    f"({pixels / 1e6:.0f} megapixels); the edge runtime decodes at most "
                    f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels; resize it first"
                )
            converted = image.convert("L" if channels == 1 else "RGB")
    except Image.DecompressionBombError as exc:  # refused by Pillow while opening
        raise EdgeError(
            f"image {str(path)!r} is too large to decode ({exc}); the edge runtime decodes at "
            f"most {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels; resize it first"
        ) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise EdgeError(f"cannot read image {str(path)!r}: {exc}") from None
    resized = converted.resize((width, height), Image.BILINEAR)
    return np.asarray(resized, dtype="float32").reshape(height, width, channels)
