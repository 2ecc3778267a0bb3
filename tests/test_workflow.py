"""Snakemake and DVC read the same grid: dry runs plan the expected jobs."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.workflow_support import DVC, SNAKEMAKE, job_counts


def snakemake(*args, cwd="."):
    return subprocess.run([str(SNAKEMAKE), *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_paper_dry_run_plans_every_block():
    """The paper grid's dry run (~60 s of planning 9,000 jobs) once per test run: one test reads it (a fixture
    shared by several tests ran it once per pytest-xdist worker)."""
    result = snakemake("-n", "--forceall", "--config", "grid=paper")
    assert result.returncode == 0, result.stderr
    plans_48_biased_datasets_and_5_fair_dd_benchmarks(result)
    plans_the_zoo(result)
    plans_distillation_and_evaluation(result)


def plans_48_biased_datasets_and_5_fair_dd_benchmarks(result):
    counts = job_counts(result.stdout)
    assert counts["biased_dataset"] == 48 + 5 and counts["clean_dataset"] == 3 and counts["dataset_figures"] == 1
    assert "--bias grayscale --ratio 0.9 --severity 1 --seed 0 --test-attrs uniform" in result.stdout


def test_demo_dry_run():
    result = snakemake("-n", "--forceall", "--config", "grid=demo")
    assert result.returncode == 0, result.stderr
    assert job_counts(result.stdout)["biased_dataset"] == 5  # colour at 3 ratios, corruption at 2


def test_typo_in_config_fails_with_the_key():
    result = snakemake("-n", "--config", "grid=papr")
    assert result.returncode != 0
    assert "grid 'papr' is not defined" in result.stdout + result.stderr


def test_lint_is_clean():
    result = snakemake("--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_dvc_stages_follow_the_pipeline_one_snakemake_target_each():
    import yaml

    stages = yaml.safe_load(Path("dvc.yaml").read_text())["stages"]
    targets = {
        "datasets": ("datasets", "data.smk"),
        "zoo": ("zoo", "zoo.smk"),
        "distill": ("synthetic_sets", "distill.smk"),
        "evaluate": ("evaluations", "evaluate.smk"),
        "report": ("results/README.md", "report.smk"),
    }
    assert list(stages) == list(targets)
    for name, (target, rule_file) in targets.items():
        stage = stages[name]
        # all of the machine (not 2 cores), the jobs forked from one server (ddstudy.forkserver)
        assert stage["cmd"].startswith(f"ddstudy serve -- snakemake --cores all {target}"), name
        assert f"workflow/rules/{rule_file}" in stage["deps"], name
        assert {"grid", "grids.${grid}"} <= set(stage["params"]), name  # the active grid's block only
    outs = [next(iter(out.items())) for stage in stages.values() for out in stage["outs"]]
    cached = {path for path, options in outs if options.get("cache", True)}
    assert cached == {"data/datasets", "${zoo_root}", "synthetic", "weights", "metrics"}
    # the KDE weights come from a zoo PTM and MTT's kde experts train with them: made in the zoo stage
    assert "weights" in [next(iter(out)) for out in stages["zoo"]["outs"]] and "weights" in stages["distill"]["deps"]
    config = Path(".dvc/config").read_text()
    assert "remote = shared" in config and "url = ../../ddstudy-dvc-remote" in config


@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed for dvc status")
def test_dvc_sees_the_stage():
    result = subprocess.run([str(DVC), "stage", "list"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "datasets" in result.stdout


def plans_the_zoo(result):
    counts = job_counts(result.stdout)
    # 176 PTMs (+ 500 MTT experts); the paper grid vectorises, so each (dataset, arch) block's inits are one job
    # (issue 12): 8 blocks of 10 inits (CIFAR-10/100 × 4 archs), 48 of 2 (the biased-set ConvNets)
    assert counts["zoo_inits_0_to_9"] == 8 and counts["zoo_inits_0_to_1"] == 48 and "zoo_model" not in counts
    # MTT's experts: 10 per distilled variant, and per biased variant again for each debias mode (48 × 3), those
    # of kde reading the variant's KDE weights
    assert counts["zoo_inits_10_to_19"] == 50 + 144
    assert "zoo/mnist-color-r0.95-s4/ConvNet/debias-kde/init19" in result.stdout
    assert (
        "--debias kde --device auto --compile --precision fp32 --vectorize --threads 2 --dataset-dir "
        "data/datasets/mnist-color-r0.95-s4 --sample-weights weights/mnist-color-r0.95-s4/kde-ConvNet-i0-e50-b1.npz"
    ) in result.stdout
    assert counts["zoo_report"] == 1
    assert "gpu=1" in result.stdout.replace(" ", "")
    assert "--init 0,1,2,3,4,5,6,7,8,9" in result.stdout and "--vectorize" in result.stdout


def plans_distillation_and_evaluation(result):
    counts = job_counts(result.stdout)
    # 800 bias-study cells + 144 CLoM cells (3 methods × 3 IPCs × 16 settings) + 150 MTT cells (50 variants × 3
    # IPCs) + 1728 mitigation cells (48 biased variants × 12 method-IPCs × fairdd/kde/oracle) + 432 COBRA cells (48
    # variants × 9 method-IPCs: DC/DSA/DM, no MTT counterpart) + 42 cross-study CLoM cells (4 pairs × 3 methods × 2
    # targets × 2 PTM sources, the shared ratio-0.1 targets once) + 90 fair-DD cells (5 benchmarks × DC/DM × IPC
    # 10/50/100 × plain/fairdd/cobra) + 30 IDC cells there (IPC 10/50 × the same modes); each evaluated once, plus
    # 240 cross-arch evaluations
    assert counts["distill"] + counts["select"] == 3296 + 120 and counts["select"] == 350  # baselines: own CPU rule
    assert counts["evaluate"] == 3566 + 120 and counts["bias_table"] == 1
    assert counts["kde_weights"] == 48  # one weights artifact per biased variant, shared by its kde cells and experts
    names = (
        "dm_ipc50_fairdd",
        "dc_ipc1_kde",
        "dsa_ipc10_oracle",
        "mtt_ipc10_kde",
        "dm_ipc10_clom-ce-mnist-color-r0.1-s4",
        "dc_ipc50_cobra",
    )
    for name in names:
        assert f"synthetic/mnist-color-r0.95-s4/{name}" in result.stdout, name
    assert "--method mtt" in result.stdout and "zoo/mnist-clean/ConvNet/init19" in result.stdout
    assert "mtt_ipc10_cobra" not in result.stdout
    assert counts["ptm_table"] == 1


def test_slurm_requests_per_rule_from_params(tmp_path):
    """Baselines select real images (no GPU), data and report jobs too; GPU rules ask for one GPU; memory per rule
    and a CPU partition come from params (issue 13); time limits from the cost model (issue 12)."""
    extra = tmp_path / "resources.yaml"
    extra.write_text("resources: {cpu_partition: cpuq, mem_mb: {select: 3000}}\n")
    result = snakemake("-n", "--forceall", "--configfile", "params.yaml", str(extra), "--config", "grid=demo")
    assert result.returncode == 0, result.stderr
    blocks = result.stdout.split("\n\n")

    def resources_of(rule):
        found = [b for b in blocks if re.search(rf"^\s*(local)?rule {rule}:", b, re.MULTILINE)]
        assert found, rule
        return [line for b in found for line in b.splitlines() if "resources:" in line]

    for line in resources_of("select"):
        assert "gpu" not in line and "slurm_partition=cpuq" in line and "mem_mb=3000" in line
    for rule in ("biased_dataset", "clean_dataset", "report", "bias_table"):
        assert all("gpu" not in line and "slurm_partition=cpuq" in line for line in resources_of(rule)), rule
    for rule in ("distill", "evaluate", "zoo_model"):
        assert all("gpu=1" in line and "slurm_partition" not in line for line in resources_of(rule)), rule
    # demo size (issue 21): 5 biased variants × random/herding/full; DC/DSA/DM on each, 11 CLoM cells, 11 debias
    # cells (DM/DC × 4 modes, MTT × 3), MTT and IDC on the colour set at ratio 0.95
    assert job_counts(result.stdout)["select"] == 15
    assert job_counts(result.stdout)["distill"] == 15 + 11 + 11 + 2


def test_repro_dry_run_plans_every_published_cell_in_its_own_folder():
    """The repro grid (issues 20, 22, 40): 18 variants (clean Fashion-MNIST and MNIST; FG/BG at FairDD's seed 30 and
    the seed-42 draw; C-MNIST FG/BG; CMNIST-DD at 6 + 2 ratios; the Fashion-MNIST colour pair); the published cells
    and the fair-DD comparison on FG and BG (DM: none, fairdd, cobra, kde
    at the median bandwidth and at h = 0.2, oracle; DC at 200 iterations: none, fairdd, cobra; a KDE embedding PTM per
    variant, two weights each; the whole set of each, bias amplification's baseline), one evaluation each, all under
    results/repro/."""
    result = snakemake("-n", "--forceall", "--config", "grid=repro")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    assert counts["biased_dataset"] == 16 and counts["clean_dataset"] == 2
    assert counts["distill"] == 48 and counts["select"] == 20 and counts["evaluate"] == 68
    assert counts["report"] == 1 and counts["zoo_model"] == 2 and counts["kde_weights"] == 4
    outputs = re.findall(r"output: (\S+)", result.stdout)
    produced = [o for o in outputs if not o.startswith("data/datasets/")]  # every grid's datasets are shared
    assert produced and all(o.startswith("results/repro/") for o in produced), produced
    # its PTMs and KDE weights too: committed with the grid, never trained again on the next machine
    assert "results/repro/zoo/fashion-mnist-fg-color-r0.9-s1-tuniform/ConvNet/init0" in outputs
    assert "results/repro/evaluations/fashion-mnist-fg-color-r0.9-s1-tuniform/dm_ipc10_fairdd/ConvNet.json" in outputs
    assert "results/repro/synthetic/fashion-mnist-bg-color-r0.9-s1-tuniform/dm_ipc10_kde-h0.2" in outputs
    assert "results/repro/weights/fashion-mnist-bg-color-r0.9-s1-tuniform/kde-ConvNet-i0-e5-b1-h0.2.npz," in outputs


def test_ptm_dry_run_plans_the_study_around_its_centre():
    """The ptm grid (issue 41): clean Fashion-MNIST and MNIST; 8 PTM jobs (5 ConvNets, LeNet and AlexNet on
    Fashion-MNIST, one MNIST ConvNet); DM IPC 10 and DC IPC 1 each plain, at the centre and at 9 axis values; every
    set evaluated with ConvNet, the centre and plain sets also across architectures — MLP, LeNet and AlexNet for
    both methods, VGG11 and ResNet18 for DC's only (two cross_arch blocks) — all under results/ptm/."""
    result = snakemake("-n", "--forceall", "--config", "grid=ptm")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    assert counts["clean_dataset"] == 2 and counts["zoo_model"] == 8
    assert counts["distill"] == 22 and counts["evaluate"] == 22 + 4 * 3 + 2 * 2
    outputs = re.findall(r"output: (\S+)", result.stdout)
    assert all(o.startswith(("results/ptm/", "data/datasets/")) for o in outputs)
    centre = "dc_ipc1_clom-ce-fashion-mnist-clean-ConvNet-i1-e20-a1000"
    assert f"results/ptm/evaluations/fashion-mnist-clean/{centre}/ResNet18.json" in outputs
    assert "results/ptm/evaluations/fashion-mnist-clean/dm_ipc10/VGG11.json" not in outputs
    assert "results/ptm/zoo/mnist-clean/ConvNet/init0" in outputs


def test_a_cells_job_settings_are_what_its_rule_runs():
    """`ddstudy params args` (for scripts that rerun a cell with one knob changed) prints exactly the settings the
    grid's distill and evaluate jobs of the cell run with, and their timing records go beside the benchmarks."""
    cell = "fashion-mnist-fg-color-r0.9-s1-tuniform/dc_ipc1_cobra"
    target = f"results/repro/evaluations/{cell}/ConvNet.json"
    result = snakemake(target, "-n", "-p", "--forceall", "--config", "grid=repro")
    assert result.returncode == 0, result.stderr
    for job in ("distill", "evaluate"):
        printed = subprocess.run(
            [str(SNAKEMAKE.parent / "ddstudy"), "params", "args", job, "--grid", "repro", "--cell", cell],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert printed.returncode == 0, printed.stderr
        settings = printed.stdout.strip()
        assert "--device auto --compile --precision fp32" in settings
        assert f" {job} {settings} " in result.stdout, (job, settings)
        where = f"results/repro/benchmarks/{job}/{cell}" + ("" if job == "distill" else "/ConvNet") + ".timing.json"
        assert f"--timing {where} " in result.stdout
    assert "--debias cobra" in result.stdout and "--num-eval 10" in result.stdout


def test_the_ptm_and_weights_jobs_of_a_kde_cell_write_timing_records():
    """The zoo and KDE weights jobs a cell waits for keep their time beside the benchmarks (the prerequisites of the
    cell's wall in the reports)."""
    dataset = "fashion-mnist-fg-color-r0.9-s1-tuniform"
    target = f"results/repro/evaluations/{dataset}/dm_ipc10_kde/ConvNet.json"
    result = snakemake(target, "-n", "-p", "--forceall", "--config", "grid=repro")
    assert result.returncode == 0, result.stderr
    assert f"--timing results/repro/benchmarks/zoo/{dataset}/ConvNet/init0.timing.json " in result.stdout
    assert f"--timing results/repro/benchmarks/weights/{dataset}/kde-ConvNet-i0-e5-b1.timing.json " in result.stdout
