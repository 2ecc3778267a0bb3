"""The cost model: counted FLOPs, per-job work by hand, time limits and the grid plan."""

import pytest

from ddstudy.cost import CostModel, distill_flops, evaluate_flops, forward_flops, plan, variant_sizes, zoo_flops
from ddstudy.study import load_study
from ddstudy.workflow import distill_minutes, evaluate_minutes, zoo_minutes


def test_forward_flops_counted():
    # ConvNet-128 on a 1×28×28 image: ~97 MFLOP (conv2 at 16×16 dominates), the figure in shared/NOTES.md.
    assert forward_flops("ConvNet", 1, 28, 10) == pytest.approx(96.8e6, rel=0.01)
    # conv layers scale with width² (conv2/3) and width (conv1): W32 is ~1/13 of W128
    assert forward_flops("ConvNetW32", 1, 28, 10) < forward_flops("ConvNet", 1, 28, 10) / 10


def test_job_work_by_hand():
    study = load_study("params.yaml", "demo")
    cell = next(c for c in study.cells if c.config.method == "dm" and not c.clom)
    spec = study.variant(cell.dataset)
    train, test, (channels, size, _), classes = variant_sizes(spec)
    assert (train, test, channels, size, classes) == (3000, 2000, 3, 28, 10)
    f = forward_flops(cell.config.model, channels, size, classes)
    # DM: per iteration and class, batch_real forwards (no backward) + ipc forwards and backwards (×3)
    per_iteration = classes * (cell.config.batch_real + cell.config.ipc * 3) * f
    assert distill_flops(cell, spec) == pytest.approx(cell.config.iterations * per_iteration)
    arch = "ConvNetW32"
    resolved = study.eval_config("dm").resolved("dm")
    expected = resolved.num_eval * ((resolved.epochs + 1) * 100 * 3 + test) * forward_flops(arch, channels, size, 10)
    assert evaluate_flops(cell, arch, spec, study.eval_config("dm")) == pytest.approx(expected)
    model = study.zoo[0]
    zoo_spec = study.variant(model.job.dataset)
    f_zoo = forward_flops(model.job.arch, channels, size, 10)
    expected_zoo = f_zoo * (model.config.epochs * train * 3 + len(model.config.epochs_to_save) * test)
    assert zoo_flops(model, zoo_spec) == pytest.approx(expected_zoo)


def test_time_limits_and_plan():
    model = CostModel(throughput_gflops=(("cpu", 100.0), ("cuda", 1000.0)), startup_s=60, safety=2, min_minutes=5)
    assert model.minutes(0, "cpu") == 5  # start-up only: the minimum
    assert model.minutes(100e9 * 3600, "cpu") == 122  # one hour of compute + a minute, ×2
    assert model.minutes(100e9 * 3600, "cuda") == 14
    paper = load_study("params.yaml", "paper")
    rows = {r["stage"]: r for r in plan(paper, paper.cost, "cuda")}
    # MTT's debias modes: 48 biased variants × 3 modes × its 10 experts trained again (+1440 zoo jobs), × 3 IPCs
    # (+432 synthetic sets, +432 evaluations); COBRA: 48 variants × DC/DSA/DM × 3 IPCs (+432 sets, +432 evaluations);
    # the fair-DD block: 5 benchmarks × (DC/DM × 3 IPCs + IDC × 2 IPCs) × plain/fairdd/cobra (+120 sets, +120
    # evaluations).
    assert (rows["zoo"]["jobs"], rows["distill"]["jobs"], rows["evaluate"]["jobs"]) == (2116, 3416, 3686)
    assert rows["distill"]["device_hours"] > rows["zoo"]["device_hours"] > 0
    # Snakemake's per-job limits come from the same numbers: a DC IPC-50 cell asks for far more than a DM IPC-1.
    dataset = "cifar10-corruption-r0.95-s4"
    assert distill_minutes(paper, dataset, "dc_ipc50") > 10 * distill_minutes(paper, dataset, "dm_ipc1")
    assert evaluate_minutes(paper, dataset, "dm_ipc50", "ConvNet") > evaluate_minutes(
        paper, dataset, "dm_ipc1", "ConvNet"
    )
    assert zoo_minutes(paper, "cifar10-clean/ResNet18", 0) > zoo_minutes(paper, "cifar10-clean/ConvNet", 0)
