"""ptm_study.csv and the cross-architecture table from hand-made metrics records."""

import json

import pytest

from ddstudy.report.ptm import PTM_COLUMNS, ptm_tables
from ddstudy.report.records import read_records


def record(set_name, arch, acc, clom=None):
    method, ipc = set_name.split("_")[0], int(set_name.split("_")[1][3:])
    return {
        "cell": f"d/{set_name}",
        "dataset": "d",
        "method": method,
        "ipc": ipc,
        "eval_arch": arch,
        "acc_mean": acc,
        "acc_std": 0.01,
        "n_runs": 2,
        "extra": {"clom": clom} if clom else {},
    }


CE = {
    "distance": "ce",
    "alphas": [1000],
    "zoo_source": "z",
    "archs": ["ConvNet"],
    "inits": 1,
    "epoch": 150,
    "ce_form": "reference",
}


def test_gain_and_cross_arch(tmp_path):
    records = [
        record("dc_ipc10", "ConvNet", 0.40),
        record("dc_ipc10", "AlexNet", 0.30),
        record("dc_ipc10_clom-x", "ConvNet", 0.45, CE),
        record("dc_ipc10_clom-x", "AlexNet", 0.36, CE),
        record("dm_ipc10", "ConvNet", 0.50),  # no CLoM cell for dm: not part of the PTM study
    ]
    paths = []
    for i, r in enumerate(records):
        (tmp_path / f"{i}.json").write_text(json.dumps(r))
        paths.append(tmp_path / f"{i}.json")
    records, problems = read_records(paths)
    frame, cross = ptm_tables(records)
    assert problems == [] and list(frame.columns) == PTM_COLUMNS and len(frame) == 4
    clom = frame[frame.clom_distance == "ce"].set_index("eval_arch")
    assert clom.loc["ConvNet", "gain_vs_no_clom"] == pytest.approx(0.05)
    assert clom.loc["AlexNet", "gain_vs_no_clom"] == pytest.approx(0.06)
    assert clom.loc["ConvNet", "zoo_archs"] == "ConvNet" and clom.loc["ConvNet", "clom_alpha"] == "1000"
    assert set(frame.clom_distance) == {"none", "ce"}
    assert list(cross.set_name) == ["dc_ipc10", "dc_ipc10_clom-x"] and {"AlexNet", "ConvNet"} <= set(cross.columns)


def test_clom_setting_in_words_comes_from_the_record_not_the_name():
    from types import SimpleNamespace

    from ddstudy.report.style import clom_setting_text

    row = SimpleNamespace(clom_distance="ce-paper", zoo_source="d", zoo_inits=2, zoo_archs="ConvNet+LeNet",
                          zoo_epoch=3, clom_alpha="1+10")  # fmt: skip
    text = "CLoM ce (paper form), PTMs trained on this dataset: ConvNet + LeNet, 2 inits, epoch 3, α 1, 10"
    assert clom_setting_text(row, "d") == text
    assert clom_setting_text(SimpleNamespace(clom_distance="none"), "d") == "without CLoM"
