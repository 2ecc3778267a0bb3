"""bias_study.csv from hand-made metrics records."""

import json

import pytest

from ddstudy.report.bias_table import BIAS_COLUMNS, bias_table
from ddstudy.report.records import read_records


def record(method, ipc, acc, aligned=None):
    return {
        "cell": f"d/{method}_ipc{ipc}",
        "dataset": "d",
        "bias": "color",
        "ratio": 0.5,
        "severity": 4,
        "method": method,
        "ipc": ipc,
        "eval_arch": "ConvNet",
        "acc_mean": acc,
        "acc_std": 0.01,
        "n_runs": 3,
        "acc_aligned_mean": aligned,
        "acc_conflicting_mean": acc,
        "train_aligned_fraction": 0.5,
        "distill_model": "ConvNet",
        "eval_config": {"epochs": 300, "augment": "none"},
    }


def test_rows_columns_and_missing_values(tmp_path):
    paths = []
    for name, content in (("a.json", record("dm", 10, 0.5, 0.9)), ("b.json", record("dc", 1, 0.3))):
        (tmp_path / name).write_text(json.dumps(content))
        paths.append(tmp_path / name)
    records, problems = read_records(paths)
    frame = bias_table(records)
    assert problems == [] and list(frame.columns) == BIAS_COLUMNS
    assert frame["method"].tolist() == ["dc", "dm"]
    assert frame.loc[frame.method == "dm", "acc_aligned"].item() == pytest.approx(0.9)
    assert frame.loc[frame.method == "dc", "acc_aligned"].isna().item()


def test_bad_files_are_reported_by_path(tmp_path):
    (tmp_path / "ok.json").write_text(json.dumps(record("dc", 1, 0.3)))
    (tmp_path / "broken.json").write_text("{nope")
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    records, problems = read_records(
        [tmp_path / "ok.json", tmp_path / "broken.json", tmp_path / "other.json", tmp_path / "missing.json"]
    )
    frame = bias_table(records)
    assert len(frame) == 1 and len(problems) == 3
    assert any("broken.json" in p for p in problems) and any("other.json: not a metrics record" in p for p in problems)
    assert any("missing.json" in p for p in problems)


def test_clom_records_belong_to_the_ptm_study(tmp_path):
    with_clom = record("dm", 10, 0.6) | {"extra": {"clom": {"distance": "ce"}}}
    (tmp_path / "a.json").write_text(json.dumps(with_clom))
    (tmp_path / "b.json").write_text(json.dumps(record("dm", 10, 0.5)))
    records, problems = read_records([tmp_path / "a.json", tmp_path / "b.json"])
    frame = bias_table(records)
    assert problems == [] and frame["acc_mean"].tolist() == [0.5]
