"""Helpers of the whole-pipeline tests (Slurm, kill/resume, DVC): a copy of the project with a tiny CPU grid, bounded
subprocesses, and a fingerprint of every artifact to compare two runs."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SNAKEMAKE = BIN / "snakemake"
DVC = BIN / "dvc"
TINY_DATASET = "fashion-mnist-color-r0.5-s1-n20-10"


def run_bounded(args, cwd, timeout, env=None):
    """Run in its own process group; on timeout kill the whole group so a hang fails the test, not CI."""
    env = {**(env if env is not None else os.environ), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    process = subprocess.Popen(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"{' '.join(map(str, args))} hung for {timeout} s:\n{output[-3000:]}")
    return process.returncode, output


def own_processes() -> dict:
    """The environment without the tests' fork server: every job in a fresh process, as on a cluster node."""
    from ddstudy.forkserver import ENV

    return {key: value for key, value in os.environ.items() if key != ENV}


def tiny_params(fashion_dir: Path) -> dict:
    """A grid that runs every stage in seconds on the CPU: one colour variant, DM + random, one evaluation each."""
    return {
        "grid": "tiny",
        "device": "cpu",
        "compile": False,  # DVC stages list these params: a params.yaml must name them
        "precision": "fp32",
        "vectorize": False,
        "threads": {"zoo": 1, "distill": 1, "evaluate": 1},
        "sources": {"fashion_mnist_dir": str(fashion_dir)},
        "build": {"workers": 1},
        "zoo_root": "zoo",
        "grids": {
            "tiny": {
                "datasets": [
                    {
                        "source": "fashion-mnist",
                        "bias": "color",
                        "ratios": [0.5],
                        "severities": [1],
                        "train_per_class": 20,
                        "test_per_class": 10,
                    }
                ],
                "distill": {
                    "model": "ConvNetW32",
                    "methods": {"dm": {"ipcs": [1], "iterations": 2, "batch_real": 8}, "random": {"ipcs": [2]}},
                },
                "evaluate": {"num_eval": 1, "epochs": 1},
            }
        },
    }


def add_zoo(params: dict, arch: str = "ConvNetW32", epochs: int = 2) -> None:
    params["grids"]["tiny"]["zoo"] = {
        "train": {"epochs": epochs, "save_epochs": list(range(1, epochs + 1))},
        "models": [{"datasets": [TINY_DATASET], "archs": [arch], "inits": 1}],
    }


def workdir(root: Path, fashion_dir: Path, project: bool = False) -> Path:
    """A copy of the workflow (links resolved) with the tiny grid as params.yaml.

    ``project=True`` copies what DVC needs too (the package sources its stages depend on, dvc.yaml, .dvc/config)
    and makes it a git repository with one commit, like a user's clone."""
    root.mkdir()
    shutil.copy(REPO / "Snakefile", root / "Snakefile")
    shutil.copy(REPO / "environment.yml", root / "environment.yml")  # the rules' conda: directive names it
    shutil.copytree(REPO / "workflow", root / "workflow", symlinks=False)
    shutil.copytree(REPO / "workflow" / "profiles", root / "profiles", symlinks=False)
    shutil.copytree(REPO / "workflow" / "profiles" / "slurm", root / "slurm", symlinks=False)
    write_params(root, tiny_params(fashion_dir))
    if project:
        ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
        shutil.copytree(REPO / "src", root / "src", ignore=ignore)
        for name in ("dvc.yaml", ".dvcignore", ".gitignore"):
            shutil.copy(REPO / name, root / name)
        (root / ".dvc").mkdir()
        for name in ("config", ".gitignore"):
            shutil.copy(REPO / ".dvc" / name, root / ".dvc" / name)
        git(root, "init", "-q")
        commit(root, "tiny project")
    return root


def write_params(root: Path, params: dict) -> None:
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def edit_params(root: Path, edit) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    edit(params)
    write_params(root, params)


def git(root: Path, *args: str) -> str:
    identity = ["-c", "user.name=ddstudy test", "-c", "user.email=test@ddstudy.invalid"]
    result = subprocess.run(["git", *identity, *args], cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def outputs(root: Path) -> dict:
    """Content fingerprint of every artifact: dataset and synthetic-set hashes, metrics, every PTM checkpoint."""
    found = {}
    for meta in sorted(root.glob("data/datasets/*/meta.json")):
        found[str(meta.relative_to(root))] = json.loads(meta.read_text())["sha256"]
    for meta in sorted(root.glob("synthetic/*/*/meta.json")):
        found[str(meta.relative_to(root))] = json.loads(meta.read_text())["synthetic_sha256"]
    for metrics in sorted(root.glob("metrics/*/*/*.json")):
        found[str(metrics.relative_to(root))] = json.loads(metrics.read_text())["accs"]
    for checkpoint in sorted(root.glob("zoo/*/*/init*/[!.]*")):
        found[str(checkpoint.relative_to(root))] = sha256(checkpoint)
    return found


def run_ok(args, cwd, timeout, env=None) -> str:
    """``run_bounded`` that must succeed; returns the combined output."""
    code, log = run_bounded(args, cwd, timeout, env)
    assert code == 0, f"{' '.join(map(str, args))} failed:\n{log[-4000:]}"
    return log


def job_counts(log: str) -> dict[str, int]:
    """Jobs per rule from the first "Job stats:" table of a Snakemake log ({} when there is none)."""
    if "Job stats:" not in log:
        return {}
    block = log.split("Job stats:")[1].split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M) if m[1] != "total"}


def planned_jobs(root: Path) -> dict[str, int]:
    """Jobs per rule that `snakemake -n` would run ({} when nothing is to be done)."""
    log = run_ok([SNAKEMAKE, "-n", "--cores", "2"], root, timeout=300)
    if "Job stats:" not in log:
        assert "Nothing to be done" in log, log[-3000:]
    return job_counts(log)
