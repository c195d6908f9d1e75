"""Encoded images in, model pixels out, inside the serving graph (``serving_bytes``).

Clients send JPEG, PNG, GIF or BMP bytes (``{"b64": ...}`` over REST); the
graph does what the edge runtime does with Pillow (``edge.inputs.load_image``),
so a server and a device answer the same image alike:

0. refuse, before decoding, any other format (JPEG XL, WebP) and any image whose
   header declares more than ``MAX_IMAGE_PIXELS`` pixels (a 400 KB PNG can
   declare 20,000 x 20,000 and take 8 GB to decode), as the edge runtime does;
1. decode to 8-bit pixels (the first frame of an animation);
2. drop an alpha channel; grey becomes RGB by repeating it; RGB becomes grey
   with Pillow's ``L`` weights in fixed point
   (``(19595 R + 38470 G + 7471 B + 32768) >> 16``, exact on grey pixels);
3. resize to the model's height and width (bilinear with antialiasing;
   an image already that size is left as it is);
4. map 0-255 onto the model's raw value range (every image model of
   kerasforge takes 0-255 pixels, so this is the identity there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..edge.inputs import MAX_IMAGE_PIXELS
from .signatures import IMAGE_BYTES_INPUT, Endpoint

LUMA = (19595, 38470, 7471)
"""Pillow's RGB -> L weights, in 1/65536."""
PNG_MAGIC = (0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A)
HEADER_BYTES = 32
UNKNOWN_FORMAT = (
    "unsupported image format: send JPEG, PNG, GIF or BMP bytes (the image file as it is, "
    "base64 in a b64 object over REST); received bytes that are none of these"
)


def declared_pixels(encoded: Any) -> tuple[Any, Any]:
    """(known format, width x height its header declares), read without decoding.

    PNG: IHDR's big-endian width and height; GIF: the logical screen (which TF
    decodes to); BMP: the info header's width and |height|; JPEG: the frame header
    (``tf.image.extract_jpeg_shape``).
    """
    import tensorflow as tf

    padded = tf.strings.join([tf.strings.substr(encoded, 0, HEADER_BYTES), b"\0" * HEADER_BYTES])
    head = tf.io.decode_raw(tf.strings.substr(padded, 0, HEADER_BYTES), tf.uint8)
    b = tf.cast(head, tf.int64)

    def number(start: int, size: int, big_endian: bool) -> Any:
        order = range(size) if big_endian else reversed(range(size))
        value = tf.constant(0, tf.int64)
        for i in order:
            value = value * 256 + b[start + i]
        return value

    def signed32(value: Any) -> Any:
        return tf.abs(tf.where(value >= 2**31, value - 2**32, value))

    def starts(magic: Sequence[int]) -> Any:
        return tf.reduce_all(tf.equal(b[: len(magic)], tf.constant(list(magic), tf.int64)))

    png, gif, bmp, jpeg = starts(PNG_MAGIC), starts(b"GIF"), starts(b"BM"), starts((255, 216))
    jpeg_pixels = tf.cond(
        jpeg,
        lambda: tf.reduce_prod(tf.cast(tf.image.extract_jpeg_shape(encoded)[:2], tf.int64)),
        lambda: tf.constant(0, tf.int64),
    )
    pixels = tf.where(
        png,
        number(16, 4, True) * number(20, 4, True),
        tf.where(
            gif,
            number(6, 2, False) * number(8, 2, False),
            tf.where(
                bmp, signed32(number(18, 4, False)) * signed32(number(22, 4, False)), jpeg_pixels
            ),
        ),
    )
    return png | gif | bmp | jpeg, pixels


def checked(encoded: Any) -> list[Any]:
    """Assertions that ``encoded`` is a JPEG/PNG/GIF/BMP within ``MAX_IMAGE_PIXELS``.

    ``tf.debugging.Assert`` over message strings: the error reads ``assertion failed:
    [<message>]``, with none of the tensors that ``assert_equal`` would list.
    """
    import tensorflow as tf

    known, pixels = declared_pixels(encoded)
    return [
        tf.debugging.Assert(known, [UNKNOWN_FORMAT]),
        tf.debugging.Assert(
            pixels <= MAX_IMAGE_PIXELS,
            [
                f"image too large: its header declares more than {MAX_IMAGE_PIXELS} pixels "
                "(width x height); resize it before sending; it declares",
                pixels,
            ],
        ),
    ]


def decode(encoded: Any, height: int, width: int, channels: int) -> Any:
    """One encoded image -> float32 ``[height, width, channels]`` pixels, 0-255."""
    import tensorflow as tf

    with tf.control_dependencies(checked(encoded)):
        image = tf.io.decode_image(encoded, channels=0, dtype=tf.uint8, expand_animations=False)
    image = tf.cast(image, tf.int32)
    rgb = tf.cond(
        tf.shape(image)[-1] >= 3,
        lambda: image[..., :3],
        lambda: tf.tile(image[..., :1], [1, 1, 3]),
    )
    if channels == 1:
        weighted = tf.reduce_sum(rgb * tf.constant(LUMA, tf.int32), axis=-1, keepdims=True)
        rgb = tf.bitwise.right_shift(weighted + 32768, 16)
    pixels = tf.cast(rgb, tf.float32)
    size = tf.shape(pixels)[:2]
    same = tf.reduce_all(tf.equal(size, [height, width]))
    pixels = tf.cond(
        same,
        lambda: pixels,
        lambda: tf.image.resize(pixels, (height, width), method="bilinear", antialias=True),
    )
    return tf.ensure_shape(pixels, (height, width, channels))


def encode_png(x: np.ndarray, value_range: Sequence[float] | None = None) -> np.ndarray:
    """A batch of raw pixels (in ``value_range``, default 0-255) as PNG bytes, 8 bits each."""
    import tensorflow as tf

    low, high = (float(v) for v in (value_range or (0.0, 255.0)))
    scaled = (np.asarray(x, dtype="float64") - low) * (255.0 / (high - low))
    pixels = np.clip(np.round(scaled), 0, 255).astype(np.uint8)
    encoded = [tf.io.encode_png(image).numpy() for image in pixels]
    return np.array(encoded, dtype=object)


def bytes_endpoint(
    shape: Sequence[int | None],
    value_range: Sequence[float] | None,
    head: Callable[[Any], dict[str, Any]],
) -> Endpoint | None:
    """``head`` over a batch of encoded images for a model taking ``shape`` pixels.

    Returns ``None`` where no image signature fits (not ``[height, width, 1 or 3]``
    with a known size).
    """
    import tensorflow as tf

    if len(shape) != 3 or None in shape or shape[2] not in (1, 3):
        return None
    height, width, channels = (int(d) for d in shape)
    low, high = (float(v) for v in (value_range or (0.0, 255.0)))

    def serve(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        pixels = tf.map_fn(
            lambda encoded: decode(encoded, height, width, channels),
            image_bytes,
            fn_output_signature=tf.TensorSpec((height, width, channels), tf.float32),
        )
        if (low, high) != (0.0, 255.0):
            pixels = low + pixels * ((high - low) / 255.0)
        return head(pixels)

    spec = tf.TensorSpec((None,), tf.string, name=IMAGE_BYTES_INPUT)
    facts = {
        "description": (
            f"encoded JPEG/PNG/GIF/BMP images ({{'b64': ...}} over REST), decoded, converted "
            f"to {channels} channel(s) and resized to {height}x{width} in the graph"
        )
    }
    return Endpoint(serve, [spec], input_facts=(facts,), description="encoded images")
