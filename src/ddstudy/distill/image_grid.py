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


def tile(pixels: np.ndarray, labels: np.ndarray, classes: list[int], columns: int, gap: int = 2) -> np.ndarray:
    """One canvas [rows·(H+gap)−gap, columns·(W+gap)−gap, 3]: row r holds up to ``columns`` images of class
    ``classes[r]`` in their order in the set, on a white background (a class with fewer images leaves blanks)."""
    height, width = pixels.shape[1:3]
    canvas = np.ones((len(classes) * (height + gap) - gap, columns * (width + gap) - gap, 3), dtype=np.float32)
    for r, c in enumerate(classes):
        for k, image in enumerate(pixels[labels == c][:columns]):
            top, left = r * (height + gap), k * (width + gap)
            canvas[top : top + height, left : left + width] = image
    return canvas


def plot_synthetic_grid(images, labels, normalization, class_names, title: str, path: str | Path, per_row: int = 10):
    """Rows = classes (labelled), up to ``per_row`` images each. One tiled image, not one axes per image: a 100-image
    set drew in 6 s with 100 subplots, which every distillation job paid."""
    pixels = to_pixels(np.asarray(images), normalization)
    labels = np.asarray(labels)
    classes = sorted(set(labels.tolist()))
    columns = min(per_row, max(int((labels == c).sum()) for c in classes))
    canvas = tile(pixels, labels, classes, columns)
    fig, ax = plt.subplots(figsize=(0.9 * columns + 1.6, 0.9 * len(classes) + 0.8))
    ax.imshow(canvas, interpolation="nearest")
    height = pixels.shape[1]
    ax.set_yticks([r * (height + 2) + (height - 1) / 2 for r in range(len(classes))])
    ax.set_yticklabels([class_names[c] for c in classes], fontsize=8)
    ax.set_xticks([])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
