"""Do two runs of a grid agree? Every metrics record present in both, side by side.

Used to decide whether a faster execution path (bf16, compiled) may become a default: a cell agrees when its mean
accuracy in run B lies within one standard deviation (over the N evaluation runs) of run A's mean — the noise of
the evaluation protocol itself. Written as CSV (every cell) and printed as a summary.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ddstudy.errors import DDStudyError
from ddstudy.evaluate.record import METRICS_FILE, read_metrics

KEYS = ("cell", "eval_arch")


def _records(metrics_dir: Path) -> dict[tuple[str, str], dict]:
    records = {}
    for path in sorted(metrics_dir.rglob("*.json")):
        if METRICS_FILE.made(path):  # other JSONs may sit beside the metrics; a broken record is refused
            record = read_metrics(path)
            records[tuple(record[k] for k in KEYS)] = record
    if not records:
        raise DDStudyError(f"{metrics_dir}: no metrics JSONs; run the evaluations first (snakemake evaluations)")
    return records


def compare_runs(metrics_a: str | Path, metrics_b: str | Path) -> pd.DataFrame:
    """One row per (synthetic set × evaluation architecture) in both runs, with ``within_std``: |mean_B − mean_A| ≤
    std_A (a zero std counts as agreement only for equal means)."""
    a, b = _records(Path(metrics_a)), _records(Path(metrics_b))
    rows = []
    for key in sorted(set(a) & set(b)):
        ra, rb = a[key], b[key]
        diff = rb["acc_mean"] - ra["acc_mean"]
        rows.append(
            {
                "cell": key[0],
                "eval_arch": key[1],
                "method": ra["method"],
                "acc_mean_a": ra["acc_mean"],
                "acc_std_a": ra["acc_std"],
                "acc_mean_b": rb["acc_mean"],
                "acc_std_b": rb["acc_std"],
                "difference": diff,
                "within_std": abs(diff) <= ra["acc_std"],
                "accel_a": _describe(ra),
                "accel_b": _describe(rb),
            }
        )
    if not rows:
        raise DDStudyError(f"{metrics_a} and {metrics_b} share no metrics record (cell × arch)")
    return pd.DataFrame(rows)


def _describe(record: dict) -> str:
    accel = record.get("accel") or {}
    return f"{'compiled' if accel.get('compile') else 'eager'} {accel.get('precision', 'fp32')}"


def summary(frame: pd.DataFrame) -> str:
    within = int(frame["within_std"].sum())
    return (
        f"{len(frame)} cells in both runs ({frame['accel_a'].iloc[0]} vs {frame['accel_b'].iloc[0]}): "
        f"{within} within one std of run A, mean |difference| {100 * frame['difference'].abs().mean():.2f} points, "
        f"largest {100 * frame['difference'].abs().max():.2f} points, mean difference "
        f"{100 * frame['difference'].mean():+.2f} points"
    )
