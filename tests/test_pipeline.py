"""Whole-pipeline behaviour through Snakemake: a changed evaluation setting reruns only what depends on it, and a
pipeline killed with SIGKILL in the middle of a distillation resumes to the same artifacts."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.test_slurm import outputs, run_bounded, workdir

SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def planned_jobs(root: Path) -> dict[str, int]:
    code, log = run_bounded([str(SNAKEMAKE), "-n", "--cores", "2"], root, timeout=300)
    assert code == 0, log[-3000:]
    if "Job stats:" not in log:
        return {}
    block = log.split("Job stats:")[1].split("\n\n")[0]
    counts = {}
    for line in block.splitlines()[2:]:
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts


def test_changing_an_eval_setting_reruns_only_evaluations(tmp_path, fashion_dir):
    root = workdir(tmp_path / "w", fashion_dir)
    code, log = run_bounded([str(SNAKEMAKE), "--cores", "2"], root, timeout=900)
    assert code == 0, log[-3000:]
    assert planned_jobs(root) == {}
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["grids"]["tiny"]["evaluate"]["epochs"] = 2
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    plan = planned_jobs(root)
    assert plan.get("evaluate") == 2
    assert not {"biased_dataset", "clean_dataset", "distill", "zoo_model"} & set(plan), plan


def test_sigkill_during_distillation_resumes_to_the_same_artifacts(tmp_path, fashion_dir):
    def tiny(root):
        params = yaml.safe_load((root / "params.yaml").read_text())
        params["grids"]["tiny"]["distill"]["methods"] = {
            "dm": {"ipcs": [1], "iterations": 60, "batch_real": 8, "checkpoint_every": 5}
        }
        (root / "params.yaml").write_text(yaml.safe_dump(params))
        return root

    straight = tiny(workdir(tmp_path / "straight", fashion_dir))
    code, log = run_bounded([str(SNAKEMAKE), "--cores", "2"], straight, timeout=900)
    assert code == 0, log[-3000:]

    killed = tiny(workdir(tmp_path / "killed", fashion_dir))
    process = subprocess.Popen(
        [str(SNAKEMAKE), "--cores", "2"],
        cwd=killed,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    state = None
    deadline = time.time() + 600
    while time.time() < deadline:
        states = list(killed.glob("synthetic/*/.*.partial/ckpt/state.json"))
        if states and json.loads(states[0].read_text())["iteration"] >= 10:
            state = states[0]
            break
        if process.poll() is not None:
            break
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert state is not None, "the distillation never reached a checkpoint before the run ended"
    assert not list(killed.glob("synthetic/*/dm_ipc1/meta.json")), "a killed distillation must not look finished"

    # Snakemake's own lock survives SIGKILL: the documented recovery is --unlock, then the same command again.
    code, log = run_bounded([str(SNAKEMAKE), "--unlock", "--cores", "2"], killed, timeout=300)
    assert code == 0, log[-3000:]
    code, log = run_bounded([str(SNAKEMAKE), "--cores", "2"], killed, timeout=900)
    assert code == 0, log[-3000:]
    meta = json.loads(next(killed.glob("synthetic/*/dm_ipc1/meta.json")).read_text())
    assert meta["resumed_from"] is not None and meta["resumed_from"] >= 10
    assert outputs(killed) == outputs(straight)
