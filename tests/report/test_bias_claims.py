"""Biased-DD's claims table: verdicts computed from bias-study rows, pending where a planned cell is missing."""

import pandas as pd

from ddstudy.report.bias_claims import bias_claims_frame, bias_claims_markdown


def _row(ratio, severity, method, acc, std=0.005, ipc=10):
    dataset = f"mnist-color-r{ratio:g}-s{severity}"
    return {
        "dataset": dataset,
        "ratio": ratio,
        "severity": severity,
        "method": method,
        "ipc": ipc,
        "eval_arch": "ConvNet",
        "debias": "none",
        "acc_mean": acc,
        "acc_std": std,
        "n_runs": 5,
    }


def test_verdicts_per_method_and_claim():
    rows = [
        _row(0.1, 4, "dm", 0.90),
        _row(0.5, 4, "dm", 0.80),
        _row(0.95, 4, "dm", 0.30),
        _row(1.0, 4, "dm", 0.91),  # one higher: still most are lower
        _row(0.95, 1, "dm", 0.60),
        _row(0.1, 4, "random", 0.70),
        _row(0.5, 4, "random", 0.702),  # within spread
        _row(0.95, 4, "random", 0.705),
        _row(1.0, 4, "random", 0.60),
        _row(0.95, 4, "dm", 0.10, ipc=None) | {"debias": "fairdd"},  # mitigation rows are not judged
    ]
    frame = bias_claims_frame(pd.DataFrame(rows))
    by = {(r.claim, r.method): r for r in frame.itertuples()}
    dm = by[("ratio", "dm")]
    assert (dm.comparisons, dm.lower, dm.higher, dm.verdict) == (3, 2, 1, "supported")
    assert round(dm.mean_gap, 1) == round((-10 - 60 + 1) / 3, 1)
    assert by[("ratio", "random")].verdict == "inconclusive"  # two of three within spread
    severity = by[("severity", "dm")]
    assert (severity.comparisons, severity.lower, severity.verdict) == (1, 1, "supported")
    assert "r0.95: s4 vs s1: -30.0 (lower)" in severity.detail
    text = bias_claims_markdown(frame)
    assert "## ratio:" in text and "**supported**" in text and "| mnist-color | dm | 10 |" in text


def test_planned_cells_not_yet_evaluated_are_pending():
    done = [_row(0.1, 4, "dc", 0.5, ipc=1), _row(0.95, 4, "dc", 0.2, ipc=1)]
    planned = pd.DataFrame(done + [_row(0.5, 4, "dc", float("nan"), ipc=1)])
    frame = bias_claims_frame(pd.DataFrame(done), planned)
    (row,) = frame.itertuples()
    assert row.verdict == "pending" and row.comparisons == 1 and "r0.5 s4: pending" in row.detail
    higher = [_row(0.1, 4, "dc", 0.5, ipc=1), _row(0.95, 4, "dc", 0.7, ipc=1), _row(0.5, 4, "dc", 0.6, ipc=1)]
    assert bias_claims_frame(pd.DataFrame(higher)).iloc[0]["verdict"] == "not supported"
