"""Text augmentation of training batches (config ``data.augmentation.text``).

EDA-style word operations, each word independently with its own probability:
synonym replacement (from a synonyms file the user gives, else the small
built-in :data:`BUILTIN_SYNONYMS`), random insertion (a synonym of a word of
the sentence, else a copy of one, at a random position), random deletion
(never every word) and random swap (with another random position); then,
optionally, back-translation by a callable the user plugs in. The operations
run in Python inside ``tf.numpy_function`` on whole batches of raw strings, with
a NumPy generator seeded by ``(seed, batch index)``: the same seed and step give
the same augmented batch, on any machine and after a resume.

Back-translation (or any paraphraser) is a function importable as
``"package.module:function"`` taking a list of strings and returning as many
strings, e.g. a translation model to French and back::

    def round_trip(texts: list[str]) -> list[str]:
        return [to_english(to_french(t)) for t in texts]

It runs on the CPU in tf.data, on a ``back_translation_rate`` fraction of each
batch. Like every augmentation, it only touches the training dataset:
evaluation, export and serving see the texts as they are.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError

if TYPE_CHECKING:
    import tensorflow as tf

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
BUILTIN_SYNONYMS = (
    ("big", "large", "huge"),
    ("small", "little", "tiny"),
    ("quick", "fast", "rapid"),
    ("quickly", "fast", "rapidly"),
    ("slowly", "gradually"),
    ("happy", "glad", "cheerful"),
    ("sad", "unhappy", "gloomy"),
    ("good", "fine", "great"),
    ("bad", "poor", "awful"),
    ("old", "aged", "elderly"),
    ("young", "youthful"),
    ("angry", "furious", "mad"),
    ("begin", "start"),
    ("end", "finish"),
    ("house", "home"),
    ("road", "street"),
    ("movie", "film"),
)
"""Groups of mutual synonyms used when no ``synonyms_file`` is given."""


class TextAugmentConfig(BaseModel):
    """Training-time text augmentation; every rate 0 (and no back-translation) is off.

    ``synonym_rate``, ``insert_rate``, ``delete_rate``, ``swap_rate``: the
    probability of each word being replaced by a synonym, followed by an
    inserted word, deleted, swapped. ``synonyms_file``: UTF-8 text, one group
    of mutual synonyms per line separated by spaces or commas (default: the
    built-in list). ``back_translation``: ``"module:function"`` (see the module
    doc), applied to a ``back_translation_rate`` fraction of the texts.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    synonym_rate: Rate = 0.0
    insert_rate: Rate = 0.0
    delete_rate: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    swap_rate: Rate = 0.0
    synonyms_file: Path | None = None
    back_translation: Annotated[str, Field(pattern=r"^[\w.]+:\w+$")] | None = None
    back_translation_rate: Rate = 1.0

    @property
    def enabled(self) -> bool:
        rates = (self.synonym_rate, self.insert_rate, self.delete_rate, self.swap_rate)
        return any(rates) or self.back_translation is not None


def load_synonyms(path: Path | None) -> dict[str, tuple[str, ...]]:
    """Each word's synonyms, from ``path`` (groups, one per line) or the built-in list.

    Raises:
        ConfigError: the file is missing, not UTF-8, or holds no group of two words.
    """
    groups: list[tuple[str, ...]] = list(BUILTIN_SYNONYMS)
    if path is not None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"data.augmentation.text.synonyms_file: cannot read {str(path)!r} as UTF-8 text "
                f"({type(exc).__name__}); point it at a file of synonym groups, one per line"
            ) from None
        groups = [tuple(line.replace(",", " ").lower().split()) for line in lines]
        groups = [g for g in groups if len(g) >= 2]
        if not groups:
            raise ConfigError(
                f"data.augmentation.text.synonyms_file: {str(path)!r} holds no line with two or "
                "more words; write one group of mutual synonyms per line, e.g. 'big large huge'"
            )
    table: dict[str, set[str]] = {}
    for group in groups:
        for word in group:
            table.setdefault(word, set()).update(w for w in group if w != word)
    return {word: tuple(sorted(others)) for word, others in table.items()}


def load_callable(path: str) -> Callable[[list[str]], list[str]]:
    """The function ``"module:function"`` names.

    Raises:
        ConfigError: it cannot be imported or is not callable.
    """
    module_name, _, name = path.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"data.augmentation.text.back_translation: cannot import {path!r} ({exc}); give "
            "'package.module:function', a function of a list of strings returning as many"
        ) from None
    if not callable(fn):
        raise ConfigError(f"data.augmentation.text.back_translation: {path!r} is not callable")
    return fn


class TextAugmenter:
    """Applies a :class:`TextAugmentConfig` to lists of texts with a given generator."""

    def __init__(self, cfg: TextAugmentConfig) -> None:
        self.cfg = cfg
        self.synonyms = load_synonyms(cfg.synonyms_file)
        self.back_translate = load_callable(cfg.back_translation) if cfg.back_translation else None

    def words(self, words: list[str], rng: np.random.Generator) -> list[str]:
        """One sentence's words after replacement, insertion, deletion and swap."""
        cfg = self.cfg
        out = [
            str(rng.choice(self.synonyms[w.lower()]))
            if w.lower() in self.synonyms and rng.random() < cfg.synonym_rate
            else w
            for w in words
        ]
        for _ in range(int((rng.random(len(words)) < cfg.insert_rate).sum())):
            source = out[int(rng.integers(len(out)))]
            options = self.synonyms.get(source.lower(), (source,))
            out.insert(int(rng.integers(len(out) + 1)), str(rng.choice(options)))
        if cfg.delete_rate:
            kept = [w for w in out if rng.random() >= cfg.delete_rate]
            out = kept or [out[int(rng.integers(len(out)))]]
        for i in np.flatnonzero(rng.random(len(out)) < cfg.swap_rate):
            j = int(rng.integers(len(out)))
            out[i], out[j] = out[j], out[i]
        return out

    def __call__(self, texts: list[str], rng: np.random.Generator) -> list[str]:
        """The augmented texts, as many as given (an empty text stays empty)."""
        out = [" ".join(self.words(t.split(), rng)) if t.split() else t for t in texts]
        if self.back_translate is not None:
            chosen = np.flatnonzero(rng.random(len(out)) < self.cfg.back_translation_rate)
            if chosen.size:
                translated = list(self.back_translate([out[i] for i in chosen]))
                if len(translated) != chosen.size:
                    raise ValueError(
                        f"back_translation {self.cfg.back_translation!r} returned "
                        f"{len(translated)} texts for {chosen.size}; it must return one per text"
                    )
                for i, text in zip(chosen, translated, strict=True):
                    out[i] = str(text)
        return out


def augment_text_dataset(
    ds: tf.data.Dataset, cfg: TextAugmentConfig, *, seed: int, first_step: int = 0
) -> tf.data.Dataset:
    """``ds`` (batches of ``(texts, labels)``) with each batch's texts augmented.

    Batch ``step`` is augmented with ``numpy.random.default_rng([seed, step])``.
    """
    import tensorflow as tf

    augmenter = TextAugmenter(cfg)

    def augment(step: np.ndarray, texts: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng([seed, int(step)])
        decoded = [t.decode("utf-8", errors="replace") for t in texts.tolist()]
        return np.array([t.encode("utf-8") for t in augmenter(decoded, rng)], dtype=object)

    def one_batch(step: tf.Tensor, batch: tuple[tf.Tensor, Any]) -> tuple[tf.Tensor, Any]:
        texts, labels = batch
        out = tf.numpy_function(augment, [step, texts], tf.string, stateful=False)
        return tf.reshape(out, tf.shape(texts)), labels

    ds = ds.enumerate(start=first_step).map(one_batch, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
