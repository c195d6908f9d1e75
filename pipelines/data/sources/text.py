"""Text data sources: folders of ``.txt`` files, a text column of a CSV, a generated task.

Every source holds raw strings in ``x`` (one document per example) and class
ids in ``y``; the classification task tokenises them inside the model
(``pipelines/tasks/preprocess.py``). Problems a user can cause are one
:class:`DataError`; files that cannot be read as UTF-8 text, or hold no text,
are skipped and counted (reported at the end of training, logged to MLflow),
as ``image_folder`` does with undecodable images.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...errors import DataError, shown
from ..types import DataInfo, Dataset, register_source
from .files import (
    MISSING,
    _class_ids,
    _existing,
    _read_rows,
    class_folders,
)

if TYPE_CHECKING:
    from ...config.experiment import FileConfig

TEXT_SUFFIX = ".txt"
SHOWN_SKIPPED = 5
"""How many skipped paths are named in the report."""


@register_source(inputs="text", targets="classes", needs_file=True)
def text_folder(file: FileConfig) -> Dataset:
    """A folder with one subfolder of UTF-8 ``.txt`` files per class; one file, one example."""
    root, classes = class_folders(file.path, "text_folder", ".txt files")
    texts: list[str] = []
    labels: list[int] = []
    skipped: list[str] = []
    empty: list[str] = []
    for index, name in enumerate(classes):
        found = _read_class(root / name, skipped)
        if not found:
            empty.append(str(root / name))
        texts += found
        labels += [index] * len(found)
    if empty:
        raise DataError(
            f"text_folder: class folder(s) {shown(empty, 300)} hold no readable, non-empty "
            f"UTF-8 {TEXT_SUFFIX} file; add text files or remove the folder"
        )
    info = DataInfo(
        root.name,
        "text",
        "classes",
        tuple(classes),
        skipped=tuple(skipped[:SHOWN_SKIPPED]),
        skipped_count=len(skipped),
    )
    return Dataset(np.array(texts, dtype=object), np.array(labels, "int64"), info)


def _read_class(folder: Path, skipped: list[str]) -> list[str]:
    """The texts of a class folder's ``.txt`` files; unreadable or blank ones go to ``skipped``."""
    texts = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix.lower() != TEXT_SUFFIX:
            continue
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            skipped.append(str(path))
            continue
        if not text:
            skipped.append(str(path))
            continue
        texts.append(text)
    return texts


@register_source(inputs="text", targets="classes", needs_file=True)
def csv_text(file: FileConfig) -> Dataset:
    """A CSV file with a header row: a text column (``data.file.text``) and a label column."""
    path = _existing(file.path, (".csv", ".tsv"))
    header, rows = _read_rows(path)
    missing = [c for c in (file.text, file.label) if c not in header]
    if missing:
        raise DataError(
            f"data file {path}: no column(s) {missing}; its columns are {shown(header, 200)}: "
            "set data.file.text to the text column and data.file.label to the class column"
        )
    text_at, label_at = header.index(file.text), header.index(file.label)
    blank = [i for i, r in enumerate(rows) if r[text_at].strip().lower() in MISSING[:1]]
    blank += [i for i, r in enumerate(rows) if r[label_at].strip().lower() in MISSING]
    if blank and file.missing == "error":
        raise DataError(
            f"data file {path}: {len(set(blank))} row(s) with an empty text or label (first at "
            f"row {min(blank) + 2}); set data.file.missing to 'drop' to leave them out"
        )
    keep = [i for i in range(len(rows)) if i not in set(blank)]
    classes, y = _class_ids([rows[i][label_at].strip() for i in keep])
    texts = np.array([rows[i][text_at].strip() for i in keep], dtype=object)
    return Dataset(texts, y, DataInfo(path.stem, "text", "classes", classes))
