"""`ddstudy report progress`: where each cell of a grid stands, read from its outputs and resume states."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ddstudy.cli import main
from ddstudy.report.progress import wall_at_best

REPO = Path(__file__).parents[2]
FG = "fashion-mnist-fg-color-r0.9-s1-tuniform"


def test_progress_reads_finished_cells_and_resume_states(tmp_path, monkeypatch, capsys):
    """A finished cell shows its accuracy and wall; a distillation part-way its iteration from the resume state; an
    evaluation part-way its finished networks, with the time the resume states and the finished job recorded."""
    root = tmp_path / "results" / "repro"
    for folder in ("synthetic", "evaluations"):  # the committed DC clean cell: set and record
        shutil.copytree(
            REPO / "results/repro" / folder / "fashion-mnist-clean/dc_ipc1",
            root / folder / "fashion-mnist-clean/dc_ipc1",
        )
    state = root / "synthetic/fashion-mnist-clean/.dsa_ipc1.partial/ckpt/state.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"iteration": 900, "segments": [{"from": 0, "to": 900, "wall_s": 600.0, "cpu_s": 6}]}))
    shutil.copytree(REPO / "results/repro/synthetic" / FG / "dm_ipc10", root / "synthetic" / FG / "dm_ipc10")
    bench = root / "benchmarks/distill" / FG / "dm_ipc10.tsv"
    bench.parent.mkdir(parents=True)
    bench.write_text("s\tcpu_time\n540.0\t500.0\n")
    runs = root / "evaluations" / FG / "dm_ipc10/.ConvNet.json.partial/runs.json"
    runs.parent.mkdir(parents=True)
    segment = {"from": 0, "to": 3, "wall_s": 1800.0, "cpu_s": 1080.0}  # 360 CPU-s per network
    runs.write_text(json.dumps({"runs": [{}, {}, {}], "segments": [segment]}))
    kde_state = root / "synthetic" / FG / ".dm_ipc10_kde.partial/ckpt/state.json"  # 7.2 CPU-s per iteration
    kde_state.parent.mkdir(parents=True)
    kde_state.write_text(
        json.dumps({"iteration": 100, "segments": [{"from": 0, "to": 100, "wall_s": 900, "cpu_s": 720}]})
    )
    ptm = root / "zoo" / "fashion-mnist-bg-color-r0.9-s1-tuniform/ConvNet/.init0.partial/resume.json"
    ptm.parent.mkdir(parents=True)
    segment = {"from": 0, "to": 3, "wall_s": 2400.0, "cpu_s": 1800.0}  # 600 CPU-s per epoch
    ptm.write_text(json.dumps({"epoch": 3, "segments": [segment]}))  # the KDE PTM of BG training
    weights = root / "benchmarks/weights" / FG / "kde-ConvNet-i0-e5-b1.timing.json"  # FG's weights (committed): timed
    weights.parent.mkdir(parents=True)
    segment = {"from": 0, "to": 1, "wall_s": 200.0, "cpu_s": 180.0}
    weights.write_text(
        json.dumps({"unit": "weights files", "segments": [segment], "wall_s": 200.0, "cpu_s": 180.0, "complete": True})
    )
    monkeypatch.chdir(tmp_path)
    assert main(["report", "progress", "--params", str(REPO / "params.yaml"), "--grid", "repro"]) == 0
    out = capsys.readouterr().out
    head = "grid 'repro': 1 of 68 evaluations done, 3 part-way, 64 waiting; wall here (CPU-s per wall-s)"
    assert out.startswith(head)
    assert "| `fashion-mnist-clean/dc_ipc1` | ConvNet | done | 70.28 ± 0.49 % (n 20) | — |" in out  # no benchmarks
    assert f"| `{FG}/dm_ipc10` | ConvNet | done | network 3/10 | 39.0 min so far (0.68) | ≈ 0.7 core-h |" in out
    # what is left, priced by the likes that ran: DM IPC 10's evaluations at 360 CPU-s per network (whichever mode
    # made the set), the kde distillation at 7.2 s per iteration (at either bandwidth); COBRA's distillation and the
    # DSA evaluation have no like yet
    assert f"| `{FG}/dm_ipc10_cobra` | ConvNet | waiting | waiting | — | ≈ 1.0 core-h + 1 job unpriced |" in out
    assert (
        f"| `{FG}/dm_ipc10_kde` | ConvNet | iteration 100/1000 | waiting "
        "| 15.0 min so far (0.80) + 3.3 min prerequisites + 1 untimed prerequisite | ≈ 2.8 core-h |" in out
    )
    # its own KDE weights are still to be made, priced by FG's median-bandwidth weights (180 CPU-s a file); the PTM
    # they embed with is not counted: the median bandwidth's distillation, part-way here, had it
    assert f"| `{FG}/dm_ipc10_kde-h0.2` | ConvNet | waiting | waiting | — | ≈ 3.0 core-h |" in out
    assert (
        "| `fashion-mnist-clean/dsa_ipc1` | ConvNet | iteration 900/1000 | waiting | 10.0 min so far (0.01) "
        "| ≈ 0.0 core-h + 1 job unpriced |" in out
    )
    # 77 jobs without a like (CMNIST-DD, C-MNIST and seed-30 cells among them); FG's h0.2 weights,
    # BG's PTM (once) and both BG's weights are priced
    assert "at the CPU rates their likes ran at here, and 77 jobs not priced (no like has run here yet)" in out
    kde = "fashion-mnist-bg-color-r0.9-s1-tuniform/dm_ipc10_kde"
    ptm = "(PTM fashion-mnist-bg-color-r0.9-s1-tuniform/ConvNet/init0 at epoch 3/5)"
    assert f"| `{kde}` | ConvNet | waiting {ptm} | waiting | — |" in out
    # the same rows for scripts: one JSON object per evaluation
    assert main(["report", "progress", "--params", str(REPO / "params.yaml"), "--grid", "repro", "--json"]) == 0
    rows = {(r["cell"], r["arch"]): r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    kde = rows[(f"{FG}/dm_ipc10_kde", "ConvNet")]
    assert kde["state"] == "part-way" and kde["distillation"] == "iteration 100/1000" and kde["wall_min"] == 15.0
    assert kde["left_cpu_s"] == pytest.approx(900 * 7.2 + 10 * 360) and kde["left_unpriced"] == 0
    # BG's: its distillation and evaluation, the PTM's 2 epochs left at 600 CPU-s each (its own resume state) and
    # its weights at FG's 180 CPU-s; BG's h0.2 cell counts only its own weights (the PTM counted once)
    bg = {
        mode: rows[(f"fashion-mnist-bg-color-r0.9-s1-tuniform/dm_ipc10_{mode}", "ConvNet")]
        for mode in ("kde", "kde-h0.2")
    }
    assert bg["kde"]["left_cpu_s"] == pytest.approx(1000 * 7.2 + 10 * 360 + 2 * 600 + 180)
    assert bg["kde-h0.2"]["left_cpu_s"] == pytest.approx(1000 * 7.2 + 10 * 360 + 180)
    assert bg["kde"]["left_unpriced"] == bg["kde-h0.2"]["left_unpriced"] == 0
    # the wall left at best on N cores: the priced core-seconds shared out, never less than the longest row
    args = ["report", "progress", "--params", str(REPO / "params.yaml"), "--grid", "repro", "--cores", "3"]
    assert main(args) == 0
    best = wall_at_best(list(rows.values()), 3)
    out = capsys.readouterr().out
    assert f"≈ {best / 3600:.1f} h of wall at best on 3 cores (one single-thread job per core" in out


def test_wall_at_best_shares_the_core_seconds_but_waits_for_the_longest_row():
    rows = [{"left_cpu_s": 7200.0}, {"left_cpu_s": 3600.0}, {"left_cpu_s": None}, {"left_cpu_s": 0.0}]
    assert wall_at_best(rows, 1) == 10800.0
    assert wall_at_best(rows, 2) == 7200.0  # 5,400 s shared out, but the longest row alone takes 7,200
    assert wall_at_best(rows, 8) == 7200.0
    assert wall_at_best([], 2) == 0.0


def test_a_set_evaluated_with_two_architectures_is_distilled_once_in_what_is_left(tmp_path, monkeypatch):
    """The demo's cross-architecture cell (DC on the most biased colour set, evaluated with ConvNetW32 and LeNet):
    its distillation's work left counts in its first row only; each evaluation has its own."""
    from ddstudy.report.progress import progress_rows
    from ddstudy.study import load_study

    study = load_study(REPO / "params.yaml", "demo")
    archs: dict[str, list[str]] = {}
    for name, arch in study.evaluations:
        archs.setdefault(name, []).append(arch)
    name = next(name for name, found in archs.items() if len(found) > 1)
    cell = next(cell for cell in study.cells if cell.name == name)
    monkeypatch.chdir(tmp_path)
    state = Path(study.synthetic_dir) / cell.dataset / f".{cell.set_name}.partial/ckpt/state.json"
    state.parent.mkdir(parents=True)
    done = cell.config.iterations // 2
    state.write_text(json.dumps({"iteration": done, "segments": [{"from": 0, "to": done, "wall_s": 9, "cpu_s": 3.0}]}))
    rows = [row for row in progress_rows(study) if row["cell"] == name]
    assert [row["arch"] for row in rows] == archs[name]
    left = 3.0 / done * (cell.config.iterations - done)
    assert [row["left_cpu_s"] for row in rows] == [pytest.approx(left), 0.0]
    assert [row["left_unpriced"] for row in rows] == [1, 1]  # no evaluation of this kind ran here


def test_a_ptm_trained_in_a_stacked_job_shows_its_epoch_but_prices_nothing(tmp_path, monkeypatch):
    """A KDE PTM trained part-way in a stacked job with another init (``.init0+init1.partial``): the cell waiting for
    it names its epoch; the job's segments count both inits' epochs, so they price no PTM epoch."""
    from ddstudy.report.progress import progress_rows
    from ddstudy.study import load_study

    study = load_study(REPO / "params.yaml", "repro")
    monkeypatch.chdir(tmp_path)
    block = "fashion-mnist-bg-color-r0.9-s1-tuniform/ConvNet"
    staging = Path(study.zoo_dir) / block / ".init0+init1.partial/resume.json"
    staging.parent.mkdir(parents=True)
    staging.write_text(json.dumps({"epoch": 2, "segments": [{"from": 0, "to": 4, "wall_s": 100, "cpu_s": 800.0}]}))
    rows = {row["cell"]: row for row in progress_rows(study)}
    kde = rows["fashion-mnist-bg-color-r0.9-s1-tuniform/dm_ipc10_kde"]
    assert kde["distillation"] == f"waiting (PTM {block}/init0 at epoch 2/5)"
    # its distillation, evaluation, PTM and weights: no like here for any of them
    assert kde["left_cpu_s"] == 0.0 and kde["left_unpriced"] == 4
