"""``ddstudy report``: every table, figure and index of ``results/`` for the active grid, from the metrics JSONs.

Reads only artifacts (metrics, zoo index, synthetic sets) and regenerates everything it owns on each run:
``tables/*.md`` next to the CSVs, ``figures/{bias,ptm,synthetic}/``, ``metrics.json`` (for ``dvc metrics``) and
``README.md`` — an index of what exists, one line per file, with the grid and run counts. Missing cells stay
missing; a metrics file with a wrong schema is reported by path and left out.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ddstudy.io import prune_stale, write_csv, write_json
from ddstudy.report import figures
from ddstudy.report.bias import bias_table, metrics_paths
from ddstudy.report.debias import debias_markdown, debias_rows, fairness_frame, ptm_bias_frame, ptm_bias_markdown
from ddstudy.report.ptm import clom_columns, ptm_tables
from ddstudy.report.tables import bias_markdown, family_of, ptm_markdown, write_text, zoo_markdown
from ddstudy.report.zoo import zoo_groups

FIGURE_DIRS = ("bias", "ptm", "synthetic", "debias")


def write_figures(
    bias: pd.DataFrame, ptm: pd.DataFrame, cross: pd.DataFrame, centre: dict | None, results: Path, synthetic_dir: Path
) -> list[Path]:
    written: list[Path] = []
    bias = bias.assign(family=bias["dataset"].map(family_of))
    biased = bias.dropna(subset=["ratio"])
    for (family, severity, arch), group in biased.groupby(["family", "severity", "eval_arch"]):
        stem = f"{family}-s{severity:g}-{arch}"
        title = f"{family}, severity {severity:g}, evaluated with {arch}"
        written.append(
            figures.plot_acc_by_ratio(
                group,
                results / "figures/bias" / f"{stem}-acc-by-ratio.png",
                f"Test accuracy vs bias-aligned ratio — {title}",
            )
        )
        if group["acc_aligned"].notna().any():
            written.append(
                figures.plot_aligned_conflicting(
                    group,
                    results / "figures/bias" / f"{stem}-aligned-vs-conflicting.png",
                    f"Aligned vs conflicting test accuracy — {title}",
                )
            )
    for (family, method, ipc, arch), group in biased.groupby(
        ["family", "method", biased["ipc"].fillna(0), "eval_arch"]
    ):
        if group["severity"].nunique() > 1 and group["ratio"].nunique() > 1:
            ipc_text = f"ipc{int(ipc)}" if ipc else "all"
            written.append(
                figures.plot_ratio_severity_heatmap(
                    group,
                    results / "figures/bias" / f"{family}-{method}-{ipc_text}-{arch}-heatmap.png",
                    f"{method} {ipc_text} on {family} ({arch}): accuracy (%) by ratio × severity",
                )
            )
    if not ptm.empty and centre is not None:
        for (dataset, method, ipc, arch), group in ptm.groupby(["dataset", "method", "ipc", "eval_arch"]):
            if (group["clom_distance"] != "none").any():
                written.append(
                    figures.plot_clom_gains(
                        group,
                        centre,
                        results / "figures/ptm" / f"{dataset}-{method}-ipc{int(ipc)}-{arch}-clom-gain.png",
                        f"CLoM gain by PTM option — {method} IPC {int(ipc)} on {dataset} ({arch})",
                    )
                )
    if not cross.empty:
        for (dataset, method, ipc), group in cross.groupby(["dataset", "method", "ipc"]):
            written.append(
                figures.plot_cross_arch(
                    group.dropna(axis=1, how="all"),
                    results / "figures/ptm" / f"{dataset}-{method}-ipc{int(ipc)}-cross-arch.png",
                    f"Cross-architecture accuracy — {method} IPC {int(ipc)} ± CLoM on {dataset}",
                )
            )
    for (family, severity), group in biased.groupby(["family", "severity"]):
        sets = {}
        for row in group.drop_duplicates(["dataset", "method", "ipc"]).itertuples():
            if row.method in figures.DISTILLED:
                folder = synthetic_dir / row.dataset / f"{row.method}_ipc{int(row.ipc)}"
                if (folder / "synthetic.npz").is_file():
                    sets[(f"{row.method} IPC {int(row.ipc)}", row.ratio)] = folder
        if sets:
            written.append(
                figures.plot_synthetic_overview(
                    sets,
                    results / "figures/synthetic" / f"{family}-s{severity:g}-synthetic.png",
                    f"Synthetic images (first per class) by method × ratio — {family}, severity {severity:g}",
                )
            )
    return written


def write_debias_figures(frame: pd.DataFrame, results: Path) -> list[Path]:
    """Conflicting accuracy vs ratio with and without mitigation, per family × severity × eval arch."""
    written = []
    frame = frame.assign(family=frame["dataset"].map(family_of))
    for (family, severity, arch), group in frame.groupby(["family", "severity", "eval_arch"]):
        written.append(
            figures.plot_conflicting_by_ratio(
                group,
                results / "figures/debias" / f"{family}-s{severity:g}-{arch}-conflicting-by-ratio.png",
                f"Bias-conflicting accuracy with and without mitigation — {family}, severity {severity:g}, {arch}",
            )
        )
    return written


def aggregate_metrics(grid: str, bias: pd.DataFrame, ptm: pd.DataFrame, zoo: pd.DataFrame | None) -> dict:
    """Flat numbers for ``dvc metrics show/diff``: accuracy per cell × architecture, final PTM accuracies."""
    out: dict = {"grid": grid, "bias_study": {}, "ptm_study": {}, "zoo": {}}
    for row in bias.itertuples():
        name = f"{row.method}_ipc{int(row.ipc)}" if not pd.isna(row.ipc) else row.method
        out["bias_study"][f"{row.dataset}/{name}/{row.eval_arch}"] = {
            "acc_mean": row.acc_mean,
            "acc_std": row.acc_std,
            "n_runs": int(row.n_runs),
        }
    for row in ptm.itertuples():
        out["ptm_study"][f"{row.dataset}/{row.set_name}/{row.eval_arch}"] = {
            "acc_mean": row.acc_mean,
            "gain_vs_no_clom": row.gain_vs_no_clom,
        }
    if zoo is not None and not zoo.empty:
        for dataset, checkpoints in zoo.groupby("dataset"):
            for name, group in zoo_groups(checkpoints):
                last = group[group["epoch"] == group["epoch"].max()]
                out["zoo"][f"{dataset}/{name}"] = {
                    "test_acc_mean": float(last["test_acc"].mean()),
                    "epoch": int(last["epoch"].max()),
                    "n_inits": int(len(last)),
                }
    return out


DESCRIPTIONS = [
    (r"tables/bias_study\.csv$", "every synthetic set × evaluation architecture of the bias study (one row each)"),
    (r"tables/bias_study\.md$", "bias study: accuracy by ratio per method and IPC; aligned / conflicting table"),
    (r"tables/ptm_study\.csv$", "PTM study rows with CLoM settings and the gain over no CLoM"),
    (r"tables/ptm_study\.md$", "PTM study: one table per PTM axis (inits, pool, epoch, domain, α)"),
    (r"tables/ptm_cross_arch\.csv$", "cross-architecture accuracy of each set (method ± CLoM) by evaluation arch"),
    (r"tables/zoo\.csv$", "every PTM checkpoint: train and test accuracy by epoch"),
    (r"tables/zoo\.md$", "PTM test accuracy by epoch, mean ± std over inits"),
    (r"figures/datasets/.*-by-ratio\.png$", "training samples by bias-aligned ratio (rows = classes)"),
    (r"figures/datasets/.*-by-severity\.png$", "each class with its bias-aligned attribute at severities 1–4"),
    (r"figures/zoo/.*\.png$", "PTM accuracy by training epoch, mean ± std over inits"),
    (r"figures/bias/.*-acc-by-ratio\.png$", "test accuracy vs bias-aligned ratio per method (panel per IPC)"),
    (r"figures/bias/.*-aligned-vs-conflicting\.png$", "accuracy on aligned vs conflicting test samples by ratio"),
    (r"figures/bias/.*-heatmap\.png$", "accuracy over ratio × severity for one method"),
    (r"figures/ptm/.*-clom-gain\.png$", "CLoM gain over no CLoM for each PTM option (one panel per axis)"),
    (r"figures/ptm/.*-cross-arch\.png$", "cross-architecture accuracy, method ± CLoM"),
    (r"figures/synthetic/.*\.png$", "synthetic images (first per class) by method × ratio"),
    (
        r"tables/debias\.csv$",
        "every evaluation of a biased set with fairness columns (worst group, DEO_M/A, amplification)",
    ),
    (
        r"tables/debias\.md$",
        "bias mitigation: method × debias mode by ratio (overall / conflicting / DEO_A), amplification",
    ),
    (
        r"tables/ptm_bias\.(csv|md)$",
        "cross study: biased vs unbiased sets distilled with CLoM from biased / unbiased PTMs",
    ),
    (
        r"figures/debias/.*-conflicting-by-ratio\.png$",
        "conflicting accuracy vs aligned ratio, with and without mitigation",
    ),
    (r"figures/debias/.*-amplification\.png$", "cross study: bias amplification per distilled set and PTM source"),
    (r"metrics\.json$", "aggregated numbers for `dvc metrics show` / `dvc metrics diff`"),
]


def describe(relative: str) -> str:
    for pattern, text in DESCRIPTIONS:
        if re.search(pattern, relative):
            return text
    return "(generated file)"


def write_index(results: Path, study, counts: dict) -> Path:
    files = sorted(
        p.relative_to(results).as_posix()
        for p in results.rglob("*")
        if p.is_file() and p.name != "README.md" and not p.name.startswith(".") and p.suffix != ".html"
    )
    lines = [
        "# Results",
        "",
        f"Generated by `ddstudy report` for grid **{study.grid}** ({study.description or 'no description'}) from "
        "params.yaml; regenerate with `make demo` or `snakemake --cores N`. Every number is a mean over the "
        "evaluation runs stated beside it; combinations the grid did not produce are shown as —, never filled in.",
        "",
        f"Runs behind the tables: {counts['bias_rows']} bias-study evaluations ({counts['bias_runs']} trained "
        f"networks), {counts['ptm_rows']} PTM-study evaluations, {counts['zoo_rows']} PTM checkpoints.",
        "",
        "| file | what it shows |",
        "|---|---|",
    ]
    lines += [f"| [{f}]({f}) | {describe(f)} |" for f in files]
    missing = counts.get("problems", [])
    if missing:
        lines += ["", "Metrics left out (missing or malformed):", ""] + [f"- {p}" for p in missing]
    return write_text(results / "README.md", "\n".join(lines) + "\n")


def write_report(
    study,
    results_dir: str | Path = "results",
    metrics_dir: str | Path = "metrics",
    synthetic_dir: str | Path = "synthetic",
) -> tuple[list[Path], list[str]]:
    """Regenerate the report for ``study``; returns (files written, problems found in the metrics)."""
    results = Path(results_dir)
    paths = metrics_paths(study, metrics_dir)
    bias, problems = bias_table(paths)
    ptm, cross, ptm_problems = ptm_tables(paths)
    problems += [p for p in ptm_problems if p not in problems]
    zoo_csv = results / "tables" / "zoo.csv"
    zoo = pd.read_csv(zoo_csv) if zoo_csv.is_file() else None
    centre = clom_columns(vars(study.clom_centre)) if study.clom_centre is not None else None
    # The CSVs belong to the bias_table / ptm_table jobs; the report adds their Markdown views.
    written = [write_text(results / "tables" / "bias_study.md", bias_markdown(bias))]
    if any(c.clom for c in study.cells):
        written.append(write_text(results / "tables" / "ptm_study.md", ptm_markdown(ptm, centre)))
    if zoo is not None:
        written.append(write_text(results / "tables" / "zoo.md", zoo_markdown(zoo)))
    plain = bias[bias["debias"].fillna("none") == "none"] if len(bias) else bias
    figures_written = write_figures(plain, ptm, cross, centre, results, Path(synthetic_dir))
    fairness, fairness_problems = fairness_frame(paths)
    problems += [p for p in fairness_problems if p not in problems]
    if study.has_debias:
        written.append(write_csv(fairness, results / "tables" / "debias.csv"))
        written.append(write_text(results / "tables" / "debias.md", debias_markdown(fairness)))
        figures_written += write_debias_figures(debias_rows(fairness), results)
    if study.ptm_bias_pairs:
        transfer = ptm_bias_frame(fairness, list(study.ptm_bias_pairs), set(study.ptm_bias_cells))
        written.append(write_csv(transfer, results / "tables" / "ptm_bias.csv"))
        written.append(write_text(results / "tables" / "ptm_bias.md", ptm_bias_markdown(transfer)))
        for (pair, method, ipc, arch), group in transfer.groupby(["pair", "method", "ipc", "eval_arch"]):
            stem = f"{pair.split(' / ')[0]}-{method}-ipc{int(ipc)}-{arch}"
            figures_written.append(
                figures.plot_bias_amplification(
                    group,
                    results / "figures/debias" / f"{stem}-ptm-bias-amplification.png",
                    f"Do PTMs carry bias into CLoM? — {method} IPC {int(ipc)} ({arch}), {pair}",
                )
            )
    for folder in FIGURE_DIRS:  # always present (Snakemake declares them), possibly empty for a small grid
        (results / "figures" / folder).mkdir(parents=True, exist_ok=True)
        prune_stale(results / "figures" / folder, "*.png", figures_written)
    written += figures_written
    metrics = aggregate_metrics(study.grid, plain, ptm, zoo)
    if len(fairness):
        metrics["fairness"] = {
            f"{row.dataset}/{row.set_name}/{row.eval_arch}": {
                key: getattr(row, key)
                for key in ("acc_conflicting", "worst_group_acc", "deo_a", "bias_amplification")
                if pd.notna(getattr(row, key))
            }
            for row in fairness.itertuples()
        }
    write_json(results / "metrics.json", metrics)
    written.append(results / "metrics.json")
    counts = {
        "bias_rows": len(bias),
        "bias_runs": int(bias["n_runs"].sum()) if len(bias) else 0,
        "ptm_rows": int((ptm["clom_distance"] != "none").sum()) if len(ptm) else 0,
        "zoo_rows": 0 if zoo is None else len(zoo),
        "problems": problems,
    }
    written.append(write_index(results, study, counts))
    return written, problems
