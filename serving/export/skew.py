"""The skew check at publish: the export must answer like the Keras model on training data.

A sample of the training split goes through the raw input's signature twice: as its
function over the in-memory Keras model (what training measured), and as the exported
SavedModel's signature (what TF Serving will run). The distribution of every monitored
output (``serving/monitoring/features.py``: class mix, top score, values, forecasts,
anomaly scores) must agree. Where the export's in-graph preprocessing differs from
training's (a different scale, another tokenisation), the outputs' distribution moves and
the publish fails with :class:`SkewError`, naming the output.

The input side (:func:`check_input_skew`, ``skew_inputs.py``): every signature that
preprocesses its request in the graph (columns, encoded images, tf.Examples) must hand
the model inputs distributed as the training split, feature by feature (each column,
each image channel, a text's words); a difference fails the publish naming the feature.

Unlike the validation gate (``gate.py``: a handful of warm-up requests, value by value),
this compares distributions over hundreds of training examples, as drift does later.
Both raw samples are at hand, so numbers are compared by their exact two-sample
Kolmogorov-Smirnov statistic and their quantiles; categories by the total variation
distance of their mixes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..card import ModelCard, SignatureInfo
from ..monitoring.features import is_categorical, output_features
from ..monitoring.stat_tests import ks_exact
from ..monitoring.statistics import STATISTICS_FILE
from ..monitoring.summaries import QUANTILE_LEVELS
from .contracts import endpoints
from .gate import GateError
from .signatures import DEFAULT_SIGNATURE, PIXELS_SIGNATURE
from .skew_inputs import as_sent, input_feature_arrays, preprocessed_inputs

SKEW_ROWS = 512
"""Training examples the check runs through both."""
QUANTILE_TOLERANCE = 0.01
"""Largest quantile (or mean) difference of a numeric output, in its standard deviations."""
KS_TOLERANCE = 0.05
"""Largest exact KS statistic between the two samples of a numeric output."""
MIX_TOLERANCE = 0.02
"""Largest total variation distance between the two class (category) mixes."""


class SkewError(GateError):
    """The export's outputs are distributed differently from the Keras model's."""


@dataclass(frozen=True)
class Skew:
    """How far one output's two distributions are apart."""

    output: str
    gap: float
    """Quantile/mean difference in standard deviations (numbers) or total variation (mixes)."""
    ks: float | None
    detail: str


def raw_signature(found: dict[str, Any]) -> str:
    """The signature over the raw input tensor (``serving_pixels`` where it exists)."""
    return PIXELS_SIGNATURE if PIXELS_SIGNATURE in found else DEFAULT_SIGNATURE


def keras_outputs(
    model: Any, card: ModelCard, x: Any, batch: int = 1024
) -> tuple[str, dict[str, np.ndarray]] | None:
    """The raw signature's name and its outputs over the Keras model for ``x`` (in batches
    of ``batch``); ``None`` where that signature does not take the data's examples (a
    generator's noise input) or ``x`` is empty."""
    import tensorflow as tf

    found = endpoints(card, model)
    signature = raw_signature(found)
    endpoint = found[signature]
    x = _model_input(x)
    spec = endpoint.input_signature[0]
    if len(endpoint.input_signature) != 1 or not spec.shape[1:].is_compatible_with(x.shape[1:]):
        return None
    parts = [
        {k: v.numpy() for k, v in endpoint.fn(tf.constant(x[i : i + batch])).items()}
        for i in range(0, len(x), batch)
    ]
    if not parts:
        return None
    return signature, {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def load_export(saved_model_dir: Path) -> Any:
    """The exported SavedModel, loaded in this process once for both sides of the check."""
    import tensorflow as tf

    return tf.saved_model.load(str(saved_model_dir))


def served_outputs(loaded: Any, signature: str, x: Any) -> dict[str, np.ndarray]:
    """The loaded export's ``signature`` outputs for ``x``."""
    import tensorflow as tf

    concrete = loaded.signatures[signature]
    (name,) = concrete.structured_input_signature[1].keys()
    return {k: v.numpy() for k, v in concrete(**{name: tf.constant(_model_input(x))}).items()}


def check_skew(
    saved_model_dir: Path, model: Any, card: ModelCard, x: Any, loaded: Any = None
) -> list[Skew]:
    """Compare the Keras model's and the export's outputs on ``x[:SKEW_ROWS]`` (``loaded``:
    the export already loaded by :func:`load_export`, else it is loaded here).

    Returns:
        Each monitored output's skew (empty when the raw signature takes no examples).

    Raises:
        SkewError: an output's distribution differs beyond tolerance.
    """
    x = x[:SKEW_ROWS]
    reference = keras_outputs(model, card, x)
    if reference is None:
        return []
    signature, expected = reference
    loaded = loaded if loaded is not None else load_export(saved_model_dir)
    served = served_outputs(loaded, signature, x)
    found = []
    for name, want in output_features(expected).items():
        got = output_features({name: served[name]}).get(name) if name in served else None
        if got is None:
            raise SkewError(f"skew check: output {name!r} of {signature} is missing from the "
                            "export; nothing was published")  # fmt: skip
        skew = compare_outputs(name, want, got)
        if _beyond(skew):
            raise SkewError(
                f"skew check: output {name!r} of {signature} on {len(x)} training examples "
                f"differs between the Keras model and the export ({skew.detail}): the "
                "export's preprocessing differs from training's; nothing was published"
            )
        found.append(skew)
    return found


def check_input_skew(
    saved_model_dir: Path,
    signatures: dict[str, SignatureInfo],
    card: ModelCard,
    x: Any,
    loaded: Any = None,
) -> list[Skew]:
    """Compare the training inputs ``x[:SKEW_ROWS]`` (as each signature's request form
    carries them) with what its in-graph preprocessing hands the model for them
    (``skew_inputs.py``), feature by feature (``loaded`` as for :func:`check_skew`).

    Returns:
        Each preprocessing signature's skew per monitored input feature, named
        ``<signature>:<feature>`` (empty where no signature preprocesses).

    Raises:
        SkewError: a feature's distribution after a signature's preprocessing differs
            from the training data's beyond tolerance (the message names both).
    """
    x = np.asarray(x)[:SKEW_ROWS]
    if x.dtype.kind not in "OSU":
        x = x.astype("float32")
    found = []
    loaded = loaded if loaded is not None else load_export(saved_model_dir)
    for signature, fed in preprocessed_inputs(loaded, signatures, card, x).items():
        want = _comparable(input_feature_arrays(as_sent(signatures[signature], x, card), card))
        got = _comparable(input_feature_arrays(fed, card))
        for feature, training in want.items():
            skew = compare_outputs(f"{signature}:{feature}", training, got[feature])
            if _beyond(skew):
                raise SkewError(
                    f"skew check: input feature {feature!r} after the in-graph preprocessing "
                    f"of {signature} differs from the training data on {len(x)} training "
                    f"examples ({skew.detail}): the export's preprocessing differs from "
                    "training's; nothing was published"
                )
            found.append(skew)
    return found


def _comparable(features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Numbers and categories as they are; a text's words (tuples per row) as each
    text's word count and the mix of all its words."""
    found = {}
    for name, values in features.items():
        if values.dtype != object:
            found[name] = values
            continue
        found[f"{name}.words"] = np.array([w for row in values for w in row] or [""], dtype=str)
        found[f"{name}.length"] = np.array([len(row) for row in values], dtype="float64")
    return found


def _beyond(skew: Skew) -> bool:
    if skew.ks is None:
        return skew.gap > MIX_TOLERANCE
    return skew.gap > QUANTILE_TOLERANCE or skew.ks > KS_TOLERANCE


def compare_outputs(name: str, keras: np.ndarray, export: np.ndarray) -> Skew:
    """The skew of one output: mixes by total variation, numbers by quantiles and KS."""
    if is_categorical(keras):
        categories = sorted(set(keras.tolist()) | set(export.tolist()))
        mix_k = np.array([np.mean(keras == c) for c in categories])
        mix_e = np.array([np.mean(export == c) for c in categories])
        gap = float(0.5 * np.abs(mix_k - mix_e).sum())
        return Skew(name, gap, None, f"class mix differs by {gap:.3g} (tolerance {MIX_TOLERANCE})")
    keras, export = keras.reshape(-1), export.reshape(-1)
    scale = max(float(np.std(keras)), 1e-6 * max(1.0, float(np.abs(keras).max(initial=0.0))))
    levels = list(QUANTILE_LEVELS)
    q_k, q_e = np.quantile(keras, levels), np.quantile(export, levels)
    gaps = np.abs(np.r_[q_k - q_e, keras.mean() - export.mean()]) / scale
    gap = float(gaps.max())
    ks = ks_exact(keras, export).statistic
    return Skew(
        name,
        gap,
        ks,
        f"median {q_k[levels.index(0.5)]:.4g} vs {q_e[levels.index(0.5)]:.4g}, largest "
        f"quantile gap {gap:.3g} std (tolerance {QUANTILE_TOLERANCE}), KS {ks:.3g} "
        f"(tolerance {KS_TOLERANCE})",
    )


def with_statistics(
    staging: Path,
    model: Any,
    card: ModelCard,
    statistics: str | Path | None,
    data: Any,
    signatures: dict[str, SignatureInfo] | None = None,
) -> ModelCard:
    """Copy the training statistics beside the staged export and name them on the card;
    with training data (``ExportData``), check the export for skew first: its outputs
    and, given the export's ``signatures``, the inputs after its in-graph preprocessing.

    Raises:
        SkewError: the export's outputs are distributed differently from the model's.
    """
    if statistics is None:
        return card
    if data is not None:
        loaded = load_export(staging)  # once, for both sides
        check_skew(staging, model, card, data.representative, loaded)
        if signatures:
            check_input_skew(staging, signatures, card, data.representative, loaded)
    shutil.copyfile(statistics, staging / STATISTICS_FILE)
    return card.model_copy(update={"statistics": STATISTICS_FILE})


def _model_input(x: Any) -> np.ndarray:
    x = np.asarray(x)
    return x.astype(object) if x.dtype.kind in "OSU" else x.astype("float32")
