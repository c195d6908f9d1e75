"""A generated text classification task a bag of words cannot solve: who chased whom.

Every sentence names both animals, ``cat`` and ``dog``, exactly once, with a
verb of pursuit, in the active voice ("the old cat quickly chased the dog in
the garden": the cat) or the passive ("the dog was chased by the old cat in the
garden": the cat again). The label is the chaser. Each class draws its
sentences from the same vocabulary with the same word frequencies: which
animal comes first and whether the verb is passive are independent fair coin
flips, and the label is their exclusive or. A bag of words (counts of every
word, or of every word pair regardless of position) therefore carries no
information about the label; its best accuracy is the majority rate, 50%. A
model that sees word order (and the ``was ... by`` scope) can reach 100%.

Seeded (:data:`SEED`); nothing is downloaded.
"""

from __future__ import annotations

import numpy as np

from ..types import DataInfo, Dataset, register_source

SEED = 20240
SIZE = 6000
ANIMALS = ("cat", "dog")
VERBS = (("chased", "chased"), ("followed", "followed"), ("hunted", "hunted"), ("bit", "bitten"))
ADJECTIVES = ("old", "young", "big", "small", "grey", "lazy", "angry", "happy", "black", "white")
ADVERBS = ("quickly", "slowly", "suddenly", "quietly", "again", "happily")
PLACES = ("in the garden", "on the road", "near the house", "at night", "in the park", "today")


def chase_sentence(rng: np.random.Generator) -> tuple[str, int]:
    """One sentence and its label: the index in :data:`ANIMALS` of the chaser."""
    first = int(rng.integers(2))
    passive = bool(rng.integers(2))
    verb_active, verb_passive = VERBS[int(rng.integers(len(VERBS)))]

    def phrase(animal: str) -> str:
        adjective = f"{rng.choice(ADJECTIVES)} " if rng.random() < 0.5 else ""
        return f"the {adjective}{animal}"

    adverb = f"{rng.choice(ADVERBS)} " if rng.random() < 0.5 else ""
    place = f" {rng.choice(PLACES)}" if rng.random() < 0.5 else ""
    a, b = phrase(ANIMALS[first]), phrase(ANIMALS[1 - first])
    if passive:
        text = f"{a} was {adverb}{verb_passive} by {b}{place}"
    else:
        text = f"{a} {adverb}{verb_active} {b}{place}"
    chaser = 1 - first if passive else first
    return text, chaser


def chase_examples(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` seeded sentences (object array of ``str``) and their labels (int64)."""
    rng = np.random.default_rng(seed)
    pairs = [chase_sentence(rng) for _ in range(count)]
    texts = np.array([t for t, _ in pairs], dtype=object)
    return texts, np.array([label for _, label in pairs], "int64")


@register_source(inputs="text", targets="classes")
def chase() -> Dataset:
    """Generated 'who chased whom' sentences (6,000, seeded): the chaser, cat or dog."""
    texts, labels = chase_examples(SIZE, SEED)
    return Dataset(texts, labels, DataInfo("chase", "text", "classes", ANIMALS))
