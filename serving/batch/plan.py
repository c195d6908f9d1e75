"""What one batch job scores, and with which signature: decided once, before the job starts.

The input files are matched first (any file system Beam reads: local paths, ``gs://``,
``s3://``), and all must be of one kind, told by their suffix:

============================  ==========  =============================================
files                         kind        signature (the card names it)
============================  ==========  =============================================
``.png .jpg .jpeg .bmp .gif``  ``image``   the encoded-image one (``serving_bytes``, or
                                          ``serving_default`` when the card's
                                          ``image_input`` is ``encoded``)
``.csv`` (a header row)       ``csv``     ``serving_features`` (one input per column)
``.txt`` (one text a line)    ``text``    ``serving_default`` (a string input)
``.tfrecord .tfrecords``      ``example`` ``classify`` / ``regress`` (serialized
                                          tf.Examples, as ``serving.tf_example`` builds)
                              ``tensor``  the raw tensor's (``serving_pixels`` or
                                          ``serving_default``): serialized TensorProtos,
                                          one example each, no batch dimension
============================  ==========  =============================================

A TFRecord file says which of the two it holds by its first record (see :func:`record_kind`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..card import ModelCard, SignatureInfo, read_card
from ..clients.request_inputs import BYTES_SIGNATURE, FEATURES_SIGNATURE, IMAGE_SUFFIXES
from ..errors import ServingError
from ..repository import version_dirs

TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords")
_FILE_KINDS = {
    ".csv": "csv",
    ".txt": "text",
    **{s: "image" for s in IMAGE_SUFFIXES},
    **{s: "tfrecord" for s in TFRECORD_SUFFIXES},
}
_EXAMPLE_TAG, _TENSOR_TAG = 0x0A, 0x08
"""First byte of a serialized tf.Example (field 1, ``features``, length-delimited) and of a
TensorProto (field 1, ``dtype``, a varint): the two messages cannot be confused."""


@dataclass(frozen=True)
class Plan:
    """One job: the model version, the files, their kind and the signature that scores them."""

    model: str
    version: int
    version_dir: str
    files: tuple[str, ...]
    kind: str
    signature: str
    info: SignatureInfo


def find_version(repository: str, model: str, version: int | None, label: str | None) -> int:
    """The version to score with, chosen as :func:`kerasforge.load` chooses it
    (:func:`~kerasforge.serving.loading.choose_version`): ``version``, the one ``label``
    names, else the one the server answers a bare model name with.

    Raises:
        ServingError: an unknown model, version or label (with what there is).
    """
    from ..loading import choose_version

    return choose_version(Path(repository), model, version, label)


def match_files(pattern: str) -> list[str]:
    """The files ``pattern`` (a glob, on any file system Beam reads) matches, sorted.

    Raises:
        ServingError: it matches nothing.
    """
    from apache_beam.io.filesystems import FileSystems

    try:
        results = FileSystems.match([pattern])
    except Exception as exc:  # Beam raises BeamIOError for an unknown scheme or a bad glob
        raise ServingError(f"--input {pattern!r}: cannot list it ({exc})") from None
    files = sorted(m.path for r in results for m in r.metadata_list)
    if not files:
        raise ServingError(
            f"--input {pattern!r} matches no files: expected a glob of image files, .csv, "
            f".txt or {'/'.join(TFRECORD_SUFFIXES)} files, e.g. 'data/*.png'"
        )
    return files


def file_kind(files: list[str]) -> str:
    """``image``, ``csv``, ``text`` or ``tfrecord``: what every file of ``files`` is.

    Raises:
        ServingError: a file of another suffix, or files of more than one kind.
    """
    kinds: dict[str, str] = {}
    for path in files:
        suffix = Path(path).suffix.lower()
        if suffix not in _FILE_KINDS:
            raise ServingError(
                f"input {path!r}: expected image files ({', '.join(IMAGE_SUFFIXES)}), .csv "
                f"(a header row), .txt (one text per line) or {'/'.join(TFRECORD_SUFFIXES)}; "
                f"received a {suffix or 'suffix-less'} file"
            )
        kinds.setdefault(_FILE_KINDS[suffix], path)
    if len(kinds) > 1:
        named = ", ".join(f"{k} ({p})" for k, p in sorted(kinds.items()))
        raise ServingError(f"--input mixes kinds of files: {named}; score one kind per job")
    return next(iter(kinds))


def record_kind(first: bytes | None) -> str:
    """``example`` or ``tensor``: what a TFRecord file holds, by its first record's first byte.

    An empty file (``None``) counts as examples; its records are none anyway.
    """
    if first and first[0] == _TENSOR_TAG:
        return "tensor"
    return "example"


def choose_signature(card: ModelCard, kind: str) -> str:
    """The signature of ``card`` that takes inputs of ``kind``.

    Raises:
        ServingError: the model has no signature for that kind (naming the kinds it takes).
    """
    takes = card.data.get("inputs", "image")
    if kind == "image":
        wanted = "serving_default" if card.image_input == "encoded" else BYTES_SIGNATURE
    elif kind == "csv":
        wanted = FEATURES_SIGNATURE
    elif kind == "example":
        wanted = next((n for n, s in card.signatures.items() if s.example_features), "classify")
    elif kind == "tensor":
        return next(n for n, s in card.signatures.items() if s is card.raw_signature())
    else:
        text = any(t.dtype == "string" for t in card.signature().inputs)
        wanted = "serving_default" if text else ""
    if wanted not in card.signatures:
        raise ServingError(
            f"model {card.model_name or ''!s} ({card.task}, {takes} inputs) cannot score {kind} "
            f"files: it has no signature for them (signatures: {', '.join(card.signatures)}); "
            f"{_what_fits(takes)}"
        )
    return wanted


def _what_fits(takes: str) -> str:
    fits = {
        "image": "pass image files or TFRecords",
        "tabular": "pass .csv files with a header row or TFRecords",
        "text": "pass .txt files (one text per line) or TFRecords",
    }
    return fits.get(takes, "pass TFRecords of serialized tensors (one example each)")


def make_plan(
    repository: str, model: str, version: int | None, label: str | None, pattern: str
) -> Plan:
    """The job for ``model`` over the files ``pattern`` matches.

    Raises:
        ServingError: an unknown model, version or label; no files; files of several kinds;
            a kind the model takes no signature for.
    """
    chosen = find_version(repository, model, version, label)
    version_dir = version_dirs(Path(repository) / model)[chosen]
    card = read_card(version_dir)
    files = match_files(pattern)
    kind = file_kind(files)
    if kind == "tfrecord":
        kind = record_kind(_first_record(files))
    signature = choose_signature(card.model_copy(update={"model_name": model}), kind)
    info = card.signature(signature)
    return Plan(model, chosen, str(version_dir), tuple(files), kind, signature, info)


def _first_record(files: list[str]) -> bytes | None:
    """The first record of the first file that has one (``None``: all are empty)."""
    from .inputs import tfrecords

    for path in files:
        for _, record in tfrecords(path):
            if isinstance(record, bytes):
                return record
            break
    return None
