"""Encoded images in, model pixels out, inside the serving graph (``serving_bytes``).

Clients send JPEG, PNG, GIF or BMP bytes (``{"b64": ...}`` over REST); the
graph does what the edge runtime does with Pillow (``edge.inputs.load_image``),
so a server and a device answer the same image alike:

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

from kerasforge.serving.signatures import IMAGE_BYTES_INPUT, Endpoint

LUMA = (19595, 38470, 7471)
"""Pillow's RGB -> L weights, in 1/65536."""


def decode(encoded: Any, height: int, width: int, channels: int) -> Any:
    """One encoded image -> float32 ``[height, width, channels]`` pixels, 0-255."""
    import tensorflow as tf

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
