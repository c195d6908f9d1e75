"""User files as data sources: CSV with typed columns, NumPy ``.npy`` / ``.npz``.

Both hold tabular features with class labels; labels may be strings or
integers and become class ids in sorted order of their names. Every problem
is a :class:`DataError` naming the file, what was expected and how to fix it.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...errors import DataError, shown
from ..types import DataInfo, Dataset, register_source

if TYPE_CHECKING:
    from ...config.experiment import FileConfig

MISSING = ("", "na", "nan", "null", "none", "?")
"""Cell values read as missing (case-insensitive)."""


@register_source(inputs="tabular", targets="classes", needs_file=True)
def csv_table(file: FileConfig) -> Dataset:
    """A CSV file with a header row: feature columns and one class-label column."""
    path = _existing(file.path, (".csv", ".tsv", ".txt"))
    header, rows = _read_rows(path)
    if file.label not in header:
        raise DataError(
            f"data file {path}: no label column {file.label!r}; its columns are "
            f"{shown(header, 200)}: set data.file.label to the class column"
        )
    names = list(file.columns) or [h for h in header if h != file.label]
    unknown = [n for n in names if n not in header]
    if unknown:
        raise DataError(f"data file {path}: data.file.columns names missing columns {unknown}")
    columns = {n: [r[header.index(n)] for r in rows] for n in [*names, file.label]}
    keep = _rows_to_keep(path, columns, file.missing)
    labels = [columns[file.label][i] for i in keep]
    features, feature_names = _features(path, names, columns, file, keep)
    classes, y = _class_ids(labels)
    info = DataInfo(path.stem, "tabular", "classes", classes, tuple(feature_names))
    return Dataset(features, y, info)


@register_source(inputs="tabular", targets="classes", needs_file=True)
def numpy_arrays(file: FileConfig) -> Dataset:
    """``.npz`` with arrays ``data.file.features`` and ``data.file.label``, or a ``.npy``
    matrix whose last column holds the labels."""
    path = _existing(file.path, (".npz", ".npy"))
    try:
        if path.suffix == ".npy":
            matrix = np.load(path, allow_pickle=False)
            if matrix.ndim != 2 or matrix.shape[1] < 2:
                raise DataError(
                    f"data file {path}: a .npy source is a 2-D matrix of features with the "
                    f"labels in the last column; received shape {matrix.shape}"
                )
            x, labels = matrix[:, :-1], matrix[:, -1]
        else:
            with np.load(path, allow_pickle=False) as arrays:
                missing = [k for k in (file.features, file.label) if k not in arrays]
                if missing:
                    raise DataError(
                        f"data file {path}: no arrays {missing}; it holds {sorted(arrays)}: "
                        "set data.file.features and data.file.label to their names"
                    )
                x, labels = arrays[file.features], arrays[file.label]
    except (OSError, ValueError) as exc:
        raise DataError(f"data file {path} is not a readable NumPy file: {exc}") from None
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"data file {path}: features must be numbers; received dtype {x.dtype}")
    if len(x) != len(labels):
        raise DataError(f"data file {path}: {len(x)} feature rows but {len(labels)} labels")
    _check_whole_numbers(path, labels)
    x = x.reshape(len(x), -1).astype("float32")
    classes, y = _class_ids([_label_text(v) for v in labels])
    names = tuple(f"f{i}" for i in range(x.shape[1]))
    return Dataset(x, y, DataInfo(path.stem, "tabular", "classes", classes, names))


def _existing(path: Path | None, suffixes: tuple[str, ...]) -> Path:
    if path is None or not path.is_file():
        raise DataError(
            f"data.file.path: no file at {shown(str(path))}; point it at your data file"
        )
    if path.suffix.lower() not in suffixes:
        raise DataError(f"data.file.path: expected a {'/'.join(suffixes)} file; received {path}")
    return path


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f, delimiter="\t" if path.suffix == ".tsv" else ",")
            header = [h.strip() for h in next(reader, [])]
            rows = [row for row in reader if row]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"data file {path} is not a UTF-8 CSV file: {exc}") from None
    if not header or not rows:
        raise DataError(f"data file {path}: expected a header row and data rows; it is empty")
    bad = next((i for i, r in enumerate(rows) if len(r) != len(header)), None)
    if bad is not None:
        raise DataError(
            f"data file {path}: row {bad + 2} has {len(rows[bad])} cells, the header "
            f"{len(header)}; fix the row or quote cells holding commas"
        )
    return header, rows


def _rows_to_keep(path: Path, columns: dict[str, list[str]], policy: str) -> list[int]:
    count = len(next(iter(columns.values())))
    empty = {
        n: [i for i, v in enumerate(vals) if v.strip().lower() in MISSING]
        for n, vals in columns.items()
    }
    empty = {n: rows for n, rows in empty.items() if rows}
    if empty and policy == "error":
        summary = ", ".join(f"{n}: {len(r)} (first at row {r[0] + 2})" for n, r in empty.items())
        raise DataError(
            f"data file {path}: missing values in {summary}; set data.file.missing to "
            "'drop' (drop those rows) or 'mean' (fill with the column mean)"
        )
    label_rows = set(next((r for n, r in empty.items() if n == list(columns)[-1]), []))
    dropped = {i for rows in empty.values() for i in rows} if policy == "drop" else label_rows
    return [i for i in range(count) if i not in dropped]


def _features(
    path: Path, names: list[str], columns: dict[str, list[str]], file: FileConfig, keep: list[int]
) -> tuple[np.ndarray, list[str]]:
    blocks, feature_names = [], []
    for name in names:
        values = [columns[name][i].strip() for i in keep]
        if file.columns.get(name) == "category":
            levels = sorted({v for v in values if v.lower() not in MISSING})
            blocks.append(np.array([[v == level for level in levels] for v in values], "float32"))
            feature_names += [f"{name}={level}" for level in levels]
            continue
        blocks.append(_numbers(path, name, values, file.missing)[:, None])
        feature_names.append(name)
    return np.concatenate(blocks, axis=1).astype("float32"), feature_names


def _numbers(path: Path, name: str, values: list[str], policy: str) -> np.ndarray:
    out = np.empty(len(values), "float64")
    for i, v in enumerate(values):
        if v.lower() in MISSING:
            out[i] = math.nan
            continue
        try:
            out[i] = float(v)
        except ValueError:
            raise DataError(
                f"data file {path}: column {name!r} holds {shown(v)}, not a number; type it as "
                f"'category' in data.file.columns or fix the value"
            ) from None
    if policy == "mean" and np.isnan(out).any():
        out[np.isnan(out)] = np.nanmean(out) if not np.isnan(out).all() else 0.0
    return out


def _check_whole_numbers(path: Path, labels: np.ndarray) -> None:
    """Refuse numeric class labels that are not whole numbers (``1.5``, NaN): each would
    silently become a class of its own."""
    if not np.issubdtype(labels.dtype, np.floating):
        return
    bad = np.flatnonzero(~np.isfinite(labels) | (labels != np.round(labels)))
    if not len(bad):
        return
    where = "its last column" if path.suffix == ".npy" else "its label array"
    raise DataError(
        f"data file {path}: class labels must be whole numbers; {where} holds "
        f"{float(labels[bad[0]])} at row {bad[0] + 1} ({len(bad)} such value"
        f"{'s' if len(bad) > 1 else ''} in {len(labels)}). Numbers that measure something "
        "are not classes: map them to class numbers (0, 1, 2, ...) or names, or round them, "
        "and save the file again"
    )


def _label_text(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _class_ids(labels: list[str]) -> tuple[tuple[str, ...], np.ndarray]:
    """Class names (numeric labels in numeric order, else sorted) and integer ids."""
    names = sorted(
        set(labels), key=lambda v: (0, int(v), "") if v.lstrip("-").isdigit() else (1, 0, v)
    )
    index = {n: i for i, n in enumerate(names)}
    return tuple(names), np.array([index[v] for v in labels], "int64")


def class_folders(root: Path | None, source: str, holding: str) -> tuple[Path, list[str]]:
    """The folder of a ``<root>/<class>/...`` source and its class names (sorted, no hidden).

    Raises:
        DataError: no folder at ``root``, or fewer than two class subfolders.
    """
    if root is None or not root.is_dir():
        raise DataError(
            f"data.file.path: no folder at {shown(str(root))}; {source} reads a folder "
            f"with one subfolder of {holding} per class"
        )
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise DataError(
            f"data.file.path: {root} holds {len(classes)} class subfolder(s); expected one "
            f"subfolder of {holding} per class, at least 2"
        )
    return root, classes
