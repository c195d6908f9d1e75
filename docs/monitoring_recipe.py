"""Helpers of the monitoring recipe (``docs/monitoring_recipe.sh``): traffic, labels, figures.

The story: the digits come from scanners; a new scanner joins and its images come brighter
(``bright``: 0.6 x pixel + 100, on the same 0-255 range). ``traffic`` sends the bundled
digits to a running server over REST (plain ``urllib``, as curl would): ``new`` the new
scanner's images only, ``both`` every scanner's (the original images and the bright ones).
``label`` fills the ``label`` column of ``--to-dataset``'s labels.csv from the known ground
truth: in real life a person does this (the ``predicted`` column is the model's guess);
the recipe's images are the bundled digits, so their true digit is known. ``figures``
gathers each report.json's verdicts and PSI/KS figures into one JSON file.

Usage:
    python docs/monitoring_recipe.py traffic PORT MODEL new|both
    python docs/monitoring_recipe.py label DATASET_DIR
    python docs/monitoring_recipe.py figures OUT.json NAME=REPORT_DIR ...
"""

from __future__ import annotations

import csv
import json
import sys
import urllib.request
from pathlib import Path

import numpy as np

BATCH = 100


def digits() -> tuple[np.ndarray, np.ndarray]:
    """The bundled digits as the ``digits`` source gives them: 0-255 pixels, [N, 8, 8, 1]."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return (bunch.images.astype("float32") * (255.0 / 16.0))[..., None], bunch.target


def bright(x: np.ndarray) -> np.ndarray:
    """The new scanner's images: brighter and with less contrast."""
    return np.clip(x * 0.6 + 100.0, 0.0, 255.0).astype("float32")


def traffic(port: int, model: str, which: str) -> int:
    """Send the ``new`` (bright) or ``both`` (original and bright) images; requests sent."""
    x, _ = digits()
    images = bright(x) if which == "new" else np.concatenate([x, bright(x)])
    url = f"http://127.0.0.1:{port}/v1/models/{model}:predict"
    sent = 0
    for start in range(0, len(images), BATCH):
        body = json.dumps({"instances": images[start : start + BATCH].tolist()}).encode()
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            answer.read()
        sent += 1
    print(f"sent {len(images)} {which} images in {sent} requests to {model}")
    return sent


def label(folder: Path) -> int:
    """Fill labels.csv's ``label`` from the ground truth, matching each logged image by its
    pixels (the log holds the float32 pixels as sent); rows returned labelled."""
    import tensorflow as tf

    x, y = digits()
    truth = {bright(x[i : i + 1]).tobytes(): str(y[i]) for i in range(len(x))}
    truth.update({x[i : i + 1].tobytes(): str(y[i]) for i in range(len(x))})
    spec = {"id": tf.io.FixedLenFeature([], tf.int64),
            "pixels": tf.io.FixedLenFeature([64], tf.float32)}  # fmt: skip
    found = {}
    for record in tf.data.TFRecordDataset(str(folder / "requests.tfrecord")):
        parsed = tf.io.parse_single_example(record, spec)
        pixels = parsed["pixels"].numpy().reshape(1, 8, 8, 1).astype("float32")
        found[int(parsed["id"])] = truth.get(pixels.tobytes(), "")
    path = folder / "labels.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["label"] = found.get(int(row["id"]), "")
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, ["id", "predicted", "label"])
        writer.writeheader()
        writer.writerows(rows)
    labelled = sum(bool(r["label"]) for r in rows)
    agree = sum(r["label"] == r["predicted"] for r in rows)
    print(f"labelled {labelled} of {len(rows)} rows from the ground truth "
          f"(the served model's suggestion was right for {agree})")  # fmt: skip
    return labelled


def figures(out: Path, named: list[str]) -> dict:
    """``{name: {verdict, features: {side/feature: {verdict, psi, ks_p_value, chi2_p_value}}}}``."""
    found: dict = {}
    for item in named:
        name, folder = item.split("=", 1)
        document = json.loads((Path(folder) / "report.json").read_text())
        report = document["report"]
        features = {
            f"{side}/{feature}": {
                k: drift.get(k) for k in ("verdict", "psi", "ks_p_value", "chi2_p_value")
            }
            for side in ("inputs", "outputs")
            for feature, drift in report[side].items()
        }
        found[name] = {
            "model_version": document["version"],
            "source": document["source"],
            "live_rows": report["live_rows"],
            "verdict": report["verdict"],
            "features": features,
        }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(found, indent=1))
    print(f"figures: {out}")
    return found


def main(argv: list[str]) -> int:
    """Dispatch the three steps (module docstring)."""
    if argv[:1] == ["traffic"] and len(argv) == 4:
        traffic(int(argv[1]), argv[2], argv[3])
    elif argv[:1] == ["label"] and len(argv) == 2:
        label(Path(argv[1]))
    elif argv[:1] == ["figures"] and len(argv) >= 3:
        figures(Path(argv[1]), argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
