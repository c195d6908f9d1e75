"""Run plots as PNG files: learning curves, a confusion matrix for classifiers, forecasts
against actual values for forecasters, reconstructions and score histograms for anomaly detection.

Matplotlib with the Agg backend (no display needed); called once at the end
of a run, never per epoch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def learning_curves(history: dict[str, list[float]], path: Path) -> Path | None:
    """One panel per metric (train and ``val_`` together), epochs on the x axis.

    Args:
        history: ``keras.callbacks.History.history``.
        path: the PNG to write.

    Returns:
        ``path``, or ``None`` when the history holds no epoch.
    """
    names = [k for k in history if not k.startswith("val_") and k != "learning_rate"]
    if not names or not history[names[0]]:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        epochs = np.arange(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], marker="o", label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], marker="o", label="validation")
        ax.set(title=name, xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def confusion_matrix(csv_path: Path, path: Path) -> Path:
    """Plot the task's ``confusion_matrix.csv`` (header row of predicted labels) as a heat map."""
    lines = csv_path.read_text().strip().splitlines()
    labels = lines[0].split(",")[1:]
    matrix = np.array([[int(v) for v in row.split(",")[1:]] for row in lines[1:]])
    plt = _pyplot()
    size = 2.5 + 0.45 * len(labels)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set(
        xticks=range(len(labels)),
        yticks=range(len(labels)),
        xticklabels=labels,
        yticklabels=labels,
        xlabel="predicted",
        ylabel="true",
        title="confusion matrix (test split)",
    )
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        color = "white" if count > threshold else "black"
        ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize=8)
    return _save(fig, path)


def forecast_plot(csv_path: Path, path: Path) -> Path:
    """Plot the forecasting task's ``forecast.csv``: actual, forecast and naive values over
    the test segment (step 1 of each window, in time order; and step ``h`` when ``h > 1``)."""
    import csv

    with csv_path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    horizon = max(int(r["step"]) for r in rows)
    plt = _pyplot()
    steps = sorted({1, horizon})
    fig, axes = plt.subplots(len(steps), 1, figsize=(10, 3.2 * len(steps)), squeeze=False)
    for ax, step in zip(axes[:, 0], steps, strict=True):
        picked = [r for r in rows if int(r["step"]) == step]
        windows = [int(r["window"]) for r in picked]
        for key, style in (("actual", "-"), ("forecast", "-"), ("naive", ":")):
            ax.plot(windows, [float(r[key]) for r in picked], style, label=key, linewidth=1.2)
        ax.set(title=f"forecast vs actual, {step} step(s) ahead (test split)", xlabel="window")
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    plt = _pyplot()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def reconstructions(originals: np.ndarray, reconstructed: np.ndarray, path: Path) -> Path:
    """Originals (top row) above their reconstructions (bottom row), one column per image."""
    plt = _pyplot()
    count = len(originals)
    fig, axes = plt.subplots(2, count, figsize=(1.3 * count, 2.8), squeeze=False)
    for row, (images, label) in enumerate(
        ((originals, "original"), (reconstructed, "reconstructed"))
    ):
        for ax, image in zip(axes[row], images, strict=True):
            ax.imshow(np.asarray(image)[..., 0], cmap="gray_r")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row][0].set_ylabel(label)
    return _save(fig, path)


def score_histogram(
    scores: np.ndarray, is_anomaly: np.ndarray, threshold: float, path: Path
) -> Path:
    """Histograms of the anomaly scores of normal and anomalous examples, with the threshold."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.histogram_bin_edges(scores, bins=40)
    ax.hist(scores[~is_anomaly], bins=bins, alpha=0.6, label="normal")
    ax.hist(scores[is_anomaly], bins=bins, alpha=0.6, label="anomaly")
    ax.axvline(threshold, color="black", linestyle="--", label="threshold")
    ax.set(title="anomaly scores (test split)", xlabel="reconstruction error", ylabel="examples")
    ax.legend()
    return _save(fig, path)


def attention_map(weights: np.ndarray, source: str, decoded: str, path: Path) -> Path:
    """Heat map of one example's attention: decoded characters (rows) over source ones.

    Args:
        weights: ``[steps, source_length]`` attention weights of one example.
        source: the source string (its characters label the columns).
        decoded: the decoded string (its characters, then the end token, label the rows).
        path: the PNG to write.
    """
    plt = _pyplot()
    rows = [*decoded, "<end>"][: len(weights)]
    shown = np.asarray(weights)[: len(rows), : max(len(source), 1)]
    fig, ax = plt.subplots(figsize=(0.35 * shown.shape[1] + 2, 0.35 * len(rows) + 1.5))
    ax.imshow(shown, cmap="viridis", aspect="auto", vmin=0.0)
    ax.set_xticks(range(shown.shape[1]), list(source)[: shown.shape[1]])
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("source character")
    ax.set_ylabel("decoded character")
    ax.set_title("attention")
    return _save(fig, path)


def sample_grid(images: np.ndarray, path: Path, title: str) -> Path:
    """Generated images (``[N, H, W, C]``, 0-255 pixels) in a square-ish grid."""
    plt = _pyplot()
    images = np.asarray(images)
    columns = int(np.ceil(np.sqrt(len(images))))
    rows = int(np.ceil(len(images) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.1 * columns, 1.1 * rows + 0.4),
                             squeeze=False)  # fmt: skip
    for i, ax in enumerate(axes.flat):
        if i < len(images):
            image = images[i][..., 0] if images.shape[-1] == 1 else images[i] / 255.0
            ax.imshow(image, cmap="gray_r", vmin=0, vmax=255 if images.shape[-1] == 1 else None)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    return _save(fig, path)
