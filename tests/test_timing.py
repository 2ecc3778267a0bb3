"""The timing of resumable jobs (ddstudy.timing) and the cell times the reports read (report.records.cell_time)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from ddstudy.report.records import CellTime, cell_time, prerequisite_columns, wall_label
from ddstudy.timing import TIMING_RECORD, Segments, read_timing, timing_file, write_timing
from ddstudy.zoo.store import zoo_timing_file

BENCHMARK_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def test_segments_carry_over_a_resume_and_a_state_without_them_is_a_lower_bound(tmp_path):
    first = Segments("iterations")
    saved = first.upto(40)  # what the resume state holds at its checkpoint
    second = Segments("iterations")
    second.resumed(saved, 40)
    record = second.record(100)
    assert [(s["from"], s["to"]) for s in record["segments"]] == [(0, 40), (40, 100)]
    assert record["complete"] and record["done"] == 100
    assert record["wall_s"] == pytest.approx(sum(s["wall_s"] for s in record["segments"]))
    old_state = Segments("iterations")
    old_state.resumed(None, 900)  # a state saved before segments were recorded
    assert not old_state.record(1000)["complete"]
    path = timing_file(tmp_path, "evaluate", "d/dm_ipc10", "ConvNet")
    assert path == tmp_path / "evaluate" / "d" / "dm_ipc10" / "ConvNet.timing.json"
    assert timing_file(tmp_path, "distill", "d/dm_ipc10") == tmp_path / "distill" / "d" / "dm_ipc10.timing.json"
    write_timing(path, second, 100)
    assert TIMING_RECORD.made(path) and read_timing(path)["segments"] == json.loads(path.read_text())["segments"]
    (tmp_path / "other.json").write_text('{"wall_s": 1}')
    assert read_timing(tmp_path / "other.json") is None and read_timing(tmp_path / "absent.json") is None


def _benchmark(path, wall, cpu):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BENCHMARK_HEADER + f"{wall}\t0:00:01\t1\t1\t1\t1\t0\t0\t50\t{cpu}\n")


def _timing(path, segments):
    path.parent.mkdir(parents=True, exist_ok=True)
    wall, cpu = sum(s[2] for s in segments), sum(s[3] for s in segments)
    rows = [{"from": a, "to": b, "wall_s": w, "cpu_s": c} for a, b, w, c in segments]
    record = {"unit": "runs", "done": segments[-1][1], "wall_s": wall, "cpu_s": cpu, "segments": rows}
    path.write_text(json.dumps(record | {"complete": segments[0][0] == 0}))


def test_cell_time_sums_every_segment_and_marks_what_is_a_lower_bound(tmp_path):
    """A timing record wins over Snakemake's benchmark (which holds the last segment of a resumed job); without a
    record the benchmark is used; a record whose first segment does not start at 0 makes the wall a lower bound."""
    cell = "d-fg/dm_ipc10"
    assert cell_time(tmp_path, cell, "ConvNet") is None
    _benchmark(tmp_path / "distill" / "d-fg" / "dm_ipc10.tsv", 600.0, 570.0)
    assert cell_time(tmp_path, cell, "ConvNet") is None  # no evaluation yet
    _benchmark(tmp_path / "evaluate" / cell / "ConvNet.tsv", 300.0, 290.0)
    assert cell_time(tmp_path, cell, "ConvNet") == CellTime(900.0, 860.0, False)
    # the distillation ran in two segments: the benchmark saw the last one (600 s), the record both (1,800 s)
    _timing(timing_file(tmp_path, "distill", cell), [(0, 500, 1200.0, 1100.0), (500, 1000, 600.0, 570.0)])
    timing = cell_time(tmp_path, cell, "ConvNet")
    assert timing == CellTime(2100.0, 1960.0, False)
    assert timing.wall_min == 35.0 and timing.cpu_per_wall == 0.93
    assert wall_label(SimpleNamespace(**timing.columns())) == "35.0 min (0.93)"
    _timing(timing_file(tmp_path, "evaluate", cell, "ConvNet"), [(4, 10, 250.0, 245.0)])  # resumed, runs 0-3 unknown
    timing = cell_time(tmp_path, cell, "ConvNet")
    assert timing.lower_bound and timing.wall_s == 2050.0
    assert wall_label(SimpleNamespace(**timing.columns())) == "≥ 34.2 min (0.93)"


def test_a_distillation_resumed_before_segments_were_recorded_is_a_lower_bound(tmp_path):
    """Without a timing record, Snakemake's benchmark holds a resumed job's last segment: a set whose meta says it
    was resumed makes the cell's wall a lower bound (given the synthetic folder)."""
    cell = "d-fg/dsa_ipc1"
    _benchmark(tmp_path / "b" / "distill" / "d-fg" / "dsa_ipc1.tsv", 1349.0, 1300.0)
    _benchmark(tmp_path / "b" / "evaluate" / cell / "ConvNet.tsv", 100.0, 90.0)
    (tmp_path / "s" / cell).mkdir(parents=True)
    (tmp_path / "s" / cell / "meta.json").write_text(json.dumps({"resumed_from": 900}))
    assert not cell_time(tmp_path / "b", cell, "ConvNet").lower_bound  # nothing says it was resumed
    assert cell_time(tmp_path / "b", cell, "ConvNet", tmp_path / "s") == CellTime(1449.0, 1390.0, True)
    (tmp_path / "s" / cell / "meta.json").write_text(json.dumps({"resumed_from": None}))
    assert not cell_time(tmp_path / "b", cell, "ConvNet", tmp_path / "s").lower_bound


def test_the_ptms_and_weights_a_cell_reads_are_timed_beside_it(tmp_path):
    """A KDE cell reads its PTM and weights: their time is the prerequisites' (a stacked zoo job's share per init),
    never added to the cell's own wall; those without a record are counted as untimed."""
    jobs = [("zoo", "d-fg/ConvNet/init0"), ("weights", "d-fg/kde-ConvNet-i0-e5-b1")]
    assert prerequisite_columns(tmp_path, []) == {}
    assert prerequisite_columns(tmp_path, jobs) == {
        "prereq_wall_min": None,
        "prereq_lower_bound": None,
        "prereq_untimed": 2,
    }
    _timing(timing_file(tmp_path, "weights", "d-fg/kde-ConvNet-i0-e5-b1"), [(0, 1, 60.0, 58.0)])
    assert prerequisite_columns(tmp_path, jobs) == {
        "prereq_wall_min": 1.0,
        "prereq_lower_bound": False,
        "prereq_untimed": 1,
    }
    _timing(zoo_timing_file(tmp_path, "d-fg/ConvNet", [0, 1]), [(0, 5, 1200.0, 1150.0)])  # two inits stacked
    assert zoo_timing_file(tmp_path, "d-fg/ConvNet", [0, 1]).name == "init0+init1.timing.json"
    assert prerequisite_columns(tmp_path, jobs) == {
        "prereq_wall_min": 11.0,
        "prereq_lower_bound": False,
        "prereq_untimed": 0,
    }
    _benchmark(tmp_path / "zoo" / "d-fg" / "ConvNet" / "init0.tsv", 900.0, 880.0)  # its own job wins
    assert prerequisite_columns(tmp_path, jobs) == {
        "prereq_wall_min": 16.0,
        "prereq_lower_bound": False,
        "prereq_untimed": 0,
    }
    row = SimpleNamespace(**CellTime(600.0, 540.0, False).columns(), **prerequisite_columns(tmp_path, jobs))
    assert wall_label(row) == "10.0 min (0.90) + 16.0 min prerequisites"
    row.prereq_wall_min, row.prereq_untimed = 1.0, 1
    assert wall_label(row) == "10.0 min (0.90) + 1.0 min prerequisites + 1 untimed prerequisite"
    # a PTM job resumed from a state saved before segments were recorded: its wall is a lower bound
    _timing(timing_file(tmp_path, "zoo", "d-fg/ConvNet/init0"), [(2, 5, 300.0, 290.0)])
    columns = prerequisite_columns(tmp_path, jobs)
    assert columns["prereq_lower_bound"] is True and columns["prereq_wall_min"] == 6.0
    row = SimpleNamespace(**CellTime(600.0, 540.0, False).columns(), **columns)
    assert wall_label(row) == "10.0 min (0.90) + ≥ 6.0 min prerequisites"


def test_a_kde_cell_lists_its_ptm_and_weights_as_prerequisites():
    from ddstudy.study import load_study

    study = load_study("params.yaml", "repro")
    kde = "fashion-mnist-fg-color-r0.9-s1-tuniform/dm_ipc10_kde"
    assert study.prerequisites[kde] == [
        ("zoo", "fashion-mnist-fg-color-r0.9-s1-tuniform/ConvNet/init0"),
        ("weights", "fashion-mnist-fg-color-r0.9-s1-tuniform/kde-ConvNet-i0-e5-b1"),
    ]
    assert "fashion-mnist-fg-color-r0.9-s1-tuniform/dm_ipc10_fairdd" not in study.prerequisites
