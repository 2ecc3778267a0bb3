"""``results/tables/bias_study.csv``: one row per (synthetic set × evaluation architecture) of the grid.

Columns ``dataset, bias, ratio, severity, method, ipc, eval_arch, acc_mean, acc_std, n_runs, acc_aligned,
acc_conflicting`` (empty where not defined, e.g. aligned accuracy on an all-conflicting test set), plus the
training set's aligned fraction and the evaluation settings that produced each number; ``debias`` names the
bias-mitigation mode (``none`` for the reference methods; the mitigation sets are tabulated in ``debias.md``).
Synthetic sets made with CLoM belong to the PTM study (``ptm_study.csv``) and are left out here.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ddstudy.errors import DDStudyError
from ddstudy.evaluate.record import read_metrics

# What identifies a set in every study table: its dataset variant and how it was made.
SET_COLUMNS = ["dataset", "bias", "ratio", "severity", "method", "ipc", "debias"]
BIAS_COLUMNS = [
    *SET_COLUMNS,
    "eval_arch",
    "acc_mean",
    "acc_std",
    "n_runs",
    "acc_aligned",
    "acc_conflicting",
    "train_aligned_fraction",
    "distill_model",
    "eval_epochs",
    "eval_augment",
]
DERIVED = ("debias", "acc_aligned", "acc_conflicting", "eval_epochs", "eval_augment")
COPIED = [column for column in BIAS_COLUMNS if column not in DERIVED]  # same name in the metrics record


def debias_of(record: dict) -> str:
    """The bias-mitigation mode a metrics record's set was distilled with (``none`` for sets without one)."""
    return (record.get("distill_config") or {}).get("debias") or "none"


def metrics_path(metrics_dir: str | Path, cell_name: str, arch: str) -> Path:
    return Path(metrics_dir) / cell_name / f"{arch}.json"


def metrics_paths(study, metrics_dir: str | Path) -> list[Path]:
    return [metrics_path(metrics_dir, cell, arch) for cell, arch in study.evaluations]


def refuse_empty(empty: bool, problems: list, study, metrics_dir) -> None:
    """A report with no row at all is a failed run, not a result: one line (not a warning per cell), before any
    table is written."""
    if empty:
        raise DDStudyError(
            f"no metrics of grid '{study.grid}' under {metrics_dir}/ ({len(problems)} missing or unreadable); "
            "run the evaluations first (snakemake evaluations)"
        )


def bias_table(paths: list[Path]) -> tuple[pd.DataFrame, list[str]]:
    """Rows from metrics JSONs; a missing or malformed file is reported by path (and left out), never crashes."""
    rows, problems = [], []
    for path in paths:
        try:
            record = read_metrics(path)
        except DDStudyError as err:
            problems.append(str(err))
            continue
        if (record.get("extra") or {}).get("clom"):
            continue
        rows.append(
            {key: record.get(key) for key in COPIED}
            | {
                "debias": debias_of(record),
                "acc_aligned": record.get("acc_aligned_mean"),
                "acc_conflicting": record.get("acc_conflicting_mean"),
                "eval_epochs": (record.get("eval_config") or {}).get("epochs"),
                "eval_augment": (record.get("eval_config") or {}).get("augment"),
            }
        )
    frame = pd.DataFrame(rows, columns=BIAS_COLUMNS)
    if len(frame):
        frame = frame.sort_values(["dataset", "method", "ipc", "debias", "eval_arch"], na_position="last")
        frame = frame.reset_index(drop=True)
    return frame, problems
