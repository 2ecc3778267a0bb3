"""`ddstudy report progress`: where each cell of a grid stands, read from its outputs and resume states."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ddstudy.cli import main

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
    segment = {"from": 0, "to": 3, "wall_s": 180.0, "cpu_s": 0.0}
    runs.write_text(json.dumps({"runs": [{}, {}, {}], "segments": [segment]}))
    ptm = root / "zoo" / "fashion-mnist-bg-color-r0.9-s1-tuniform/ConvNet/.init0.partial/resume.json"
    ptm.parent.mkdir(parents=True)
    ptm.write_text(json.dumps({"epoch": 3, "segments": []}))  # the KDE PTM of BG training
    monkeypatch.chdir(tmp_path)
    assert main(["report", "progress", "--params", str(REPO / "params.yaml"), "--grid", "repro"]) == 0
    out = capsys.readouterr().out
    head = "grid 'repro': 1 of 26 evaluations done, 2 part-way, 23 waiting; wall here (CPU-s per wall-s)"
    assert out.startswith(head)
    assert "| `fashion-mnist-clean/dc_ipc1` | ConvNet | done | 70.28 ± 0.49 % (n 20) | — |" in out  # no benchmarks
    assert "| `fashion-mnist-clean/dsa_ipc1` | ConvNet | iteration 900/1000 | waiting | 10.0 min so far (0.01) |" in out
    assert f"| `{FG}/dm_ipc10` | ConvNet | done | network 3/10 | 12.0 min so far (0.69) |" in out
    assert f"| `{FG}/dm_ipc10_cobra` | ConvNet | waiting | waiting | — |" in out
    kde = "fashion-mnist-bg-color-r0.9-s1-tuniform/dm_ipc10_kde"
    ptm = "(PTM fashion-mnist-bg-color-r0.9-s1-tuniform/ConvNet/init0 at epoch 3/5)"
    assert f"| `{kde}` | ConvNet | waiting {ptm} | waiting | — |" in out
