"""Image augmentation of training batches, in tf.data (config ``data.augmentation``).

Every op works on a whole batch of raw pixels (0-255, ``[B, H, W, C]``) in a
``Dataset.map`` after ``batch`` (batch-vectorised: one call per batch, random
parameters drawn per example). Spatial and colour ops are Keras preprocessing
layers seeded from the experiment seed; random resized crop, MixUp and CutMix
are stateless ops keyed by ``(seed, batch index)``, so a resumed run draws the
same values for the same step. Augmentation only touches the training
dataset: evaluation, export and serving never see it (the model holds no
augmentation layer). With ``placement: model`` the Keras layers run instead as
the model's first layer (``models.layers.TrainingAugmentation``), on the
accelerator, only in training.

MixUp and CutMix draw the mixing ratio λ from Beta(alpha, alpha) *per example* as
``G1 / (G1 + G2)`` with ``G1, G2 ~ Gamma(alpha)`` and mix the one-hot labels with
the same λ (CutMix: λ is the area actually kept), so the targets become soft
labels that the classification loss and accuracy accept (``soft_labels``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError
from .text import TextAugmentConfig, augment_text_dataset

if TYPE_CHECKING:
    import tensorflow as tf

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Alpha = Annotated[float, Field(ge=0.0, le=10.0)]


class AugmentConfig(BaseModel):
    """Training-time image augmentation; every value 0 (or ``none``) is off.

    ``crop``: random resized crop keeping at least this fraction of the area
    (1: off). ``flip``: ``horizontal``, ``vertical`` or both. ``rotation``:
    at most this fraction of a full turn either way. ``zoom``, ``translation``:
    fractions of the image size. ``brightness``, ``contrast``, ``saturation``,
    ``hue``: colour jitter strengths (saturation and hue need 3 channels).
    ``randaugment``: Keras' RandAugment (two ops per image). ``mixup_alpha``,
    ``cutmix_alpha``: alpha of Beta(alpha, alpha) for MixUp / CutMix (both set: each
    example picks one of them at random). ``placement``: where it runs (below).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    crop: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    flip: Literal["none", "horizontal", "vertical", "horizontal_and_vertical"] = "none"
    rotation: Annotated[float, Field(ge=0.0, le=0.5)] = 0.0
    zoom: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    translation: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    brightness: Unit = 0.0
    contrast: Unit = 0.0
    saturation: Unit = 0.0
    hue: Unit = 0.0
    randaugment: bool = False
    mixup_alpha: Alpha = 0.0
    cutmix_alpha: Alpha = 0.0
    placement: Literal["dataset", "model"] = "dataset"
    """``dataset``: in the tf.data pipeline, on the CPU, overlapping the training step.
    ``model``: the Keras layers (flip ... randaugment) as the model's first layer, on
    the accelerator with the training step, skipped outside training; crop, MixUp and
    CutMix change whole batches or labels and stay in ``dataset``."""
    text: TextAugmentConfig = Field(default_factory=TextAugmentConfig)
    """Text inputs only: word operations and back-translation (``pipelines/augment/text.py``)."""

    @property
    def enabled(self) -> bool:
        """Some augmentation is asked for (``placement`` alone asks for none)."""
        return bool(_changed(self) - {"placement"})

    @property
    def in_model(self) -> bool:
        """The augmentation runs as the model's first layer, not in tf.data."""
        return self.placement == "model" and self.enabled

    @property
    def mixes_labels(self) -> bool:
        """MixUp or CutMix is on: the training targets are soft labels."""
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0


def image_layers(cfg: AugmentConfig, seed: int, channels: int) -> list[Any]:
    """The Keras preprocessing layers of ``cfg`` (spatial, colour, RandAugment), seeded.

    Raises:
        ConfigError: saturation, hue or RandAugment asked of images without 3 channels.
    """
    import keras

    colour = {"saturation": cfg.saturation, "hue": cfg.hue, "randaugment": cfg.randaugment}
    needs_rgb = [k for k, v in colour.items() if v]
    if needs_rgb and channels != 3:
        raise ConfigError(
            f"data.augmentation: {', '.join(needs_rgb)} need colour (3-channel) images; these "
            f"have {channels} channel(s): set them to 0/false"
        )
    value_range = (0.0, 255.0)
    layers: list[Any] = []

    def add(kind: type, *args: Any, **kwargs: Any) -> None:
        layers.append(kind(*args, seed=seed + len(layers), **kwargs))

    if cfg.flip != "none":
        add(keras.layers.RandomFlip, cfg.flip)
    if cfg.rotation:
        add(keras.layers.RandomRotation, cfg.rotation, fill_mode="constant")
    if cfg.zoom:
        add(keras.layers.RandomZoom, (-cfg.zoom, cfg.zoom), fill_mode="constant")
    if cfg.translation:
        t = cfg.translation
        add(keras.layers.RandomTranslation, t, t, fill_mode="constant")
    if cfg.brightness:
        add(keras.layers.RandomBrightness, cfg.brightness, value_range=value_range)
    if cfg.contrast:
        add(keras.layers.RandomContrast, cfg.contrast, value_range=value_range)
    if cfg.saturation:
        add(keras.layers.RandomSaturation, cfg.saturation, value_range=value_range)
    if cfg.hue:
        add(keras.layers.RandomHue, cfg.hue, value_range=value_range)
    if cfg.randaugment:
        add(keras.layers.RandAugment, value_range=value_range)
    return layers


def model_augmentation(cfg: AugmentConfig, *, seed: int, channels: int | None) -> Any:
    """The ``placement: model`` augmentation: one ``TrainingAugmentation`` layer, named
    ``augment``, for the model's raw image input.

    Raises:
        ConfigError: inputs that are not images, or crop, MixUp or CutMix asked for.
    """
    if channels is None:
        raise ConfigError(
            "data.augmentation.placement: model augments images; these inputs are not "
            "images: use placement: dataset"
        )
    batch_ops = [k for k in ("crop", "mixup_alpha", "cutmix_alpha") if k in _changed(cfg)]
    if batch_ops:
        raise ConfigError(
            f"data.augmentation.placement: model runs the Keras image layers only; "
            f"{', '.join(batch_ops)} change whole batches or their labels and run in the "
            "data pipeline: use placement: dataset, or drop them"
        )
    from ...models.layers import TrainingAugmentation

    return TrainingAugmentation(image_layers(cfg, seed, channels), name="augment")


def _changed(cfg: AugmentConfig) -> set[str]:
    """The fields of ``cfg`` set away from their defaults."""
    default = AugmentConfig()
    return {k for k in type(cfg).model_fields if getattr(cfg, k) != getattr(default, k)}


def augmenter(
    cfg: AugmentConfig, *, seed: int, num_classes: int, channels: int | None
) -> Callable[[Any, Any, Any], tuple[Any, Any]]:
    """``(step, images, labels) -> (images, labels)`` applying ``cfg`` to one batch.

    ``step`` keys the stateless draws (crop, MixUp, CutMix); labels come out
    as one-hot soft labels when MixUp or CutMix is on, unchanged otherwise.
    ``channels``: ``None`` for tabular inputs, which only MixUp applies to.

    Raises:
        ConfigError: an image-only augmentation asked of tabular inputs.
    """
    import tensorflow as tf

    if channels is None:
        image_only = bool(_changed(cfg) - {"mixup_alpha", "text", "placement"})
        if image_only:
            raise ConfigError(
                "data.augmentation: only mixup_alpha applies to tabular inputs; set the "
                "image augmentations (crop, flip, rotation, ..., cutmix_alpha) to their defaults"
            )
    layers = image_layers(cfg, seed, channels) if channels is not None else []

    def apply(step: tf.Tensor, images: tf.Tensor, labels: tf.Tensor) -> tuple[Any, Any]:
        key = tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64)])
        images = tf.cast(images, tf.float32)
        if cfg.crop < 1.0:
            images = resized_crop(images, cfg.crop, key)
        for layer in layers:
            images = layer(images, training=True)
        if cfg.mixes_labels:
            images, labels = mix(images, labels, num_classes, cfg, key)
        return images, labels

    return apply


def augment_dataset(
    ds: tf.data.Dataset,
    cfg: AugmentConfig,
    *,
    seed: int,
    num_classes: int,
    channels: int | None,
    first_step: int = 0,
    text: bool = False,
) -> tf.data.Dataset:
    """``ds`` (batches of ``(images, labels)``) augmented batch by batch, in parallel.

    ``first_step``: the index of the first batch (a resumed run's epoch x steps).
    ``text``: the inputs are texts; only ``cfg.text`` applies to them.

    Raises:
        ConfigError: text augmentation asked of other inputs, or other augmentation of texts.
    """
    import tensorflow as tf

    if not cfg.enabled or cfg.in_model:
        return ds
    if text or cfg.text.enabled:
        _check_text(cfg, text)
        return augment_text_dataset(ds, cfg.text, seed=seed, first_step=first_step)
    fn = augmenter(cfg, seed=seed, num_classes=num_classes, channels=channels)

    def one_batch(step: tf.Tensor, batch: tuple[tf.Tensor, tf.Tensor]) -> tuple[Any, Any]:
        return fn(step, *batch)

    ds = ds.enumerate(start=first_step).map(one_batch, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _check_text(cfg: AugmentConfig, text: bool) -> None:
    if not text:
        raise ConfigError(
            "data.augmentation.text applies to text inputs only; this data source has none: "
            "remove data.augmentation.text"
        )
    if _changed(cfg) - {"text", "placement"}:
        raise ConfigError(
            "data.augmentation: text inputs take data.augmentation.text only; set the image "
            "and mixing augmentations (crop, flip, ..., mixup_alpha, cutmix_alpha) to defaults"
        )


def beta_sample(shape: Any, alpha: float, key: tf.Tensor) -> tf.Tensor:
    """Beta(alpha, alpha) draws as ``G1 / (G1 + G2)`` of two independent Gamma(alpha) draws."""
    import tensorflow as tf

    keys = tf.random.experimental.stateless_split(key, 2)
    g1 = tf.random.stateless_gamma(shape, keys[0], alpha=alpha)
    g2 = tf.random.stateless_gamma(shape, keys[1], alpha=alpha)
    return g1 / tf.maximum(g1 + g2, 1e-12)


def mix(
    images: tf.Tensor, labels: tf.Tensor, num_classes: int, cfg: AugmentConfig, key: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """MixUp and/or CutMix each example with its partner (the batch reversed).

    Returns images and soft labels ``λ·y1 + (1-λ)·y2`` with λ per example.
    """
    import tensorflow as tf

    keys = tf.random.experimental.stateless_split(tf.cast(key, tf.int64), 4)
    size = tf.shape(images)[0]
    partner = tf.reverse(images, [0])
    y1 = _one_hot(labels, num_classes)
    y2 = tf.reverse(y1, [0])
    results = []
    if cfg.mixup_alpha > 0:
        lam = beta_sample([size], cfg.mixup_alpha, keys[0])
        lam_image = tf.reshape(lam, [-1, 1, 1, 1])
        results.append((lam_image * images + (1.0 - lam_image) * partner, lam))
    if cfg.cutmix_alpha > 0:
        lam = beta_sample([size], cfg.cutmix_alpha, keys[1])
        mask, kept = _cut_masks(tf.shape(images), lam, keys[2])
        results.append((mask * images + (1.0 - mask) * partner, kept))
    if len(results) == 2:
        pick = tf.random.stateless_uniform([size], keys[3]) < 0.5
        mixed = tf.where(tf.reshape(pick, [-1, 1, 1, 1]), results[0][0], results[1][0])
        lam = tf.where(pick, results[0][1], results[1][1])
    else:
        mixed, lam = results[0]
    lam = tf.reshape(lam, [-1, 1])
    return mixed, lam * y1 + (1.0 - lam) * y2


def _one_hot(labels: tf.Tensor, num_classes: int) -> tf.Tensor:
    import tensorflow as tf

    if labels.shape.rank == 2 and labels.shape[-1] == num_classes:
        return tf.cast(labels, tf.float32)  # already soft
    return tf.one_hot(tf.cast(tf.reshape(labels, [-1]), tf.int32), num_classes)


def _cut_masks(shape: tf.Tensor, lam: tf.Tensor, key: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-example masks (1: keep the example, 0: the partner's box) and the area kept.

    The box has side ``sqrt(1 - λ)`` of the image, centred uniformly, clipped to
    the image; the area kept is what remains after clipping.
    """
    import tensorflow as tf

    height, width = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    centres = tf.random.stateless_uniform([shape[0], 2], key)
    side = tf.sqrt(1.0 - lam)
    top = tf.clip_by_value((centres[:, 0] - side / 2) * height, 0.0, height)
    bottom = tf.clip_by_value((centres[:, 0] + side / 2) * height, 0.0, height)
    left = tf.clip_by_value((centres[:, 1] - side / 2) * width, 0.0, width)
    right = tf.clip_by_value((centres[:, 1] + side / 2) * width, 0.0, width)
    rows = tf.range(height)[None, :] + 0.5
    cols = tf.range(width)[None, :] + 0.5
    in_rows = tf.cast((rows >= top[:, None]) & (rows < bottom[:, None]), tf.float32)
    in_cols = tf.cast((cols >= left[:, None]) & (cols < right[:, None]), tf.float32)
    box = in_rows[:, :, None] * in_cols[:, None, :]  # [B, H, W]
    kept = 1.0 - tf.reduce_sum(box, axis=[1, 2]) / (height * width)
    return (1.0 - box)[..., None], kept


def resized_crop(images: tf.Tensor, min_area: float, key: tf.Tensor) -> tf.Tensor:
    """A random square-ish crop per example, of area in ``[min_area, 1]``, resized back."""
    import tensorflow as tf

    keys = tf.random.experimental.stateless_split(tf.cast(key, tf.int64), 2)
    size = tf.shape(images)[0]
    side = tf.sqrt(tf.random.stateless_uniform([size], keys[0], minval=min_area, maxval=1.0))
    corner = tf.random.stateless_uniform([size, 2], keys[1]) * (1.0 - side)[:, None]
    boxes = tf.concat([corner, corner + side[:, None]], axis=1)  # y1, x1, y2, x2
    return tf.image.crop_and_resize(
        images, boxes, tf.range(size), tf.shape(images)[1:3], method="bilinear"
    )
