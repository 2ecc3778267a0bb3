"""The reproduction table: published vs ours, the gap in the paper's std, verdicts, wall time from benchmarks."""

import json

import pytest

from ddstudy.errors import DDStudyError
from ddstudy.report.reproduction import PublishedCell, reproduction_frame, reproduction_markdown


def _record(metrics, cell, acc, std, n=10):
    path = metrics / cell / "ConvNet.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset, _, method = cell.partition("/")
    record = {"cell": cell, "dataset": dataset, "method": method.split("_")[0], "eval_arch": "ConvNet"}
    path.write_text(json.dumps(record | {"acc_mean": acc, "acc_std": std, "n_runs": n}))


def _bench(path, wall, cpu):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"s\th:m:s\tmax_rss\tcpu_time\n{wall}\t0:00:00\t100\t{cpu}\n")


PUBLISHED = (
    PublishedCell("clean/dc_ipc1", "DC Tab. 1", value=70.5, std=0.6),
    PublishedCell("fg/random_ipc10", "FairDD Tab. 2", value=32.80),
    PublishedCell(
        "fg/dm_ipc10_fairdd",
        "FairDD",
        value=77.09,
        budget="1,000 of 20,000",
        baseline="fg/dm_ipc10",
        baseline_value=33.35,
    ),  # fmt: skip
    PublishedCell("c95/dm_ipc10", "Biased-DD", budget="smaller", baseline="c10/dm_ipc10", direction="lower"),
    PublishedCell("clean/dsa_ipc1", "DSA Tab. 1", value=70.6, std=0.6),
)


def test_verdicts_gaps_and_wall_time(tmp_path):
    metrics, bench = tmp_path / "evaluations", tmp_path / "benchmarks"
    _record(metrics, "clean/dc_ipc1", 0.699, 0.007, 20)  # −1.0 σ: reproduced
    _record(metrics, "fg/random_ipc10", 0.40, 0.01)  # +7.2 points, 7.2 of our σ: not reproduced
    _record(metrics, "fg/dm_ipc10_fairdd", 0.60, 0.02)
    _record(metrics, "fg/dm_ipc10", 0.35, 0.02)  # FairDD above DM: the paper's direction at a smaller budget
    _record(metrics, "c95/dm_ipc10", 0.50, 0.02)
    _record(metrics, "c10/dm_ipc10", 0.45, 0.02)  # the more biased set scores higher: the claim fails
    _bench(bench / "distill" / "clean" / "dc_ipc1.tsv", 3000, 2900)
    _bench(bench / "evaluate" / "clean" / "dc_ipc1" / "ConvNet.tsv", 600, 590)
    frame = reproduction_frame(PUBLISHED, metrics, bench, "ConvNet").set_index("cell")
    assert frame.loc["clean/dc_ipc1", "verdict"] == "reproduced"
    assert frame.loc["clean/dc_ipc1", "diff_in_std"] == pytest.approx(-1.0)
    assert frame.loc["clean/dc_ipc1", "wall_min"] == 60.0 and frame.loc["clean/dc_ipc1", "cpu_per_wall"] == 0.97
    assert frame.loc["fg/random_ipc10", "verdict"] == "not reproduced"
    assert frame.loc["fg/random_ipc10", "std_from"] == "ours" and frame.loc["fg/random_ipc10", "diff"] == 7.2
    assert frame.loc["fg/dm_ipc10_fairdd", "verdict"] == "trend"
    assert frame.loc["fg/dm_ipc10_fairdd", "direction_ours"] == "higher"
    assert frame.loc["c95/dm_ipc10", "verdict"] == "not reproduced"
    assert frame.loc["clean/dsa_ipc1", "verdict"] == "pending"
    text = reproduction_markdown(frame.reset_index())
    assert "| `clean/dc_ipc1` | DC Tab. 1 | 70.50 ± 0.6 | 69.90 ± 0.70 (20) | -1.00 |" in text
    assert "7.20*" in text and "**pending**" in text and "60.0 min (0.97)" in text


def test_a_comparison_needs_its_direction_and_a_smaller_budget_its_baseline():
    with pytest.raises(DDStudyError, match="give a baseline cell"):
        PublishedCell("a/dm_ipc10", "paper", value=50, budget="smaller")
    with pytest.raises(DDStudyError, match="say the direction"):
        PublishedCell("a/dm_ipc10", "paper", budget="smaller", baseline="b/dm_ipc10")
    with pytest.raises(DDStudyError, match="needs its published value"):
        PublishedCell("a/dm_ipc10", "paper")


def test_a_grid_results_folder_may_hold_the_evaluations_it_reports(tmp_path, monkeypatch):
    """results/repro keeps its evaluations/ and synthetic/ beside the report (the report never writes there); any
    other input inside the results folder is still refused."""
    from ddstudy.outputs import check_output
    from ddstudy.report.study import RESULTS_FOLDER

    monkeypatch.chdir(tmp_path)
    (tmp_path / "results/repro/evaluations").mkdir(parents=True)
    (tmp_path / "results/repro/tables").mkdir()
    check_output("results/repro", RESULTS_FOLDER, {"--metrics-dir": "results/repro/evaluations"})
    with pytest.raises(DDStudyError, match="contains the --metrics-dir"):
        check_output("results/repro", RESULTS_FOLDER, {"--metrics-dir": "results/repro/tables"})
