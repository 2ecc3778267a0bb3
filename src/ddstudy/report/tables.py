"""Paper-style Markdown tables from the aggregated CSV frames.

Every cell shows ``mean ± std (n)`` in percent, where n is the number of evaluation runs behind the number; a
combination the grid did not produce (or whose metrics are missing) is shown as ``—``, never filled in.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from ddstudy.distill.registry import METHODS
from ddstudy.io import atomic_file

MISSING = "—"
METHOD_ORDER = list(METHODS)  # the registry's order


def family_of(dataset: str) -> str:
    """A variant name without its ratio and severity: the set of variants a by-ratio table or figure compares."""
    return re.sub(r"-r[0-9.]+-s[0-9]+", "", dataset)


def _absent(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_acc(mean, std=None, n=None) -> str:
    """``mean ± std (n)`` in percent; one run has no spread, so it shows as ``mean (1)`` (no ``± 0.00``)."""
    if _absent(mean):
        return MISSING
    text = f"{100 * mean:.2f}"
    single = not _absent(n) and int(n) == 1
    if not _absent(std) and not single:
        text += f" ± {100 * std:.2f}"
    if not _absent(n):
        text += f" ({int(n)})"
    return text


def protocol_text(block: pd.DataFrame) -> str:
    """How the rows of a block were evaluated: epochs and augmentation (runs are the n in each cell), e.g.
    ``50 epochs, DSA aug.``; several protocols are listed with ``/``."""
    seen = []
    for epochs, augment in block[["eval_epochs", "eval_augment"]].itertuples(index=False):
        text = f"{_plain(epochs)} epochs" if not _absent(epochs) else "epochs ?"
        if augment in (None, "none") or _absent(augment):
            text += ", no aug."
        else:
            text += ", DC aug." if str(augment).startswith("dc:") else ", DSA aug."
        if text not in seen:
            seen.append(text)
    return " / ".join(seen)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _method_key(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)


def _plain(value) -> str:
    """1.0 → "1" (pandas turns integer columns with gaps into floats)."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _ipc_text(ipc) -> str:
    return "all" if ipc is None or (isinstance(ipc, float) and math.isnan(ipc)) else str(int(ipc))


def bias_markdown(frame: pd.DataFrame) -> str:
    """Per source × bias × severity × eval arch: one block per IPC, rows = method, columns = aligned ratio; then
    the aligned / conflicting accuracy table."""
    if frame.empty:
        return "# Bias study\n\nNo metrics yet.\n"
    out = [
        "# Bias study: test accuracy (%) by bias-aligned ratio\n",
        "Cells: mean ± std over evaluation runs (n runs; one run has no ±); — = not produced by this grid. "
        "*trained*: the evaluation protocol of the row (epochs of training on the synthetic set, augmentation).\n",
    ]
    frame = frame[frame["debias"].fillna("none") == "none"].copy() if "debias" in frame else frame.copy()
    frame["family"] = frame["dataset"].map(family_of)
    for (family, severity, arch), group in frame.groupby(["family", "severity", "eval_arch"], dropna=False):
        ratios = sorted(group["ratio"].dropna().unique())
        if not ratios:
            continue
        out.append(f"\n## {family} · severity {severity:g} · evaluated with {arch}\n")
        for ipc, block in sorted(group.groupby(group["ipc"].map(_ipc_text)), key=lambda kv: (kv[0] == "all", kv[0])):
            out.append("\n**Full training set (upper bound)**\n\n" if ipc == "all" else f"\n**IPC {ipc}**\n\n")
            rows = []
            for method in sorted(block["method"].unique(), key=_method_key):
                cells = []
                for ratio in ratios:
                    hit = block[(block["method"] == method) & (block["ratio"] == ratio)]
                    cells.append(fmt_acc(*hit[["acc_mean", "acc_std", "n_runs"]].iloc[0]) if len(hit) else MISSING)
                rows.append([method, protocol_text(block[block["method"] == method])] + cells)
            out.append(markdown_table(["method", "trained"] + [f"ratio {r:g}" for r in ratios], rows))
        rows = []
        for (method, ipc), block in group.groupby(["method", group["ipc"].map(_ipc_text)]):
            cells = []
            for ratio in ratios:
                hit = block[block["ratio"] == ratio]
                if not len(hit):
                    cells.append(MISSING)
                    continue
                aligned, conflicting = hit[["acc_aligned", "acc_conflicting"]].iloc[0]
                cells.append(f"{fmt_acc(aligned)} / {fmt_acc(conflicting)}")
            rows.append([f"{method} (IPC {ipc})"] + cells)
        rows.sort(key=lambda r: _method_key(r[0].split(" ")[0]))
        out.append("\n**Aligned / conflicting test accuracy**\n\n")
        out.append(markdown_table(["method"] + [f"ratio {r:g}" for r in ratios], rows))
    return "".join(out)


PTM_AXES = ("zoo_inits", "zoo_archs", "zoo_epoch", "domain", "clom_alpha")


def ptm_axis(row: pd.Series, centre: dict) -> str:
    """Which axis a CLoM setting varies relative to the centre (``centre`` itself, or ``mixed``)."""
    differing = []
    if (row["clom_distance"], row["zoo_source"]) != (centre["clom_distance"], centre["zoo_source"]):
        differing.append("domain")
    for key in ("zoo_inits", "zoo_archs", "zoo_epoch", "clom_alpha"):
        if row[key] != centre[key]:
            differing.append(key)
    return differing[0] if len(differing) == 1 else ("centre" if not differing else "mixed")


def ptm_markdown(frame: pd.DataFrame, centre: dict | None) -> str:
    """One table per PTM axis for each dataset × method × IPC × eval arch: accuracy and gain over no CLoM.

    ``centre`` holds the table columns of the grid's centre setting (``report.ptm.clom_columns``)."""
    if frame.empty:
        return "# PTM study\n\nNo CLoM metrics yet.\n"
    out = [
        "# PTM study: CLoM settings, one axis at a time\n",
        "Cells: accuracy mean ± std (n runs) and the gain over the same method without CLoM (points).\n",
    ]
    for (dataset, method, ipc, arch), group in frame.groupby(["dataset", "method", "ipc", "eval_arch"]):
        clom = group[group["clom_distance"] != "none"]
        base = group[group["clom_distance"] == "none"]
        if clom.empty or centre is None:
            continue
        out.append(f"\n## {dataset} · {method} IPC {_ipc_text(ipc)} · evaluated with {arch}\n\n")
        base_text = fmt_acc(*base[["acc_mean", "acc_std", "n_runs"]].iloc[0]) if len(base) else MISSING
        out.append(
            f"Without CLoM: {base_text}. Centre setting: {centre['clom_distance']} distance, PTMs from "
            f"{centre['zoo_source']}, pool {centre['zoo_archs']}, {centre['zoo_inits']} init(s), epoch "
            f"{centre['zoo_epoch']}, α {centre['clom_alpha']}.\n"
        )
        axes = clom.apply(lambda r: ptm_axis(r, centre), axis=1)
        labels = {
            "zoo_inits": "PTMs per architecture",
            "zoo_archs": "architecture pool",
            "zoo_epoch": "PTM epoch",
            "domain": "domain (distance, source)",
            "clom_alpha": "α",
        }
        for axis in PTM_AXES:
            members = clom[(axes == axis) | (axes == "centre")]
            if (axes == axis).sum() == 0:
                continue
            rows = []
            for _, row in members.iterrows():
                value = f"{row['clom_distance']}, {row['zoo_source']}" if axis == "domain" else _plain(row[axis])
                gain = "—" if pd.isna(row["gain_vs_no_clom"]) else f"{100 * row['gain_vs_no_clom']:+.2f}"
                rows.append([str(value), fmt_acc(row["acc_mean"], row["acc_std"], row["n_runs"]), gain])
            out.append(f"\n**{labels[axis]}**\n\n")
            out.append(markdown_table([labels[axis], "accuracy (%)", "gain (points)"], rows))
    return "".join(out)


def zoo_markdown(frame: pd.DataFrame) -> str:
    from ddstudy.report.zoo import zoo_groups  # matplotlib only where a zoo table is written

    if frame.empty:
        return "# PTM zoo\n\nNo checkpoints yet.\n"
    out = ["# PTM zoo: accuracy (%) by training epoch, mean ± std over inits (n inits)\n"]
    for dataset, group in frame.groupby("dataset"):
        epochs = sorted(group["epoch"].unique())
        rows = []
        for name, block in zoo_groups(group):
            cells = []
            for epoch in epochs:
                values = block[block["epoch"] == epoch]["test_acc"].dropna()
                cells.append(fmt_acc(values.mean(), values.std(ddof=0), len(values)) if len(values) else MISSING)
            rows.append([name] + cells)
        out.append(f"\n## {dataset} (unbiased test set)\n\n")
        out.append(markdown_table(["arch"] + [f"epoch {e}" for e in epochs], rows))
    return "".join(out)


def write_text(path: str | Path, text: str) -> Path:
    path = Path(path)
    with atomic_file(path, "w") as handle:
        handle.write(text)
    return path
