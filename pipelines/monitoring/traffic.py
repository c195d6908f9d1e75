"""What a model saw: logged requests or a data file, as raw inputs and the model's outputs.

:func:`read_logs` reads TF Serving ``PredictionLog`` TFRecord files (the embedded server's
request logging, or TF Serving's own) and keeps the records of one model version:
``predict_log`` requests give their input tensors and responses their outputs;
``classify_log`` and ``regress_log`` give their tf.Examples (parsed with the ``classify``
or ``regress`` signature's features, from the card) and their scores or values.
:func:`read_data` reads any file a training source reads (CSV, ``.npy``/``.npz``, an image
folder, a TFRecord of tf.Examples) with that source and runs the version's raw signature
over it, so that outputs are monitored too. Either way the inputs come back as the raw
tensor the statistics were computed on (``serving/monitoring/features.py``).
"""

from __future__ import annotations

import glob
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...serving.card import PIXELS_SIGNATURE, ModelCard
from ...serving.loading import LocalModel
from ..errors import DataError

LOG_SUFFIXES = (".tfrecord", ".tfrecords", ".tfr")
PREDICT_BATCH = 256


@dataclass
class Traffic:
    """Raw inputs (rows first) and the model's outputs for them, with where they came from."""

    inputs: np.ndarray
    outputs: dict[str, np.ndarray]
    source: str
    skipped: Counter[str] = field(default_factory=Counter)
    """Records left out, by reason (``"version 2"``, ``"multi_inference"``)."""

    @property
    def rows(self) -> int:
        return len(self.inputs)


def raw_signature(card: ModelCard) -> str:
    """The signature over the raw input tensor (``serving_pixels`` where it exists)."""
    return PIXELS_SIGNATURE if PIXELS_SIGNATURE in card.signatures else "serving_default"


def raw_shape(card: ModelCard) -> list[int | None]:
    """The raw input's shape, rows first (``[None, 8, 8, 1]``)."""
    return list(card.signatures[raw_signature(card)].inputs[0].shape)


def input_kind(card: ModelCard) -> str:
    """The card's input kind (``tabular``, ``image``, ``text``, ...)."""
    return str(card.data.get("inputs") or ("image" if len(raw_shape(card)) == 4 else "tabular"))


def read_logs(folder: Path, model: LocalModel) -> Traffic:
    """The logged requests of ``model`` (its name and version) under ``folder`` (or one file).

    Raises:
        DataError: no log file, no record of this model version, or an unreadable file.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    files = _log_files(folder)
    inputs: list[np.ndarray] = []
    outputs: list[dict[str, np.ndarray]] = []
    skipped: Counter[str] = Counter()
    try:
        for raw in tf.data.TFRecordDataset([str(f) for f in files]).as_numpy_iterator():
            record = prediction_log_pb2.PredictionLog.FromString(raw)
            spec = record.log_metadata.model_spec
            if spec.name != model.name:
                skipped[f"model {spec.name}"] += 1
            elif spec.version.value not in (0, model.version):
                skipped[f"version {spec.version.value}"] += 1
            else:
                found = _exchange(record, model.card)
                if found is None:
                    skipped[str(record.WhichOneof("log_type"))] += 1
                else:
                    inputs.append(found[0])
                    outputs.append(found[1])
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as exc:
        raise DataError(f"request logs under {folder}: a file is corrupt or not a TFRecord of "
                        f"PredictionLog ({exc.message.splitlines()[0]})") from None  # fmt: skip
    if not inputs:
        seen = ", ".join(f"{n} {k}" for k, n in skipped.items()) or "none"
        raise DataError(
            f"request logs under {folder} hold no request for {model.name} version "
            f"{model.version} (records of others: {seen}); pass --version or --label"
        )
    return Traffic(_stack(inputs), _join(outputs), f"logs {folder}", skipped)


def _log_files(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder]
    files = (
        sorted(p for p in folder.rglob("*") if p.suffix in LOG_SUFFIXES) if folder.is_dir() else []
    )
    if not files:
        raise DataError(f"--logs: no {'/'.join(LOG_SUFFIXES)} file under {str(folder)!r}; point "
                        "it at the folder of logging_config's filename_prefix")  # fmt: skip
    return files


def _exchange(
    record: Any, card: ModelCard | None
) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """One record's raw inputs and outputs; ``None`` for a kind that is not monitored."""
    import tensorflow as tf

    kind = record.WhichOneof("log_type")
    if card is None:
        raise DataError("this model version has no model card (kerasforge.json); republish it")
    if kind == "predict_log":
        body = record.predict_log
        arrays = {k: tf.make_ndarray(v) for k, v in body.request.inputs.items()}
        outputs = {k: tf.make_ndarray(v) for k, v in body.response.outputs.items()}
        return _raw_inputs(arrays, card), outputs
    if kind not in ("classify_log", "regress_log"):
        return None
    body = getattr(record, kind)
    x = _examples(body.request.input, card, kind.split("_")[0])
    result = body.response.result
    if kind == "classify_log":
        scores = np.array([[c.score for c in row.classes] for row in result.classifications])
        return x, {"probabilities": scores, "class_ids": scores.argmax(axis=1)}
    return x, {"values": np.array([r.value for r in result.regressions], "float32")}


def _raw_inputs(arrays: dict[str, np.ndarray], card: ModelCard) -> np.ndarray:
    """A predict request's input tensors as the raw input: one tensor as it is (encoded
    images decoded), per-column inputs (``serving_features``) side by side."""
    if len(arrays) == 1:
        (x,) = arrays.values()
        if x.dtype.kind in "OS" and input_kind(card) == "image":
            return _decode_images(x, raw_shape(card))
        return x
    features = card.signatures.get("serving_features")
    order = [t.name for t in features.inputs] if features else sorted(arrays)
    missing = [n for n in order if n not in arrays]
    if missing:
        raise DataError(f"a logged request lacks the inputs {missing} of serving_features")
    return np.stack([np.asarray(arrays[n], "float32").reshape(-1) for n in order], axis=1)


def _decode_images(encoded: np.ndarray, shape: list[int | None]) -> np.ndarray:
    """Encoded images (PNG, JPEG, ...) as pixels of the model's raw size, as its graph does."""
    import tensorflow as tf

    height, width, channels = (int(s or 0) for s in shape[1:])
    found = []
    for data in encoded.reshape(-1):
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
        found.append(tf.image.resize(tf.cast(image, tf.float32), (height, width)).numpy())
    return np.stack(found)


def _examples(request_input: Any, card: ModelCard, method: str) -> np.ndarray:
    """A classify/regress request's tf.Examples parsed as the signature's features."""
    import tensorflow as tf

    from ...serving.tf_example import serialize

    info = card.signatures.get(method)
    if info is None or not info.example_features:
        raise DataError(f"the card names no {method} signature features to read its logs with")
    features = info.example_features
    if [f.dtype for f in features] == ["bytes"]:
        parsed = tf.io.parse_example(
            serialize(request_input), {features[0].key: tf.io.FixedLenFeature([], tf.string)}
        )
        return parsed[features[0].key].numpy().astype(object)
    described = {f.key: tf.io.FixedLenFeature(f.shape, tf.float32) for f in features}
    parsed = tf.io.parse_example(serialize(request_input), described)
    rows = np.concatenate([parsed[f.key].numpy().reshape(-1, max(1, int(np.prod(f.shape))))
                           for f in features], axis=1)  # fmt: skip
    return rows.reshape([-1, *[int(s or 0) for s in raw_shape(card)[1:]]])


def read_data(pattern: str, model: LocalModel) -> Traffic:
    """The inputs of the data files ``pattern`` names (a path or a glob), read as the training
    sources read them, and the version's raw-signature outputs for them.

    Raises:
        DataError: nothing matches, or a file a source cannot read.
    """
    paths = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
    if not paths or not Path(paths[0]).exists():
        raise DataError(f"--data: no file or folder matches {pattern!r}")
    card = _card(model)
    x = _stack([_read_one(Path(p), card) for p in paths])
    signature = raw_signature(card)
    parts = [
        model.predict(x[i : i + PREDICT_BATCH], signature) for i in range(0, len(x), PREDICT_BATCH)
    ]
    return Traffic(x, _join(parts), f"data {pattern}")


def _card(model: LocalModel) -> ModelCard:
    if model.card is None:
        raise DataError(f"{model.path} has no model card (kerasforge.json); republish it")
    return model.card


def _read_one(path: Path, card: ModelCard) -> np.ndarray:
    """One file's (or image folder's) inputs, through the training source that reads it."""
    from ..config.data import FeatureSpec, FileConfig
    from ..data.pipeline import load_source

    shape = [int(s or 0) for s in raw_shape(card)[1:]]
    kind = input_kind(card)
    suffix = path.suffix.lower()
    if path.is_dir():
        from ..data.sources.imagefolder import load_images

        file = FileConfig(path=path, image_size=(shape[0], shape[1]), channels=shape[2])
        data = load_source("image_folder", file)
        return load_images(data.x, (shape[0], shape[1]), shape[2])
    if suffix in LOG_SUFFIXES:
        spec = {"pixels": FeatureSpec(shape=shape)} if kind == "image" else _column_spec(card)
        data = load_source("tfrecord", FileConfig(path=path, spec=spec))
    elif suffix in (".npy", ".npz"):
        data = load_source("numpy_arrays", FileConfig(path=path))
    elif kind == "text":
        data = load_source("csv_text", FileConfig(path=path))
        return np.asarray(data.x, dtype=object)
    else:
        names = list(card.data.get("feature_names") or [])
        data = load_source(
            "csv_table", FileConfig(path=path, columns=dict.fromkeys(names, "float"))
        )
    x = np.asarray(data.x, dtype="float32")
    if x[0].size != int(np.prod(shape)):
        raise DataError(f"--data {path}: each example holds {x[0].size} values; the model takes "
                        f"{shape} ({int(np.prod(shape))} values)")  # fmt: skip
    return x.reshape([len(x), *shape])


def _column_spec(card: ModelCard) -> dict[str, Any]:
    from ..config.data import FeatureSpec

    info = card.signatures.get("classify") or card.signatures.get("regress")
    features = info.example_features if info else []
    if not features:
        raise DataError("--data: a TFRecord needs the card's classify/regress example features")
    return {f.key: FeatureSpec(shape=list(f.shape)) for f in features}


def _stack(parts: list[np.ndarray]) -> np.ndarray:
    shapes = {p.shape[1:] for p in parts}
    if len(shapes) > 1:
        raise DataError(f"the inputs come in several shapes {sorted(shapes)}; monitor one "
                        "model's requests (of one signature form) at a time")  # fmt: skip
    return np.concatenate(parts)


def _join(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Each output's rows from every part that has it (with one trailing shape)."""
    names = {n for p in parts for n in p}
    found = {}
    for name in sorted(names):
        pieces = [np.asarray(p[name]) for p in parts if name in p]
        if len({x.shape[1:] for x in pieces}) == 1:
            found[name] = np.concatenate(pieces)
    return found
