"""Coreset baselines evaluated with the same protocol as the distilled sets.

* ``random`` — ``ipc`` random real images per class (seeded).
* ``herding`` — Welling's herding (ICML 2009) in a feature space, as the DD papers' coreset baseline: greedily add
  the sample that keeps the running mean of the selected features closest to the class mean. Features are the
  ``embed`` of a network of the distillation architecture with a seeded random initialisation (no training
  data beyond the class itself is involved); see docs/deviations.md.
* ``full`` — the whole training set (the upper bound).
"""

from __future__ import annotations

import torch

from ddstudy.distill.real import RealPool
from ddstudy.models import build_model
from ddstudy.seeding import derive_seed, generator


def herding_order(features: torch.Tensor, count: int) -> list[int]:
    """Indices of ``count`` rows chosen by herding: argmin_i ‖μ − (Σ_selected + f_i)/(k+1)‖ at each step."""
    mean = features.mean(0)
    chosen: list[int] = []
    running = torch.zeros_like(mean)
    available = torch.ones(len(features), dtype=torch.bool)
    for k in range(min(count, len(features))):
        candidates = (running.unsqueeze(0) + features) / (k + 1)
        distance = (candidates - mean).norm(dim=1)
        distance[~available] = float("inf")
        index = int(distance.argmin())
        chosen.append(index)
        available[index] = False
        running = running + features[index]
    return chosen


def select_random(pool: RealPool, ipc: int, seed: int, cell: str) -> torch.Tensor:
    pool.check_ipc(ipc)
    return torch.cat([pool.sample_indices(c, ipc, generator(seed, cell, "random", c)) for c in range(pool.num_classes)])


@torch.no_grad()
def select_herding(
    pool: RealPool, ipc: int, seed: int, cell: str, model: str, shape: tuple[int, int, int]
) -> torch.Tensor:
    pool.check_ipc(ipc)
    net = build_model(model, shape[0], pool.num_classes, shape[1], derive_seed(seed, cell, "herding-net"))
    net = net.to(pool.images.device).eval()
    selected = []
    for c in range(pool.num_classes):
        index = pool.by_class[c]
        features = torch.cat([net.embed(pool.images[index[i : i + 512]]) for i in range(0, len(index), 512)]).cpu()
        selected.append(index.cpu()[herding_order(features, ipc)])
    return torch.cat(selected)


def select_full(pool: RealPool) -> torch.Tensor:
    return torch.cat([index.cpu() for index in pool.by_class])
