"""`snakemake --profile slurm` through a real single-node Slurm (workflow/scripts/local-slurm.sh), compared with a
local run of the same tiny grid. Needs root to install and start Slurm; skipped with the reason otherwise."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
SCRIPT = REPO / "workflow" / "scripts" / "local-slurm.sh"
pytestmark = pytest.mark.slurm


def run_bounded(args, cwd, timeout, env=None):
    """Run in its own process group; on timeout kill the whole group so a hang fails the test, not CI."""
    process = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"{' '.join(map(str, args))} hung for {timeout} s:\n{output[-3000:]}")
    return process.returncode, output


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("Slurm test needs root (apt-get install slurmctld slurmd munge; daemons)")
    state = tmp_path_factory.mktemp("slurm-state")
    code, output = run_bounded(["bash", str(SCRIPT), "start", str(state)], REPO, timeout=300)
    if code != 0:
        pytest.skip(f"could not start a local Slurm: {output.strip()[-500:]}")
    yield output.strip().splitlines()[-1]
    run_bounded(["bash", str(SCRIPT), "stop", str(state)], REPO, timeout=60)


def workdir(root: Path, fashion_dir: Path) -> Path:
    """A copy of the workflow (links resolved) with a tiny CPU grid as params.yaml."""
    root.mkdir()
    shutil.copy(REPO / "Snakefile", root / "Snakefile")
    shutil.copy(REPO / "environment.yml", root / "environment.yml")  # the rules' conda: directive names it
    shutil.copytree(REPO / "workflow", root / "workflow", symlinks=False)
    shutil.copytree(REPO / "workflow" / "profiles", root / "profiles", symlinks=False)
    shutil.copytree(REPO / "workflow" / "profiles" / "slurm", root / "slurm", symlinks=False)
    params = {
        "grid": "tiny",
        "device": "cpu",
        "threads": {"zoo": 1, "distill": 1, "evaluate": 1},
        "sources": {"fashion_mnist_dir": str(fashion_dir)},
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
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


def outputs(root: Path) -> dict:
    found = {}
    for meta in sorted(root.glob("data/datasets/*/meta.json")):
        found[str(meta.relative_to(root))] = json.loads(meta.read_text())["sha256"]
    for meta in sorted(root.glob("synthetic/*/*/meta.json")):
        found[str(meta.relative_to(root))] = json.loads(meta.read_text())["synthetic_sha256"]
    for metrics in sorted(root.glob("metrics/*/*/*.json")):
        found[str(metrics.relative_to(root))] = json.loads(metrics.read_text())["accs"]
    return found


def test_profile_runs_jobs_through_slurm_and_matches_a_local_run(slurm, tmp_path, fashion_dir):
    cluster = workdir(tmp_path / "cluster", fashion_dir)
    env = {**os.environ, "DDSTUDY_SLURM_PARTITION": slurm}
    code, log = run_bounded(
        [
            str(SNAKEMAKE),
            "--cores",
            "8",
            "--profile",
            "slurm",
            "--slurm-init-seconds-before-status-checks",
            "3",
            "--latency-wait",
            "5",
        ],
        cluster,
        timeout=900,
        env=env,
    )
    assert code == 0, log[-4000:]
    assert "submitted with SLURM jobid" in log
    job_logs = list((cluster / ".snakemake" / "slurm_logs").glob("rule_*/**/*.log"))
    rules = {p.relative_to(cluster / ".snakemake" / "slurm_logs").parts[0] for p in job_logs}
    assert {"rule_biased_dataset", "rule_distill"} <= rules, rules
    assert all(p.stem.isdigit() for p in job_logs if p.parent.name.startswith("rule_"))  # named by Slurm job id

    local = workdir(tmp_path / "local", fashion_dir)
    code, local_log = run_bounded([str(SNAKEMAKE), "--cores", "2"], local, timeout=900)
    assert code == 0, local_log[-4000:]
    cluster_outputs, local_outputs = outputs(cluster), outputs(local)
    assert cluster_outputs and cluster_outputs == local_outputs
    assert (cluster / "results" / "README.md").is_file()


def test_missing_partition_is_a_one_line_error(tmp_path, fashion_dir):
    root = workdir(tmp_path / "w", fashion_dir)
    env = {k: v for k, v in os.environ.items() if k != "DDSTUDY_SLURM_PARTITION"}
    code, log = run_bounded([str(SNAKEMAKE), "-n", "--cores", "8", "--profile", "slurm"], root, timeout=300, env=env)
    assert code != 0 and "export DDSTUDY_SLURM_PARTITION=<name>" in log
