"""The zoo's table (``results/tables/zoo.csv``) and accuracy-vs-epoch figures (mean ± std over inits)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ddstudy.errors import DDStudyError  # noqa: E402
from ddstudy.io import (
    read_json,  # noqa: E402
    save_figure,  # noqa: E402
)
from ddstudy.report.style import accuracy_axis  # noqa: E402

ZOO_COLUMNS = [
    "dataset",
    "arch",
    "recipe",
    "init",
    "epoch",
    "train_acc",
    "test_acc",
    "test_acc_aligned",
    "test_acc_conflicting",
]


def zoo_frame(zoo_root: str | Path, datasets: list[str]) -> pd.DataFrame:
    """One row per checkpoint, read from each dataset's ``index.json``."""
    rows = []
    for dataset in datasets:
        index = Path(zoo_root) / dataset / "index.json"
        if not index.is_file():
            raise DDStudyError(f"{index} missing; build it with `snakemake {index}` (rule zoo_index)")
        rows += read_json(index)["checkpoints"]
    frame = pd.DataFrame(rows, columns=ZOO_COLUMNS)
    return frame.sort_values(["dataset", "arch", "init", "epoch"]).reset_index(drop=True)


def zoo_groups(frame: pd.DataFrame):
    """(label, rows) per architecture and training recipe of one dataset's zoo: the architecture's name, with its
    recipe when the dataset has several recipes for it (PTMs and MTT's experts are never averaged together)."""
    recipes = frame.groupby("arch")["recipe"].nunique()
    for (arch, recipe), group in frame.groupby(["arch", "recipe"], sort=True):
        yield (f"{arch} ({recipe})" if recipes[arch] > 1 else arch), group


def plot_zoo_accuracy(frame: pd.DataFrame, dataset: str, path: str | Path) -> Path:
    """Left: test accuracy on the (unbiased) test set; right: training accuracy; mean ± std over inits."""
    data = frame[frame["dataset"] == dataset]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, column, title in ((axes[0], "test_acc", "unbiased test set"), (axes[1], "train_acc", "training set")):
        for name, group in zoo_groups(data):
            stats = group.groupby("epoch")[column].agg(["mean", "std", "count"])
            label = f"{name} (n={int(stats['count'].max())} inits)"
            # Only saved epochs are points; a solid line would claim values at the epochs in between.
            consecutive = len(stats) < 2 or bool((np.diff(stats.index) == 1).all())
            ax.errorbar(
                stats.index,
                100 * stats["mean"],
                yerr=100 * stats["std"].fillna(0),
                marker="o",
                ls="-" if consecutive else ":",
                capsize=3,
                label=label,
            )
        ax.set_title(title)
        ax.set_xlabel("training epoch of the PTM")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    accuracy_axis(axes[0], "accuracy (%)")
    # Below the panels, one entry a row: recipe labels are long and a legend inside a panel would hide its data.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=1, frameon=False)
    saved = ", ".join(str(e) for e in sorted(data["epoch"].unique()))
    fig.suptitle(
        f"PTM zoo on {dataset}: accuracy by epoch, mean ± std over inits (error bars)\n"
        f"points: saved epochs ({saved}); dotted lines join points that are not consecutive epochs",
        fontsize=10,
    )
    fig.set_size_inches(10, 4 + 0.17 * len(labels))
    fig.tight_layout(rect=(0, 0.17 * len(labels) / (4 + 0.17 * len(labels)) + 0.02, 1, 1))
    return save_figure(fig, path)
