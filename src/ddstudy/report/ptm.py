"""``results/tables/ptm_study.csv`` (one row per synthetic set × evaluation architecture of the PTM study, with
the gain over the same method without CLoM) and the cross-architecture table (rows: method ± CLoM setting,
columns: evaluation architectures)."""

from __future__ import annotations

import pandas as pd

from ddstudy.report.records import clom_of, debias_of

PTM_COLUMNS = [
    "dataset",
    "method",
    "ipc",
    "clom_distance",
    "clom_alpha",
    "zoo_source",
    "zoo_archs",
    "zoo_inits",
    "zoo_epoch",
    "eval_arch",
    "acc_mean",
    "acc_std",
    "n_runs",
    "gain_vs_no_clom",
    "set_name",
]


def clom_columns(clom: dict) -> dict:
    """The table columns of a CLoM setting (a ClomConfig as a dict)."""
    return {
        "clom_distance": clom["distance"] + ("-paper" if clom.get("ce_form") == "paper" else ""),
        "clom_alpha": "+".join(f"{a:g}" for a in clom["alphas"]),
        "zoo_source": clom["zoo_source"],
        "zoo_archs": "+".join(clom["archs"]),
        "zoo_inits": clom["inits"],
        "zoo_epoch": clom["epoch"],
    }


def _row(record: dict) -> dict:
    clom = clom_of(record)
    row = {key: record.get(key) for key in ("dataset", "method", "ipc", "eval_arch", "acc_mean", "acc_std", "n_runs")}
    row["set_name"] = record["set_name"]
    if clom:
        row |= clom_columns(clom)
    else:
        row |= {
            "clom_distance": "none",
            "clom_alpha": None,
            "zoo_source": None,
            "zoo_archs": None,
            "zoo_inits": None,
            "zoo_epoch": None,
        }
    return row


def ptm_tables(records: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ptm_study rows, cross-architecture pivot) of the loaded records (:mod:`ddstudy.report.records`). Only
    (dataset, method, IPC) groups with CLoM cells."""
    # mitigation sets are not PTM-study baselines (report/debias.py)
    rows = [_row(record) for record in records if debias_of(record) == "none"]
    frame = pd.DataFrame(rows, columns=PTM_COLUMNS)
    if frame.empty:
        return frame, pd.DataFrame()
    with_clom = frame[frame.clom_distance != "none"][["dataset", "method", "ipc"]].drop_duplicates()
    frame = frame.merge(with_clom, on=["dataset", "method", "ipc"])
    base = frame[frame.clom_distance == "none"].set_index(["dataset", "method", "ipc", "eval_arch"])["acc_mean"]
    keys = list(zip(frame.dataset, frame.method, frame.ipc, frame.eval_arch, strict=True))
    frame["gain_vs_no_clom"] = [
        acc - base[key] if key in base.index and acc is not None else None
        for acc, key in zip(frame.acc_mean, keys, strict=True)
    ]
    frame = frame.sort_values(["dataset", "method", "ipc", "set_name", "eval_arch"]).reset_index(drop=True)
    cross = frame.pivot_table(index=["dataset", "method", "ipc", "set_name"], columns="eval_arch", values="acc_mean")
    cross = cross[cross.notna().sum(axis=1) > 1] if cross.shape[1] > 1 else cross.iloc[0:0]
    return frame, cross.reset_index()
