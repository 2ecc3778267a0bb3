"""Study figures: accuracy vs bias-aligned ratio, aligned vs conflicting accuracy, ratio × severity heatmaps,
CLoM gains by PTM axis, cross-architecture bars, and synthetic images by method × ratio.

Every figure has a title, labelled axes with units and a legend that says what its error bars are (the std over
evaluation runs); a method has one colour and marker in all of them (:mod:`ddstudy.report.style`), and accuracy axes
run from 0 to 100 %.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ddstudy.distill.registry import DISTILLING  # noqa: E402
from ddstudy.io import save_figure  # noqa: E402
from ddstudy.report.style import ERROR_BARS, accuracy_axis, method_style  # noqa: E402
from ddstudy.report.tables import METHOD_ORDER, PTM_AXES, ptm_axis  # noqa: E402

DISTILLED = DISTILLING


def _rank(label: str) -> tuple[int, str]:
    """Reference order (dc, dsa, dm, baselines); labels like 'dm IPC 10' sort by their method word."""
    method = label.split(" ")[0]
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else 99, label)


def _ordered(methods) -> list[str]:
    return sorted(methods, key=_rank)


def _value_text(value) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _panels(n: int, width: float = 5.0, height: float = 4.0):
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False, sharey=True)
    return fig, axes[0]


def plot_acc_by_ratio(frame: pd.DataFrame, path: str | Path, title: str) -> Path:
    """One panel per IPC of the distilled sets: test accuracy vs ratio per method (full data dashed in each)."""
    ipcs = sorted(frame[frame["method"].isin(DISTILLED)]["ipc"].dropna().unique()) or [None]
    fig, axes = _panels(len(ipcs))
    full = frame[frame["method"] == "full"].sort_values("ratio")
    for ax, ipc in zip(axes, ipcs, strict=True):
        block = frame[(frame["ipc"] == ipc) & (frame["method"] != "full")] if ipc is not None else frame
        for method in _ordered(block["method"].unique()):
            data = block[block["method"] == method].sort_values("ratio")
            ax.errorbar(
                data["ratio"],
                100 * data["acc_mean"],
                yerr=100 * data["acc_std"].fillna(0),
                capsize=3,
                label=f"{method} (n={int(data['n_runs'].min())})",
                **method_style(method),
            )
        if len(full):
            ax.errorbar(
                full["ratio"],
                100 * full["acc_mean"],
                yerr=100 * full["acc_std"].fillna(0),
                ls="--",
                capsize=3,
                label=f"full training set (n={int(full['n_runs'].min())})",
                **method_style("full"),
            )
        ax.set_title(f"IPC {int(ipc)}" if ipc is not None else "all")
        ax.set_xlabel("bias-aligned ratio of the training set")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    accuracy_axis(axes[0], "test accuracy on the unbiased test set (%)")
    fig.suptitle(title.replace(" — ", "\n") + f"\n{ERROR_BARS}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


SEVERITY_LINES = ("-", "--", ":", "-.")  # highest severity solid, then the lower ones


def plot_acc_by_ratio_and_severity(frame: pd.DataFrame, path: str | Path, title: str) -> Path:
    """Biased-DD's figure: test accuracy vs aligned ratio, one colour per method (and IPC), one line style per
    severity (the highest solid), error bars = std over evaluation runs."""
    fig, axes = _panels(1, width=7.5, height=4.5)
    ax = axes[0]
    severities = sorted(frame["severity"].unique(), reverse=True)
    data = frame[frame["method"] != "full"]
    for (method, ipc), block in sorted(
        data.groupby(["method", data["ipc"].fillna(0)]), key=lambda kv: (_rank(kv[0][0]), kv[0][1])
    ):
        for s, severity in enumerate(severities):
            line = block[block["severity"] == severity].sort_values("ratio")
            if line.empty:
                continue
            style = method_style(method)
            if s:
                style["markerfacecolor"] = "white"
            label = (
                f"{method}{f' IPC {int(ipc)}' if ipc else ''}, severity {severity:g} (n={int(line['n_runs'].min())})"
            )
            ax.errorbar(
                line["ratio"],
                100 * line["acc_mean"],
                yerr=100 * line["acc_std"].fillna(0),
                capsize=3,
                ls=SEVERITY_LINES[min(s, len(SEVERITY_LINES) - 1)],
                label=label,
                **style,
            )
    ax.set_xlabel("bias-aligned ratio of the training set")
    accuracy_axis(ax, "test accuracy on the unbiased test set (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(title.replace(" — ", "\n") + f"\n{ERROR_BARS}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_aligned_conflicting(frame: pd.DataFrame, path: str | Path, title: str) -> Path:
    """Accuracy on bias-aligned (solid) and bias-conflicting (dashed) test samples vs ratio, per method."""
    data = frame.dropna(subset=["acc_aligned", "acc_conflicting"])
    fig, axes = _panels(1, width=10.0, height=4.5)
    ax = axes[0]
    seen: dict[str, int] = {}
    for (method, ipc), block in sorted(
        data.groupby(["method", data["ipc"].fillna(-1)]), key=lambda kv: (_rank(kv[0][0]), kv[0][1])
    ):
        block = block.sort_values("ratio")
        label = method if ipc == -1 else f"{method} IPC {int(ipc)}"
        style = method_style(method)
        alpha = (1.0, 0.65, 0.4)[min(seen.get(method, 0), 2)]  # further IPCs of a method: lighter
        seen[method] = seen.get(method, 0) + 1
        ax.plot(block["ratio"], 100 * block["acc_aligned"], alpha=alpha, label=f"{label}: aligned", **style)
        style["marker"] = "x"
        ax.plot(
            block["ratio"],
            100 * block["acc_conflicting"],
            ls="--",
            alpha=alpha,
            label=f"{label}: conflicting",
            **style,
        )
    ax.set_xlabel("bias-aligned ratio of the training set")
    accuracy_axis(ax, "test accuracy (%), mean over runs")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(title.replace(" — ", "\n"), fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_ratio_severity_heatmap(frame: pd.DataFrame, path: str | Path, title: str) -> Path:
    """Test accuracy (%) of one method and IPC over ratio (columns) × severity (rows); blank = not run."""
    table = frame.pivot_table(index="severity", columns="ratio", values="acc_mean") * 100
    fig, ax = plt.subplots(figsize=(1.1 * table.shape[1] + 2.5, 0.7 * table.shape[0] + 1.8))
    image = ax.imshow(table.values, cmap="viridis", aspect="auto")
    ax.set_xticks(range(table.shape[1]), [f"{c:g}" for c in table.columns])
    ax.set_yticks(range(table.shape[0]), [f"{int(r)}" for r in table.index])
    ax.set_xlabel("bias-aligned ratio")
    ax.set_ylabel("severity")
    for (i, j), value in np.ndenumerate(table.values):
        if not math.isnan(value):
            ax.text(j, i, f"{value:.1f}", ha="center", va="center", color="white", fontsize=8)
    fig.colorbar(image, ax=ax, label="test accuracy (%)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_clom_gains(frame: pd.DataFrame, centre: dict, path: str | Path, title: str) -> Path:
    """One panel per PTM axis: gain over no CLoM (points) of each value of the axis (the centre included)."""
    clom = frame[frame["clom_distance"] != "none"].copy()
    clom["axis"] = clom.apply(lambda r: ptm_axis(r, centre), axis=1)
    axes_present = [a for a in PTM_AXES if (clom["axis"] == a).any()]
    fig, axes = _panels(max(1, len(axes_present)), width=4.0)
    labels = {
        "zoo_inits": "PTMs per architecture",
        "zoo_archs": "architecture pool",
        "zoo_epoch": "PTM epoch",
        "domain": "domain",
        "clom_alpha": "α",
    }
    for ax, axis in zip(axes, axes_present, strict=False):
        members = clom[(clom["axis"] == axis) | (clom["axis"] == "centre")]
        names = []
        for r in members.itertuples():
            if axis == "domain":
                own = r.zoo_source == getattr(r, "dataset", None)
                source = "this dataset" if own else "\n".join(textwrap.wrap(r.zoo_source, 22))
                name = f"{r.clom_distance}, PTMs on\n{source}"
            else:
                name = _value_text(getattr(r, axis))
            names.append(name + ("\n(centre)" if r.axis == "centre" else ""))
        gains = 100 * members["gain_vs_no_clom"].astype(float)
        bars = ax.bar(
            range(len(members)),
            gains,
            yerr=100 * members["acc_std"].astype(float),
            capsize=3,
            color=["tab:green" if g >= 0 else "tab:red" for g in gains],
        )
        for bar, axis_of in zip(bars, members["axis"], strict=True):
            if axis_of == "centre":  # the same centre bar stands in every panel: hatched, so it reads as shared
                bar.set_hatch("//")
                bar.set_edgecolor("black")
        ax.set_xticks(range(len(members)), names, fontsize=7)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xlabel(labels[axis])
        ax.set_title(labels[axis])
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("accuracy gain over no CLoM (points)")
    fig.suptitle(
        f"{title}\nhatched: the centre setting (in every panel); error bars: std over the CLoM run's evaluations",
        fontsize=10,
    )
    fig.tight_layout()
    return save_figure(fig, path)


def plot_cross_arch(cross: pd.DataFrame, settings: dict[str, str], path: str | Path, title: str) -> Path:
    """Grouped bars: test accuracy per evaluation architecture for each synthetic set (method ± CLoM);
    ``settings``: set name → its CLoM setting in words (:func:`clom_setting_text`)."""
    archs = [c for c in cross.columns if c not in ("dataset", "method", "ipc", "set_name")]
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(archs) + 2), 4.5))
    width = 0.8 / max(1, len(cross))
    for k, row in enumerate(cross.itertuples(index=False)):
        values = [100 * getattr(row, a) if not pd.isna(getattr(row, a)) else 0 for a in archs]
        label = f"{row.method} IPC {_value_text(row.ipc)}, {settings[row.set_name]}"
        ax.bar(np.arange(len(archs)) + k * width, values, width, label=label)
    ax.set_xticks(np.arange(len(archs)) + width * (len(cross) - 1) / 2, archs)
    ax.set_xlabel("evaluation architecture")
    accuracy_axis(ax, "test accuracy (%), mean over runs")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1)
    ax.grid(alpha=0.3, axis="y")
    ax.set_title(title.replace(" — ", "\n"), fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, tight=True)  # the legend below is wider than the axes: keep all of it


def plot_synthetic_overview(sets: dict[tuple[str, float], Path], path: str | Path, title: str) -> Path:
    """Rows = method, columns = ratio; each cell shows the synthetic set's first image of every class."""
    from ddstudy.data.tensors import Normalization
    from ddstudy.distill.image_grid import to_pixels
    from ddstudy.io import load_npz, read_json

    methods = _ordered({m for m, _ in sets})
    ratios = sorted({r for _, r in sets})
    fig, axes = plt.subplots(
        len(methods), len(ratios), figsize=(3.2 * len(ratios) + 1, 0.6 * len(methods) + 0.8), squeeze=False
    )
    for i, method in enumerate(methods):
        for j, ratio in enumerate(ratios):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            folder = sets.get((method, ratio))
            if folder is not None:
                meta = read_json(folder / "meta.json")
                arrays = load_npz(folder / "synthetic.npz")
                labels = arrays["labels"]
                first = [int(np.flatnonzero(labels == c)[0]) for c in sorted(set(labels.tolist()))]
                norm = Normalization(tuple(meta["normalization"]["mean"]), tuple(meta["normalization"]["std"]))
                ax.imshow(np.concatenate(list(to_pixels(arrays["images"][first], norm)), axis=1))
            if i == 0:
                ax.set_title(f"ratio {ratio:g}", fontsize=9)
            if j == 0:
                ax.set_ylabel(method, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


DODGE = 0.012  # ratio units between neighbouring series of a panel (several modes share one ratio)


def plot_conflicting_by_ratio(frame: pd.DataFrame, path: str | Path, title: str) -> Path:
    """Accuracy on bias-conflicting test samples vs ratio, per method (colour) with and without mitigation
    (line style and marker: the debias mode); the unmitigated method is the solid line through every ratio."""
    from ddstudy.report.debias import DEBIAS_STYLE, debias_order
    from ddstudy.report.records import mode_of

    ipcs = sorted(frame["ipc"].dropna().unique()) or [None]
    fig, axes = _panels(len(ipcs), width=5.5, height=4.5)
    for ax, ipc in zip(axes, ipcs, strict=True):
        block = frame[frame["ipc"] == ipc] if ipc is not None else frame
        series = []
        for method in _ordered(block["method"].unique()):
            for debias in debias_order(block["debias"]):
                data = block[(block["method"] == method) & (block["debias"] == debias)].sort_values("ratio")
                data = data.dropna(subset=["acc_conflicting"])
                if not data.empty:
                    series.append((method, debias, data))
        for k, (method, debias, data) in enumerate(series):
            style = method_style(method)
            line, marker = DEBIAS_STYLE[mode_of(debias)]
            style["marker"] = marker or style["marker"]
            ax.errorbar(
                data["ratio"] + DODGE * (k - (len(series) - 1) / 2),  # side by side: no series hides another
                100 * data["acc_conflicting"],
                yerr=100 * data["acc_conflicting_std"].fillna(0),
                ls=line,
                capsize=3,
                markersize=7 if marker else 6,
                label=f"{method} {debias} (n={int(data['n_runs'].min())})",
                **style,
            )
        ax.set_title(f"IPC {int(ipc)}" if ipc is not None else "all")
        ax.set_xlabel("bias-aligned ratio of the training set")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, title="method, mitigation", title_fontsize=7)
    accuracy_axis(axes[0], "accuracy on bias-conflicting test samples (%)")
    dodged = f"series drawn {DODGE:g} apart along the ratio axis so that none hides another"
    fig.suptitle(title.replace(" — ", "\n") + f"\n{ERROR_BARS}; {dodged}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_bias_amplification(cross: pd.DataFrame, path: str | Path, title: str) -> Path:
    """The cross study: bias amplification (points) per distilled set (biased / unbiased target), one bar per
    guidance (no CLoM, CLoM from the biased set's PTMs, from the unbiased set's PTMs)."""
    guidance = ["no CLoM", "biased PTMs", "unbiased PTMs"]
    colours = {"no CLoM": "tab:gray", "biased PTMs": "tab:red", "unbiased PTMs": "tab:blue"}
    targets = ["biased", "unbiased"]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    width = 0.26
    for k, ptm in enumerate(guidance):
        values = []
        for target in targets:
            hit = cross[(cross["target"] == target) & (cross["ptm"] == ptm)]["bias_amplification"]
            values.append(100 * hit.iloc[0] if len(hit) and pd.notna(hit.iloc[0]) else np.nan)
        x = np.arange(len(targets)) + (k - 1) * width
        ax.bar(x, values, width, color=colours[ptm], label=ptm)
        for xi, v in zip(x, values, strict=True):
            if not np.isnan(v):
                ax.annotate(f"{v:+.1f}", (xi, v), ha="center", va="bottom" if v >= 0 else "top", fontsize=8)
    names = {
        t: cross.loc[cross["target"] == t, "dataset"].iloc[0] if (cross["target"] == t).any() else t for t in targets
    }
    ax.set_xticks(np.arange(len(targets)), [f"{t} set\n{textwrap.shorten(names[t], 48)}" for t in targets], fontsize=8)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylabel("bias amplification (points)\n(aligned − conflicting) vs the full biased set")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, title="guidance while distilling", title_fontsize=8)
    lines = [part for line in title.split(" — ") for part in textwrap.wrap(line, 90)]
    fig.suptitle("\n".join(lines) + "\nbars: means over evaluation runs", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


FAIRNESS_BARS = (  # (column, its std column or None, label): what the fair-DD papers report, per mitigation mode
    ("acc_mean", "acc_std", "accuracy ↑"),
    ("acc_conflicting", "acc_conflicting_std", "conflicting\naccuracy ↑"),
    ("worst_group_acc", None, "worst-group\naccuracy ↑"),
    ("deo_a", None, "EO gap,\nmean ↓"),
    ("suff_a", None, "sufficiency\ngap, mean ↓"),
)
MODE_HATCHES = ("", "//", "xx", "..", "\\\\", "++", "oo")


def plot_fairness_by_mode(frame: pd.DataFrame, path: str | Path, title: str) -> Path:
    """One panel per method × IPC of one dataset: for each fair-DD metric (accuracy, conflicting and worst-group
    accuracy, the Equalized-Odds and sufficiency gaps' means) a bar per mitigation mode — the method's colour, the
    mode's hatching (by the registry's order, so a mode looks the same in every panel and figure; another KDE kernel:
    its mode's, denser), the plain set first; the legend below each panel, clear of the bars. Accuracies: higher is
    better; gaps: lower is better."""
    from ddstudy.report.debias import DEBIAS_ORDER, debias_order
    from ddstudy.report.records import mode_of

    keys = frame[["method", "ipc"]].drop_duplicates()
    keys = sorted(keys.itertuples(index=False), key=lambda k: (_rank(k.method), k.ipc if k.ipc == k.ipc else 0))
    fig, axes = _panels(len(keys), width=6.5, height=4.2)
    for ax, key in zip(axes, keys, strict=True):
        block = frame[(frame["method"] == key.method) & (frame["ipc"] == key.ipc)]
        modes = debias_order(block["debias"])
        width = 0.8 / max(len(modes), 1)
        colour = method_style(key.method)["color"]
        for k, mode in enumerate(modes):
            row = block[block["debias"] == mode].iloc[0]
            values = [100 * row[column] if row[column] == row[column] else 0.0 for column, _, _ in FAIRNESS_BARS]
            errors = [100 * row[std] if std and row[std] == row[std] else 0.0 for _, std, _ in FAIRNESS_BARS]
            positions = [i + (k - (len(modes) - 1) / 2) * width for i in range(len(FAIRNESS_BARS))]
            hatch = MODE_HATCHES[DEBIAS_ORDER.index(mode_of(mode)) % len(MODE_HATCHES)]
            hatch = hatch if mode == mode_of(mode) else 2 * hatch or "--"  # another kernel: its mode's, denser
            ax.bar(positions, values, width, yerr=errors, capsize=2, color=colour, alpha=0.85,
                   hatch=hatch, edgecolor="black", linewidth=0.6,
                   label=f"{mode} (n={int(row['n_runs'])})")  # fmt: skip
        ax.set_xticks(range(len(FAIRNESS_BARS)), [label for _, _, label in FAIRNESS_BARS], fontsize=8)
        ipc = f", IPC {int(key.ipc)}" if key.ipc == key.ipc else ""
        ax.set_title(f"{key.method}{ipc}")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, title="mitigation", title_fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16),
                  ncol=len(modes), frameon=False)  # fmt: skip
        accuracy_axis(ax, "% (accuracies ↑, gaps ↓)")
    fig.suptitle(title.replace(" — ", "\n") + "\nerror bars: std over the evaluation runs (accuracies)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, tight=True)
