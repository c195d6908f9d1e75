"""Write the example data files the file-source configs read (``make example-data``).

Generated from scikit-learn's bundled wine set, so nothing is downloaded:
``configs/data/wine.csv`` (named columns, string labels, a few empty cells
for the missing-value policy) and ``configs/data/wine.npz`` (arrays ``x``
and ``label``).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

EXAMPLES = Path("configs") / "data"


def write_examples(folder: Path = EXAMPLES) -> list[Path]:
    """Write the example files into ``folder``; returns their paths."""
    from sklearn.datasets import load_wine

    bunch = load_wine()
    folder.mkdir(parents=True, exist_ok=True)
    names = [n.replace("/", "_") for n in bunch.feature_names]
    labels = [str(bunch.target_names[t]) for t in bunch.target]
    csv_path = folder / "wine.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*names, "cultivar"])
        for i, (row, label) in enumerate(zip(bunch.data, labels, strict=True)):
            cells = [f"{v:g}" for v in row]
            if i % 37 == 5:  # a few empty cells, filled by `missing: mean`
                cells[i % len(cells)] = ""
            writer.writerow([*cells, label])
    npz_path = folder / "wine.npz"
    np.savez_compressed(npz_path, x=bunch.data.astype("float32"), label=bunch.target)
    return [csv_path, npz_path]


if __name__ == "__main__":
    for path in write_examples(Path(sys.argv[1]) if len(sys.argv) > 1 else EXAMPLES):
        print(path)
