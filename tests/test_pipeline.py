"""Whole-pipeline behaviour through Snakemake: a changed evaluation setting reruns only what depends on it, and a
pipeline killed with SIGKILL in the middle of a distillation or of a zoo training resumes from its last checkpoint
to the same artifacts as an uninterrupted run. The killed runs' jobs fork from the tests' fork server, the
uninterrupted distillation's run in processes of their own: equal artifacts prove the server computes what a fresh
process does, and that a job dies with its killed client."""

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.workflow_support import (
    SNAKEMAKE,
    TINY_DATASET,
    add_zoo,
    edit_params,
    outputs,
    own_processes,
    planned_jobs,
    run_ok,
    workdir,
)


def run_pipeline(root: Path, env: dict | None = None) -> str:
    return run_ok([SNAKEMAKE, "--cores", "2"], root, timeout=900, env=env)


def kill_pipeline_when(root: Path, reached: Callable[[], bool], what: str) -> None:
    """Start the pipeline, SIGKILL its whole process group (Snakemake and its jobs) once ``reached()``, like a lost
    node; then recover the documented way: `snakemake --unlock` (its lock survives SIGKILL), the same command again."""
    process = subprocess.Popen(
        [SNAKEMAKE, "--cores", "2"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    hit, deadline = False, time.time() + 600
    while time.time() < deadline and process.poll() is None:
        try:
            hit = reached()
        except (OSError, ValueError, KeyError):  # a checkpoint being replaced right now: look again
            hit = False
        if hit:
            break
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert hit, f"the pipeline ended before {what}"
    run_ok([SNAKEMAKE, "--unlock", "--cores", "2"], root, timeout=300)


def checkpoint_at(pattern: str, root: Path, key: str, at_least: int) -> bool:
    states = list(root.glob(pattern))
    return bool(states) and json.loads(states[0].read_text())[key] >= at_least


def test_changing_an_eval_setting_reruns_only_evaluations(tmp_path, fashion_dir):
    root = workdir(tmp_path / "w", fashion_dir)
    edit_params(root, add_zoo)
    run_pipeline(root)
    assert planned_jobs(root) == {}
    edit_params(root, lambda params: params["grids"]["tiny"]["evaluate"].update(epochs=2))
    plan = planned_jobs(root)
    assert plan.get("evaluate") == 2
    assert not {"biased_dataset", "clean_dataset", "zoo_model", "zoo_index", "distill"} & set(plan), plan


def test_sigkill_during_distillation_resumes_to_the_same_artifacts(tmp_path, fashion_dir):
    def long_dm(params):
        params["grids"]["tiny"]["distill"]["methods"] = {
            "dm": {"ipcs": [1], "iterations": 60, "batch_real": 8, "checkpoint_every": 5}
        }

    straight = workdir(tmp_path / "straight", fashion_dir)  # every job a fresh process: the fork server's oracle
    edit_params(straight, long_dm)
    run_pipeline(straight, env=own_processes())

    killed = workdir(tmp_path / "killed", fashion_dir)
    edit_params(killed, long_dm)
    kill_pipeline_when(
        killed,
        lambda: checkpoint_at("synthetic/*/.*.partial/ckpt/state.json", killed, "iteration", 10),
        "the distillation reached a checkpoint",
    )
    assert not list(killed.glob("synthetic/*/dm_ipc1/meta.json")), "a killed distillation must not look finished"
    run_pipeline(killed)
    meta = json.loads(next(killed.glob("synthetic/*/dm_ipc1/meta.json")).read_text())
    assert meta["resumed_from"] is not None and meta["resumed_from"] >= 10
    assert outputs(killed) == outputs(straight)


def test_sigkill_during_zoo_training_resumes_to_the_same_artifacts(tmp_path, fashion_dir):
    def long_zoo(params):  # ConvNet (width 128) makes an epoch last about a second here: time to kill mid-training
        add_zoo(params, arch="ConvNet", epochs=8)

    straight = workdir(tmp_path / "straight", fashion_dir)
    edit_params(straight, long_zoo)
    run_pipeline(straight)

    killed = workdir(tmp_path / "killed", fashion_dir)
    edit_params(killed, long_zoo)
    staging = f"zoo/{TINY_DATASET}/ConvNet/.init0.partial"
    kill_pipeline_when(
        killed, lambda: checkpoint_at(f"{staging}/resume.json", killed, "epoch", 2), "the zoo training reached epoch 2"
    )
    epoch_at_kill = json.loads((killed / staging / "resume.json").read_text())["epoch"]
    assert epoch_at_kill < 8, "killed too late to test resuming"
    assert not (killed / f"zoo/{TINY_DATASET}/ConvNet/init0").exists(), "a killed training must not look finished"
    run_pipeline(killed)
    log = (killed / f"logs/zoo/{TINY_DATASET}/ConvNet/init0.log").read_text()
    assert "resuming after epoch" in log, log[-2000:]
    assert not (killed / staging).exists()
    checkpoints = outputs(killed)
    assert len([k for k in checkpoints if k.startswith("zoo/")]) == 8 * 2 + 1  # 8 epochs × (weights, json), run.json
    assert checkpoints == outputs(straight)
