"""`snakemake --profile slurm` through a real single-node Slurm (workflow/scripts/local-slurm.sh), compared with a
local run of the same tiny grid. Needs root to install and start Slurm; skipped with the reason otherwise."""

import os

import pytest

from tests.workflow_support import REPO, SNAKEMAKE, outputs, run_bounded, run_ok, workdir

SCRIPT = REPO / "workflow" / "scripts" / "local-slurm.sh"
pytestmark = pytest.mark.slurm


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


def test_profile_runs_jobs_through_slurm_and_matches_a_local_run(slurm, tmp_path, fashion_dir):
    cluster = workdir(tmp_path / "cluster", fashion_dir)
    env = {**os.environ, "DDSTUDY_SLURM_PARTITION": slurm}
    log = run_ok(
        [
            SNAKEMAKE,
            "--cores",
            "8",
            "--profile",
            "slurm",
            "--slurm-init-seconds-before-status-checks",
            "3",
            "--seconds-between-status-checks",
            "2",
            "--latency-wait",
            "5",
        ],
        cluster,
        timeout=900,
        env=env,
    )
    assert "submitted with SLURM jobid" in log
    job_logs = list((cluster / ".snakemake" / "slurm_logs").glob("rule_*/**/*.log"))
    rules = {p.relative_to(cluster / ".snakemake" / "slurm_logs").parts[0] for p in job_logs}
    assert {"rule_biased_dataset", "rule_distill"} <= rules, rules
    assert all(p.stem.isdigit() for p in job_logs if p.parent.name.startswith("rule_"))  # named by Slurm job id

    local = workdir(tmp_path / "local", fashion_dir)
    run_ok([SNAKEMAKE, "--cores", "2"], local, timeout=900)
    cluster_outputs, local_outputs = outputs(cluster), outputs(local)
    assert cluster_outputs and cluster_outputs == local_outputs
    assert (cluster / "results" / "README.md").is_file()


def test_missing_partition_is_a_one_line_error(tmp_path, fashion_dir):
    root = workdir(tmp_path / "w", fashion_dir)
    env = {k: v for k, v in os.environ.items() if k != "DDSTUDY_SLURM_PARTITION"}
    code, log = run_bounded([str(SNAKEMAKE), "-n", "--cores", "8", "--profile", "slurm"], root, timeout=300, env=env)
    assert code != 0 and "export DDSTUDY_SLURM_PARTITION=<name>" in log


def test_profile_dry_run_shows_per_rule_requests(tmp_path, fashion_dir):
    """Issue 13: with the Slurm profile, baselines and data/report jobs ask for no GPU and go to the CPU partition
    from params; distillation and evaluation ask for one GPU on the default partition; time limits per job."""
    from tests.workflow_support import edit_params

    root = workdir(tmp_path / "w", fashion_dir)
    edit_params(root, lambda p: p.update(device="auto", resources={"cpu_partition": "cpuq"}))
    env = {**os.environ, "DDSTUDY_SLURM_PARTITION": "gpuq"}
    log = run_ok([str(SNAKEMAKE), "-n", "--cores", "8", "--profile", "slurm"], root, timeout=300, env=env)
    requests = {}
    rule = None
    for line in log.splitlines():
        if line.strip().startswith(("rule ", "localrule ")):
            rule = line.strip().split()[1].rstrip(":")
        elif "resources:" in line and rule:
            requests.setdefault(rule, line)
    assert "gpu" not in requests["select"] and "slurm_partition=cpuq" in requests["select"]
    assert "gpu" not in requests["biased_dataset"] and "slurm_partition=cpuq" in requests["biased_dataset"]
    for gpu_rule in ("distill", "evaluate"):
        assert "gpu=1" in requests[gpu_rule] and "slurm_partition=gpuq" in requests[gpu_rule], requests[gpu_rule]
        assert "runtime=10" in requests[gpu_rule]  # a tiny job: the minimum limit, not a fixed 720 minutes
