"""Two runs side by side: agreement within one standard deviation of run A."""

import json

import pytest

from ddstudy.errors import DDStudyError
from ddstudy.report.compare import compare_runs, summary


def _write(folder, cell, mean, std, precision):
    path = folder / cell / "ConvNet.json"
    path.parent.mkdir(parents=True)
    record = {"cell": cell, "dataset": cell.split("/")[0], "eval_arch": "ConvNet", "method": "dm", "acc_mean": mean}
    record |= {"acc_std": std, "n_runs": 2}
    path.write_text(json.dumps(record | {"accel": {"compile": False, "precision": precision}}))


def test_compare_runs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _write(a, "x/dm_ipc10", 0.50, 0.02, "fp32")
    _write(b, "x/dm_ipc10", 0.515, 0.01, "bf16")  # 1.5 points off, std 2 points: agrees
    _write(a, "y/dm_ipc10", 0.60, 0.01, "fp32")
    _write(b, "y/dm_ipc10", 0.57, 0.01, "bf16")  # 3 points off, std 1 point: does not
    _write(a, "only-in-a/dm_ipc10", 0.1, 0.0, "fp32")
    frame = compare_runs(a, b)
    assert list(frame["cell"]) == ["x/dm_ipc10", "y/dm_ipc10"]
    assert list(frame["within_std"]) == [True, False]
    text = summary(frame)
    assert "2 cells in both runs (eager fp32 vs eager bf16): 1 within one std" in text
    assert "largest 3.00 points" in text
    with pytest.raises(DDStudyError, match="no metrics JSONs"):
        compare_runs(a, tmp_path / "empty")
