"""``results/tables/bias_study.csv``: one row per (synthetic set × evaluation architecture) of the grid.

Columns ``dataset, bias, ratio, severity, method, ipc, eval_arch, acc_mean, acc_std, n_runs, acc_aligned,
acc_conflicting`` (empty where not defined, e.g. aligned accuracy on an all-conflicting test set), plus the
training set's aligned fraction, the evaluation settings that produced each number and the set's folder name
(``set_name``, under ``synthetic/<dataset>/``); ``debias`` names the
bias-mitigation mode (``none`` for the reference methods; the mitigation sets are tabulated in ``debias.md``).
Synthetic sets made with CLoM belong to the PTM study (``ptm_study.csv``) and are left out here.
"""

from __future__ import annotations

import pandas as pd

from ddstudy.report.records import clom_of, debias_of

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
    "set_name",
]
DERIVED = ("debias", "acc_aligned", "acc_conflicting", "eval_epochs", "eval_augment")
COPIED = [column for column in BIAS_COLUMNS if column not in DERIVED]  # same name in the metrics record


def bias_table(records: list[dict]) -> pd.DataFrame:
    """One row per record of a set made without CLoM (:mod:`ddstudy.report.records` loads them)."""
    rows = []
    for record in records:
        if clom_of(record):
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
    return frame
