"""Image grid of a synthetic set: rows = classes, up to ten images per row, shown in pixel space."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ddstudy.io import save_figure  # noqa: E402


def to_pixels(images: np.ndarray, normalization) -> np.ndarray:
    """Undo the normalisation and clip to [0, 1]; returns [N, H, W, 3] for display."""
    mean = np.asarray(normalization.mean, dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(normalization.std, dtype=np.float32).reshape(1, -1, 1, 1)
    pixels = np.clip(images * std + mean, 0.0, 1.0)
    if pixels.shape[1] == 1:
        pixels = np.repeat(pixels, 3, axis=1)
    return pixels.transpose(0, 2, 3, 1)


def plot_synthetic_grid(images, labels, normalization, class_names, title: str, path: str | Path, per_row: int = 10):
    pixels = to_pixels(np.asarray(images), normalization)
    labels = np.asarray(labels)
    classes = sorted(set(labels.tolist()))
    columns = min(per_row, max(int((labels == c).sum()) for c in classes))
    fig, axes = plt.subplots(
        len(classes), columns, figsize=(0.9 * columns + 1.6, 0.9 * len(classes) + 0.8), squeeze=False
    )
    for r, c in enumerate(classes):
        row = pixels[labels == c][:columns]
        for k in range(columns):
            ax = axes[r][k]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if k < len(row):
                ax.imshow(row[k], interpolation="nearest")
        axes[r][0].set_ylabel(class_names[c], rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
