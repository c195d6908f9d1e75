"""Text augmentation: seeded word operations, synonyms, back-translation, training only."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from kerasforge.pipelines.augment.images import AugmentConfig, augment_dataset
from kerasforge.pipelines.augment.text import TextAugmentConfig, TextAugmenter, load_synonyms
from kerasforge.pipelines.errors import ConfigError

SENTENCE = [
    "the",
    "big",
    "dog",
    "quickly",
    "chased",
    "the",
    "small",
    "cat",
    "in",
    "the",
    "old",
    "house",
]


def shout(texts: list[str]) -> list[str]:
    """A stand-in back-translator: a real one would translate there and back."""
    return [t.upper() for t in texts]


def run(cfg: TextAugmentConfig, seed: int = 0) -> list[str]:
    return TextAugmenter(cfg).words(list(SENTENCE), np.random.default_rng(seed))


def test_every_operation_is_deterministic_for_a_seed_and_varies_across_seeds():
    cfg = TextAugmentConfig(synonym_rate=0.5, insert_rate=0.3, delete_rate=0.2, swap_rate=0.3)
    assert run(cfg, 7) == run(cfg, 7)
    assert len({" ".join(run(cfg, s)) for s in range(10)}) > 5


def test_synonym_replacement_uses_the_builtin_groups():
    out = run(TextAugmentConfig(synonym_rate=1.0))
    assert out[1] in {"large", "huge"} and out[6] in {"little", "tiny"}
    assert out[2] == "dog" and len(out) == len(SENTENCE)


def test_synonyms_file_replaces_the_builtin_list(tmp_path):
    path = tmp_path / "syn.txt"
    path.write_text("dog, hound\n\nsingle\ncat feline\n")
    assert load_synonyms(path) == {
        "dog": ("hound",),
        "hound": ("dog",),
        "cat": ("feline",),
        "feline": ("cat",),
    }
    out = run(TextAugmentConfig(synonym_rate=1.0, synonyms_file=path))
    assert out[2] == "hound" and out[7] == "feline" and out[1] == "big"


@pytest.mark.parametrize("content", [b"", b"onlyone\n", b"\xff\xfe bad"])
def test_a_useless_or_unreadable_synonyms_file_is_a_config_error(tmp_path, content):
    path = tmp_path / "syn.txt"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="synonyms_file"):
        load_synonyms(path)


def test_insertion_deletion_and_swap_do_what_they_say():
    inserted = run(TextAugmentConfig(insert_rate=0.5))
    assert len(inserted) > len(SENTENCE) and set(inserted) >= set(SENTENCE)
    deleted = run(TextAugmentConfig(delete_rate=0.5))
    assert 0 < len(deleted) < len(SENTENCE)
    assert Counter(deleted) <= Counter(SENTENCE)
    assert len(run(TextAugmentConfig(delete_rate=0.99), 3)) >= 1, "never deletes every word"
    swapped = run(TextAugmentConfig(swap_rate=0.5))
    assert Counter(swapped) == Counter(SENTENCE) and swapped != SENTENCE


def test_back_translation_is_a_pluggable_callable():
    cfg = TextAugmentConfig(back_translation=f"{__name__}:shout", back_translation_rate=1.0)
    assert TextAugmenter(cfg)(["a cat", "the dog"], np.random.default_rng(0)) == [
        "A CAT",
        "THE DOG",
    ]
    with pytest.raises(ConfigError, match="cannot import 'no_such_module:fn'"):
        TextAugmenter(TextAugmentConfig(back_translation="no_such_module:fn"))


def batches():
    import tensorflow as tf

    texts = np.array([" ".join(SENTENCE)] * 4 + ["a cat", "the dog"], dtype=object)
    return tf.data.Dataset.from_tensor_slices((texts, np.arange(6))).batch(3)


def texts_of(ds) -> list[str]:
    return [t.decode() for x, _ in ds for t in x.numpy()]


def test_dataset_augmentation_is_keyed_by_seed_and_step():
    cfg = AugmentConfig(text=TextAugmentConfig(delete_rate=0.3, swap_rate=0.3))
    first = texts_of(
        augment_dataset(batches(), cfg, seed=1, num_classes=2, channels=None, text=True)
    )
    again = texts_of(
        augment_dataset(batches(), cfg, seed=1, num_classes=2, channels=None, text=True)
    )
    other = texts_of(
        augment_dataset(batches(), cfg, seed=2, num_classes=2, channels=None, text=True)
    )
    resumed = augment_dataset(
        batches().skip(1), cfg, seed=1, num_classes=2, channels=None, first_step=1, text=True
    )
    assert first == again != other
    assert texts_of(resumed) == first[3:], "a resumed run augments step 1 as the first run did"
    assert first != texts_of(batches())


def test_text_augmentation_fits_text_inputs_only():
    text_only = AugmentConfig(text=TextAugmentConfig(swap_rate=0.1))
    with pytest.raises(ConfigError, match="applies to text inputs only"):
        augment_dataset(batches(), text_only, seed=0, num_classes=2, channels=None)
    with pytest.raises(ConfigError, match=r"text inputs take data\.augmentation\.text only"):
        augment_dataset(
            batches(),
            AugmentConfig(mixup_alpha=0.2),
            seed=0,
            num_classes=2,
            channels=None,
            text=True,
        )


def test_augmentation_never_reaches_validation_test_or_the_model(tmp_path):
    """The trainer augments the training batches only; the assembled model holds no augmentation."""
    from kerasforge.pipelines.config.experiment import load_config
    from kerasforge.pipelines.data.pipeline import load_source, split
    from kerasforge.pipelines.tasks import get_task
    from kerasforge.pipelines.training import train as trainer
    from kerasforge.pipelines.training.inputs import make_datasets
    from tests.conftest import ROOT

    cfg = load_config(
        ROOT / "configs" / "chase_transformer.yaml",
        ["data.augmentation.text.delete_rate=0.5", "data.augmentation.text.swap_rate=0.5",
         f"output_dir={tmp_path}"],
    )  # fmt: skip
    task = get_task("classification")
    splits = split(load_source("chase"), 0.15, 0.15, seed=0)
    datasets = make_datasets(cfg, task, splits)
    seen = {t.decode() for x, _ in datasets["train"].take(3) for t in x.numpy()}
    assert seen - set(splits.x_train.tolist()), "training texts are augmented"
    for name, raw in (("validation", splits.x_val), ("test", splits.x_test)):
        texts = [t.decode() for x, *_ in datasets[name] for t in x.numpy()]
        assert sorted(texts) == sorted(raw.tolist()), (
            f"{name} texts must reach the model as they are"
        )
    model = trainer.build_task_model(cfg, task, splits)
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer",
        "TextVectorization",
        "Functional",
    ], "the exported model is tokeniser + backbone: nothing that augments"
