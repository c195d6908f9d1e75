"""The chase task needs word order: the Transformer against bag-of-words baselines.

On the same seeded train/validation/test split of the generated chase
sentences (``pipelines/data/sources/textgen.py``): the majority class, logistic regression
and an MLP on word counts (unigram bag of words), logistic regression on word
and word-pair counts (bigrams carry some order, shown for honesty), and the
``configs/chase_transformer.yaml`` Transformer trained by kerasforge's trainer
(tracking and export off). Figures are test-accuracy differences in points.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import numpy as np
from common import ROOT, figure


def baselines(splits: Any) -> dict[str, float]:
    """Test accuracies of the majority class and the bag-of-words models (fit on train)."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    train, test = list(splits.x_train), list(splits.x_test)
    majority = np.bincount(splits.y_train).argmax()
    scores = {"majority": float(np.mean(splits.y_test == majority))}
    models = {
        "bow_logistic": (CountVectorizer(), LogisticRegression(max_iter=2000)),
        "bow_mlp": (
            CountVectorizer(),
            MLPClassifier((64,), max_iter=300, early_stopping=True, random_state=0),
        ),
        "bigram_logistic": (CountVectorizer(ngram_range=(1, 2)), LogisticRegression(max_iter=2000)),
    }
    for name, (vectorizer, classifier) in models.items():
        classifier.fit(vectorizer.fit_transform(train), splits.y_train)
        scores[name] = float(classifier.score(vectorizer.transform(test), splits.y_test))
    return scores


def run(args: Any) -> dict[str, dict]:
    from kerasforge.pipelines.config.experiment import load_config
    from kerasforge.pipelines.training.train import train

    with tempfile.TemporaryDirectory() as out:
        cfg = load_config(
            ROOT / "configs" / "chase_transformer.yaml",
            ["tracking.enabled=false", "export.enabled=false", f"output_dir={out}"],
        )
        start = time.perf_counter()
        result = train(cfg)
        seconds = time.perf_counter() - start
    scores = {**baselines(result.splits), "transformer": result.headline[1]}
    over_majority = (scores["transformer"] - scores["majority"]) * 100
    bow_gain = (max(scores["bow_logistic"], scores["bow_mlp"]) - scores["majority"]) * 100
    raw = {k: round(v, 4) for k, v in scores.items()}
    return {
        "chase_transformer_over_majority_points": figure(
            over_majority, ">= 20", over_majority >= 20, **raw, train_seconds=round(seconds, 1)
        ),
        "chase_bow_over_majority_points": figure(bow_gain, "<= 5", bow_gain <= 5, **raw),
    }
