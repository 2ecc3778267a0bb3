"""What a grid costs before it runs: each job's work in FLOPs, its time limit, and the grid's device-hours.

Work is counted, not guessed. One forward pass of an architecture on one image is counted once with torch's FLOP
counter (on the meta device: no memory, no compute; cached per architecture and shape); a job's work is the number
of forward and backward passes its loops make, with a backward costing two forwards (three for the double backward
of DC/DSA's synthetic side). Time is work divided by the sustained throughput of the device kind — params
``throughput_gflops`` (the CPU figure is what ``ddstudy bench`` measures on this 2-core machine's oracle path; set
the CUDA figure from ``ddstudy bench --device cuda --json`` on your nodes) — plus a fixed start-up per job.

Slurm time limits (``runtime`` of each rule) are the estimate × ``safety`` (default 3: timings on shared nodes vary,
and a job that hits its limit resumes from its checkpoint when Slurm's retry resubmits it), at least 10 minutes.
``ddstudy plan`` prints the per-stage jobs and device-hours of a grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from ddstudy.data.build import VariantSpec
from ddstudy.distill.registry import method_spec
from ddstudy.distill.settings import BACKWARD

# Nominal sizes of each source: (train images, test images, grey channels, image size, classes).
SOURCE_SIZES = {
    "mnist": (60000, 10000, 1, 28, 10),
    "fashion-mnist": (60000, 10000, 1, 28, 10),
    "cifar10": (50000, 10000, 3, 32, 10),
    "cifar100": (50000, 10000, 3, 32, 100),
}


@dataclass(frozen=True)
class CostModel:
    """Sustained GFLOP/s per device kind, start-up seconds per job, and the safety factor of time limits."""

    throughput_gflops: tuple[tuple[str, float], ...] = (("cpu", 100.0), ("cuda", 2000.0))
    startup_s: float = 30.0
    safety: float = 3.0
    min_minutes: int = 10

    def gflops(self, device_kind: str) -> float:
        return dict(self.throughput_gflops)[device_kind]

    def compute_seconds(self, flops: float, device_kind: str) -> float:
        return flops / (self.gflops(device_kind) * 1e9)

    def seconds(self, flops: float, device_kind: str) -> float:
        return self.compute_seconds(flops, device_kind) + self.startup_s

    def minutes(self, flops: float, device_kind: str) -> int:
        """A Slurm time limit (minutes) for a job of ``flops`` on ``device_kind``."""
        return max(self.min_minutes, math.ceil(self.safety * self.seconds(flops, device_kind) / 60))


@cache
def forward_flops(arch: str, channels: int, size: int, num_classes: int) -> int:
    """FLOPs of one forward pass of ``arch`` on one image (counted on the meta device)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ddstudy.models import build_model

    with torch.device("meta"):
        net = build_model(arch, channels, num_classes, size, seed=0)
        x = torch.empty(1, channels, size, size)
        with FlopCounterMode(display=False) as counter:
            net(x)
    return counter.get_total_flops()


def variant_sizes(spec: VariantSpec) -> tuple[int, int, tuple[int, int, int], int]:
    """(train images, test images, image shape, classes) of a dataset variant, from its spec."""
    train, test, channels, size, classes = SOURCE_SIZES[spec.source]
    if spec.train_per_class:
        train = min(train, spec.train_per_class * classes)
    if spec.test_per_class:
        test = min(test, spec.test_per_class * classes)
    if spec.bias != "none":
        channels = 3  # colour and corruption biases make RGB images
    return train, test, (channels, size, size), classes


def zoo_flops(model, spec: VariantSpec) -> float:
    """PTM training: epochs over the training set (forward + backward), the test set at every saved epoch."""
    train, test, (channels, size, _), classes = variant_sizes(spec)
    f = forward_flops(model.job.arch, channels, size, classes)
    config = model.config
    return f * (config.epochs * train * (1 + BACKWARD) + len(config.epochs_to_save) * test)


def distill_flops(cell, spec: VariantSpec) -> float:
    """One synthetic set: the method's own count (its registry entry's ``cost``) plus CLoM's PTM passes."""
    train, _, (channels, size, _), classes = variant_sizes(spec)
    config = cell.config
    f = forward_flops(config.model, channels, size, classes)
    syn = config.ipc
    total, steps = method_spec(config.method).cost(config, train // classes, classes, f)
    if cell.clom is not None:
        ptm = max(forward_flops(a, channels, size, classes) for a in cell.clom.archs)
        batch = cell.clom.batch_size if cell.clom.distance == "cos" or cell.clom.ce_form == "paper" else 0
        total += steps * cell.clom.samples_per_step * (classes * syn * (1 + BACKWARD) + batch) * ptm
    return total


def evaluate_flops(cell, arch: str, spec: VariantSpec, eval_config) -> float:
    """``num_eval`` networks trained ``epochs + 1`` passes over the synthetic set, then scored on the test set."""
    train, test, (channels, size, _), classes = variant_sizes(spec)
    f = forward_flops(arch, channels, size, classes)
    images = train if cell.config.method == "full" else cell.config.ipc * classes
    resolved = eval_config.resolved(cell.config.method)
    return resolved.num_eval * ((resolved.epochs + 1) * images * (1 + BACKWARD) + test) * f


def plan(study, model: CostModel, device_kind: str) -> list[dict]:
    """Jobs and estimated device-hours per stage of a grid."""
    variants = {spec.name: spec for spec in study.variants}
    stages = {
        "zoo": [zoo_flops(m, variants[m.job.dataset]) for m in study.zoo],
        "distill": [distill_flops(c, variants[c.dataset]) for c in study.cells],
        "evaluate": [
            evaluate_flops(cell, arch, variants[cell.dataset], study.cell_eval_config(cell))
            for cell in study.cells
            for name, arch in study.evaluations
            if name == cell.name
        ],
    }
    rows = []
    for stage, work in stages.items():
        seconds = sum(model.seconds(flops, device_kind) for flops in work)
        limits = [model.minutes(flops, device_kind) for flops in work]
        rows.append(
            {
                "stage": stage,
                "jobs": len(work),
                "pflop": sum(work) / 1e15,
                "compute_hours": model.compute_seconds(sum(work), device_kind) / 3600,
                "device_hours": seconds / 3600,
                "max_limit_min": max(limits, default=0),
            }
        )
    return rows
