"""Bias mitigation and the biased-PTM cross study in ``results/``: ``tables/debias.{csv,md}``,
``tables/ptm_bias.{csv,md}`` and ``figures/debias/``.

Fairness columns of every evaluation (from its metrics JSON): accuracy overall, on bias-aligned and on
bias-conflicting test samples, worst-group accuracy (class × attribute), FairDD's DEO_M and DEO_A, the attribute gap
(aligned − conflicting accuracy) and the **bias amplification**:

    amplification = gap(network trained on the set) − gap(network trained on the full biased training set)

in accuracy points, with both gaps measured on the same test set with the same evaluation architecture. It says how
much more a network trained on the synthetic set relies on the attribute than one trained on all of the biased data
(> 0: distillation amplified the bias; < 0: the set relies on it less than the data it came from). Sets of a
dataset without a ``full`` evaluation have no amplification (—).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ddstudy.debias import DEBIAS, DEBIAS_MODES
from ddstudy.report.bias_table import SET_COLUMNS
from ddstudy.report.records import (
    PREREQUISITE_COLUMNS,
    TIME_COLUMNS,
    cell_time_columns,
    clom_of,
    debias_of,
    mode_of,
    wall_label,
)
from ddstudy.report.tables import MISSING, _method_key, family_of, fmt_acc, markdown_table

FAIRNESS_COLUMNS = [
    *SET_COLUMNS,
    "clom_source",
    "eval_arch",
    "n_runs",
    "acc_mean",
    "acc_std",
    "acc_aligned",
    "acc_conflicting",
    "acc_conflicting_std",
    "worst_group_acc",
    "deo_m",
    "deo_a",
    "suff_m",
    "suff_a",
    "attribute_gap",
    "bias_amplification",
    *TIME_COLUMNS,
    *PREREQUISITE_COLUMNS,
    "set_name",
]
DEBIAS_ORDER = DEBIAS_MODES  # the registry's order
# Line style and marker per mode (the method keeps its colour): a mode at a single ratio is still told apart.
DEBIAS_STYLE = {name: mode.style for name, mode in DEBIAS.items()}


def debias_order(labels) -> list[str]:
    """The mitigations present (:func:`ddstudy.report.records.debias_of` labels) in the registry's order of their
    modes; a mode's default setting before its other kernels (``kde``, ``kde-h0.2``)."""
    return sorted(set(labels), key=lambda label: (DEBIAS_ORDER.index(mode_of(label)), label != mode_of(label), label))


def _row(record: dict) -> dict:
    clom = clom_of(record)
    return {
        **{key: record.get(key) for key in ("dataset", "bias", "ratio", "severity", "method", "ipc", "eval_arch")},
        "n_runs": record.get("n_runs"),
        "debias": debias_of(record),
        "clom_source": clom["zoo_source"] if clom else None,
        "acc_mean": record.get("acc_mean"),
        "acc_std": record.get("acc_std"),
        "acc_aligned": record.get("acc_aligned_mean"),
        "acc_conflicting": record.get("acc_conflicting_mean"),
        "acc_conflicting_std": record.get("acc_conflicting_std"),
        "worst_group_acc": record.get("worst_group_acc_mean"),
        "deo_m": record.get("deo_m_mean"),
        "deo_a": record.get("deo_a_mean"),
        "suff_m": record.get("suff_m_mean"),
        "suff_a": record.get("suff_a_mean"),
        "attribute_gap": record.get("attribute_gap_mean"),
        "set_name": record["set_name"],
    }


def fairness_frame(
    records: list[dict],
    benchmarks_dir: str | Path | None = None,
    synthetic_dir: str | Path | None = None,
    prerequisites: Mapping[str, list[tuple[str, str]]] | None = None,
) -> pd.DataFrame:
    """Every evaluation of a biased set with its fairness columns and bias amplification (see module doc); with
    ``benchmarks_dir``, the wall and CPU time each cell cost and, from ``prerequisites`` (cell name →
    Cell.prerequisites), the time of the PTMs and KDE weights it reads
    (:func:`ddstudy.report.records.cell_time_columns`)."""
    rows = []
    for record in records:
        if record.get("bias") in (None, "none"):
            continue
        row = _row(record)
        if benchmarks_dir:
            row |= cell_time_columns(benchmarks_dir, record["cell"], record["eval_arch"], synthetic_dir, prerequisites)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=FAIRNESS_COLUMNS)
    if frame.empty:
        return frame
    full = frame[frame["method"] == "full"].set_index(["dataset", "eval_arch"])["attribute_gap"]
    keys = list(zip(frame["dataset"], frame["eval_arch"], strict=True))
    frame["bias_amplification"] = [
        gap - full[key] if key in full.index and pd.notna(gap) and pd.notna(full[key]) else None
        for gap, key in zip(frame["attribute_gap"], keys, strict=True)
    ]
    frame = frame.sort_values(["dataset", "method", "ipc", "debias", "set_name", "eval_arch"], na_position="last")
    return frame.reset_index(drop=True)


def debias_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the mitigation table: in each family × severity × evaluation architecture with a mitigation set, the
    sets without CLoM of the methods (and IPCs) mitigated there — with their plain sets at every ratio, the
    unmitigated curve."""
    plain = frame[frame["clom_source"].isna()].assign(family=frame["dataset"].map(family_of))
    keys = ["family", "severity", "eval_arch", "method", "ipc"]
    mitigated = plain.loc[plain["debias"] != "none", keys].drop_duplicates()
    return plain.merge(mitigated, on=keys).drop(columns="family")


def _cell(hit: pd.DataFrame) -> str:
    if not len(hit):
        return MISSING
    row = hit.iloc[0]
    return f"{fmt_acc(row.acc_mean)} / {fmt_acc(row.acc_conflicting)} / {fmt_acc(row.worst_group_acc)}"


def _wall(hit: pd.DataFrame) -> str:
    """Distillation + evaluation wall here (min) and CPU-seconds per wall-second; ≥ where a job's earlier
    segments went unrecorded; the prerequisites' wall after it."""
    return (wall_label(hit.iloc[0], unit="") if len(hit) else None) or MISSING


def _points(value) -> str:
    return f"{100 * value:.1f}" if pd.notna(value) else MISSING


def _gaps(hit: pd.DataFrame) -> str:
    """EO gap max / mean (= DEO_M / DEO_A) · sufficiency gap max / mean, as FairDD and COBRA report them."""
    if not len(hit):
        return MISSING
    row = hit.iloc[0]
    return f"{_points(row.deo_m)} / {_points(row.deo_a)} · {_points(row.suff_m)} / {_points(row.suff_a)}"


def _method_blocks(group: pd.DataFrame):
    """([method IPC n, debias] label, its rows) per method × IPC × debias of a block, methods in the report's order
    and modes in the registry's."""
    keys = group[["method", "ipc", "debias"]].drop_duplicates()
    order = debias_order(keys["debias"])
    keys = sorted(keys.itertuples(index=False), key=lambda k: (_method_key(k.method), k.ipc, order.index(k.debias)))
    for method, ipc, debias in keys:
        block = group[(group["method"] == method) & (group["ipc"] == ipc) & (group["debias"] == debias)]
        yield [f"{method} IPC {int(ipc)}", debias], block


def _amplification(hit: pd.DataFrame) -> str:
    value = hit["bias_amplification"].iloc[0] if len(hit) else None
    return f"{100 * value:+.1f}" if pd.notna(value) else MISSING


def _one_setting_table(group: pd.DataFrame) -> str:
    """A block at one ratio: a row per method × debias, a column per measure (the wall where any row is timed)."""
    timed = group["wall_min"].notna().any()
    rows = []
    for label, block in _method_blocks(group):
        row = block.iloc[0]
        rows.append(
            label
            + [
                fmt_acc(row.acc_mean, row.acc_std, row.n_runs),
                fmt_acc(row.acc_conflicting),
                fmt_acc(row.worst_group_acc),
                f"{_points(row.deo_m)} / {_points(row.deo_a)}",
                f"{_points(row.suff_m)} / {_points(row.suff_a)}",
                _amplification(block),
            ]
            + ([_wall(block)] if timed else [])
        )
    header = ["method", "debias", "accuracy (n)", "conflicting", "worst group", "EO gap max / mean",
              "sufficiency gap max / mean", "amplification (points)"]  # fmt: skip
    return markdown_table(header + (["wall here (min; CPU/wall)"] if timed else []), rows)


def debias_markdown(frame: pd.DataFrame) -> str:
    """Per family × severity × eval arch, rows method × debias: at several aligned ratios a column per ratio, cells
    overall / conflicting / worst-group accuracy (%), then tables of the bias amplification, the fairness gaps and
    (where timed) the wall time; at one ratio (a comparison at one setting, the repro grid's) one table with a column
    per measure, the way the fair-DD papers print theirs."""
    rows_frame = debias_rows(frame)
    out = [
        "# Bias mitigation during distillation\n",
        "Accuracy on the unbiased test set overall (± std over the evaluation runs, n), on bias-conflicting samples "
        "and of the worst group (class × attribute), in %, means over the runs (a block with several aligned ratios: "
        "overall / conflicting / worst group in one cell per ratio); — = not produced by this grid. *none* is the "
        "method as published; *fairdd* "
        "matches each attribute group of a class (FairDD), *kde* weights real samples by inverse embedding density "
        "(Cui et al. 2024; *kde-h…*, *kde-b…*: another kernel bandwidth or exponent β than the median bandwidth and "
        "β = 1), *oracle* weights them group-balanced from the true attributes, *cobra* matches the uniform barycenter "
        "of the groups once (COBRA; DM with an L1 distance and a warm-started embedding network) "
        "(ddstudy.debias); for "
        "MTT, which matches expert trajectories rather than real batches, each mode trains its experts with that "
        "weighting of the cross-entropy (FairDD: equal share per attribute group of each batch). "
        "Bias amplification: (aligned − conflicting accuracy) of the set minus that of the full biased training set, "
        "in points. Fairness gaps as FairDD and COBRA report them: the Equalized-Odds gap (per class, the spread over "
        "groups of the true-positive rate; its max and mean over classes are DEO_M and DEO_A) and the sufficiency gap "
        "(per predicted class, the spread over groups of the precision; max and mean over classes). Wall: what the "
        "cell cost here, its distillation and evaluation jobs summed over every segment they ran in, in minutes, "
        "with CPU-seconds per wall-second (≥: a job resumed without a record of its earlier segments); '+ … "
        "prerequisites': the jobs whose artifacts it reads (the KDE PTM and weights; shared by the cells that read "
        "them, so never added to a cell's own wall), 'untimed' where they ran before ddstudy timed them.\n",
    ]
    if rows_frame.empty:
        return "".join(out) + "\nNo mitigation sets in this grid.\n"
    rows_frame = rows_frame.assign(family=rows_frame["dataset"].map(family_of))
    for (family, severity, arch), group in rows_frame.groupby(["family", "severity", "eval_arch"]):
        ratios = sorted(group["ratio"].dropna().unique())
        if len(ratios) == 1:
            out.append(f"\n## {family} · ratio {ratios[0]:g} · severity {severity:g} · evaluated with {arch}\n\n")
            out.append(_one_setting_table(group))
            continue
        out.append(f"\n## {family} · severity {severity:g} · evaluated with {arch}\n\n")
        table, amplification, gaps, walls = [], [], [], []
        for label, block in _method_blocks(group):
            table.append(label + [_cell(block[block["ratio"] == r]) for r in ratios])
            amplification.append(label + [_amplification(block[block["ratio"] == r]) for r in ratios])
            gaps.append(label + [_gaps(block[block["ratio"] == r]) for r in ratios])
            walls.append(label + [_wall(block[block["ratio"] == r]) for r in ratios])
        header = ["method", "debias"] + [f"ratio {r:g}" for r in ratios]
        out.append(markdown_table(header, table))
        out.append("\n**Bias amplification (points)**\n\n")
        out.append(markdown_table(header, amplification))
        out.append("\n**Fairness gaps (points): EO max / mean · sufficiency max / mean**\n\n")
        out.append(markdown_table(header, gaps))
        if group["wall_min"].notna().any():
            out.append("\n**Wall here (min, distillation + evaluation; CPU-s per wall-s)**\n\n")
            out.append(markdown_table(header, walls))
    return "".join(out)


def ptm_bias_frame(frame: pd.DataFrame, pairs: list[tuple[str, str]], cells: set[str]) -> pd.DataFrame:
    """The cross study's rows (its ``cells``, ``<dataset>/<set>``): for each (biased, unbiased) pair, both datasets
    distilled without CLoM and with CLoM from each one's PTMs; columns ``target`` and ``ptm`` say which is which."""
    rows = []
    frame = frame[(frame["dataset"] + "/" + frame["set_name"]).isin(cells)]
    for biased, unbiased in pairs:
        role = {biased: "biased", unbiased: "unbiased"}
        block = frame[frame["dataset"].isin(role)]
        for row in block.itertuples(index=False):
            rows.append(
                row._asdict()
                | {
                    "pair": f"{biased} / {unbiased}",
                    "target": role[row.dataset],
                    "ptm": "no CLoM" if pd.isna(row.clom_source) else f"{role[row.clom_source]} PTMs",
                }
            )
    return pd.DataFrame(rows, columns=["pair", "target", "ptm", *FAIRNESS_COLUMNS])


def ptm_bias_markdown(cross: pd.DataFrame) -> str:
    out = [
        "# Do PTMs carry bias into CLoM?\n",
        "Each pair's biased set and its unbiased counterpart distilled without CLoM and with CLoM from the PTMs "
        "trained on each. Cells: aligned / conflicting test accuracy (%), attribute gap and bias amplification "
        "(points; vs the full biased training set of the target).\n",
    ]
    if cross.empty:
        return "".join(out) + "\nNo cross-study sets in this grid.\n"
    for (pair, method, ipc, arch), group in cross.groupby(["pair", "method", "ipc", "eval_arch"]):
        out.append(f"\n## {pair} · {method} IPC {int(ipc)} · evaluated with {arch}\n\n")
        rows = []
        for row in sorted(group.itertuples(index=False), key=lambda r: (r.target, r.ptm != "no CLoM", r.ptm)):
            amp = f"{100 * row.bias_amplification:+.1f}" if pd.notna(row.bias_amplification) else MISSING
            gap = f"{100 * row.attribute_gap:.1f}" if pd.notna(row.attribute_gap) else MISSING
            rows.append(
                [f"{row.target} ({row.dataset})", row.ptm, fmt_acc(row.acc_mean, row.acc_std, row.n_runs),
                 f"{fmt_acc(row.acc_aligned)} / {fmt_acc(row.acc_conflicting)}", gap, amp]
            )  # fmt: skip
        out.append(
            markdown_table(
                ["distilled set", "guidance", "accuracy", "aligned / conflicting", "gap", "amplification"], rows
            )
        )
    return "".join(out)
