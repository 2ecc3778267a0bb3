"""Sample-grid figures of dataset variants (what a biased training set looks like).

* :func:`plot_variant_samples` — one variant: rows = classes, a few training samples each; the frame of every tile
  is green when the sample is bias-aligned and red when it is bias-conflicting.
* :func:`plot_ratio_figure` — one source × bias kind × severity: rows = classes, columns = bias-aligned ratio.
* :func:`plot_severity_figure` — rows = classes, columns = severity: the same image with its bias-aligned
  attribute (attribute = class) at each severity, so the strength of the bias is visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ddstudy.data import registry as bias_kinds  # noqa: E402
from ddstudy.data.sources import SourceData  # noqa: E402
from ddstudy.data.store import StoredSplit, Variant  # noqa: E402
from ddstudy.io import save_figure  # noqa: E402
from ddstudy.report.catalog import PAPER_SEVERITIES, dataset_figure_plan  # noqa: E402

ALIGNED_RGB = np.array([0, 170, 0], dtype=np.uint8)
CONFLICTING_RGB = np.array([220, 0, 0], dtype=np.uint8)


def to_rgb(images: np.ndarray) -> np.ndarray:
    """uint8 [N, C, H, W] (C = 1 or 3) → uint8 [N, H, W, 3]."""
    if images.shape[1] == 1:
        images = np.repeat(images, 3, axis=1)
    return images.transpose(0, 2, 3, 1)


def tile_row(images: np.ndarray, frames: np.ndarray | None = None, pad: int = 2) -> np.ndarray:
    """Place images [N, H, W, 3] side by side with ``pad`` pixels between them, optionally framed in colour."""
    n, height, width, _ = images.shape
    row = np.full((height + 2 * pad, n * (width + pad) + pad, 3), 255, dtype=np.uint8)
    for i, image in enumerate(images):
        left = pad + i * (width + pad)
        if frames is not None:
            row[pad - 1 : pad + height + 1, left - 1 : left + width + 1] = frames[i]
        row[pad : pad + height, left : left + width] = image
    return row


def pick_per_class(split: StoredSplit, label: int, count: int, seed: int) -> np.ndarray:
    """Indices of ``count`` samples of class ``label``, drawn with a fixed seed (same figure on every run)."""
    candidates = np.flatnonzero(split.labels == label)
    rng = np.random.default_rng([seed, label])
    return np.sort(rng.choice(candidates, size=min(count, len(candidates)), replace=False))


def _frames(split: StoredSplit, index: np.ndarray) -> np.ndarray | None:
    if (split.attrs < 0).all():
        return None
    aligned = split.aligned[index]
    return np.where(aligned[:, None], ALIGNED_RGB, CONFLICTING_RGB)


def _grid_figure(cells: list[list[np.ndarray]], row_labels: Sequence[str], col_labels: Sequence[str], title: str):
    rows, cols = len(cells), len(cells[0])
    cell_h, cell_w = cells[0][0].shape[:2]
    col_in = max(cell_w / 45, 1.0)  # at least an inch per column so that two-line titles do not collide
    row_in = max(cell_h / 45, 0.6)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * col_in + 1.6, rows * row_in + 1.0), squeeze=False)
    for r in range(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.imshow(cells[r][c], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c == 0:
                ax.set_ylabel(row_labels[r], rotation=0, ha="right", va="center", fontsize=8)
            if r == 0:
                ax.set_title(col_labels[c], fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_variant_samples(variant: Variant, path: str | Path, per_class: int = 8, seed: int = 0) -> Path:
    """Training samples of one variant, a row per class, frames green (aligned) / red (conflicting)."""
    split, meta = variant.train, variant.meta
    rows = []
    for label in range(variant.info.num_classes):
        index = pick_per_class(split, label, per_class, seed)
        rows.append([tile_row(to_rgb(split.images[index]), _frames(split, index))])
    counts = meta["counts"]["train"]
    subtitle = (
        f"aligned fraction {counts['aligned_fraction']:.3f} (green frame = aligned, red = conflicting)"
        if "aligned_fraction" in counts
        else "clean source"
    )
    fig = _grid_figure(
        rows, meta["class_names"], [f"{per_class} training samples per class"], f"{meta['name']}\n{subtitle}"
    )
    return save_figure(fig, path, tight=True)


def plot_ratio_figure(variants: Sequence[Variant], path: str | Path, per_cell: int = 4, seed: int = 0) -> Path:
    """Rows = classes, columns = the variants' bias-aligned ratios (same source, bias and severity)."""
    variants = sorted(variants, key=lambda v: v.info.ratio)
    first = variants[0].meta
    cells = []
    for label in range(first["num_classes"]):
        row = []
        for variant in variants:
            index = pick_per_class(variant.train, label, per_cell, seed)
            row.append(tile_row(to_rgb(variant.train.images[index]), _frames(variant.train, index)))
        cells.append(row)
    columns = [
        f"ratio {v.meta['ratio']:g}\n(aligned {v.meta['counts']['train']['aligned_fraction']:.2f})" for v in variants
    ]
    title = (
        f"{first['source']} · {first['bias']} bias · severity {first['severity']}: "
        "training samples by bias-aligned ratio\n"
        "green frame = bias-aligned (attribute = class), red = bias-conflicting"
    )
    return save_figure(_grid_figure(cells, first["class_names"], columns, title), path, tight=True)


def aligned_examples(source: SourceData, bias_kind: str, severity: int, seed: int) -> np.ndarray:
    """The first training image of each class with its bias-aligned attribute at ``severity``; uint8 [K,3,H,W]."""
    first = np.array([np.flatnonzero(source.train.labels == c)[0] for c in range(source.num_classes)])
    images = source.train.images[first]
    rng = np.random.default_rng([seed, severity])
    return bias_kinds.bias_kind(bias_kind).aligned_examples(images, severity, rng)


def plot_severity_figure(
    source: SourceData, bias_kind: str, severities: Sequence[int], path: str | Path, seed: int = 0
) -> Path:
    """Rows = classes (each with its aligned attribute), columns = clean image and each severity."""
    clean = to_rgb(
        source.train.images[[np.flatnonzero(source.train.labels == c)[0] for c in range(source.num_classes)]]
    )
    per_severity = {s: to_rgb(aligned_examples(source, bias_kind, s, seed)) for s in severities}
    kind = bias_kinds.bias_kind(bias_kind)
    row_labels = [kind.row_label(name, c) for c, name in enumerate(source.class_names)]
    col_labels = ["clean"] + [kind.severity_label(s) for s in severities]
    cells = [[clean[c]] + [per_severity[s][c] for s in severities] for c in range(source.num_classes)]
    title = f"{source.name} · {bias_kind} bias: the bias-aligned attribute of each class by severity"
    return save_figure(_grid_figure(cells, row_labels, col_labels, title), path, tight=True)


def write_dataset_figures(study, datasets_dir: str | Path, out_dir: str | Path, seed: int = 0) -> list[Path]:
    """Draw every figure of :func:`dataset_figure_plan` from the built variants (and the clean sources)."""
    from ddstudy.data.sources import load_source
    from ddstudy.data.store import load_variant

    written, sources = [], {}
    for path, (kind, what) in dataset_figure_plan(study, out_dir).items():
        if kind == "ratio":
            variants = [load_variant(Path(datasets_dir) / spec.name) for spec in what]
            written.append(plot_ratio_figure(variants, path, seed=seed))
        else:
            source, bias_kind = what
            if source not in sources:
                sources[source] = load_source(source, study.sources)
            severities = [s for s in PAPER_SEVERITIES if s <= bias_kinds.bias_kind(bias_kind).max_severity]
            written.append(plot_severity_figure(sources[source], bias_kind, severities, path, seed=seed))
    return written
