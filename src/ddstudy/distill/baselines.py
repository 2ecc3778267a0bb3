"""Coreset baselines evaluated with the same protocol as the distilled sets.

* ``random`` — ``ipc`` random real images per class (seeded).
* ``herding`` — Welling's herding (ICML 2009) in a feature space, as the DD papers' coreset baseline: greedily add
  the sample that keeps the running mean of the selected features closest to the class mean. Features are the
  ``embed`` of a network of the distillation architecture with a seeded random initialisation (no training
  data beyond the class itself is involved); see docs/deviations.md.
* ``full`` — the whole training set (the upper bound).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ddstudy.distill.real import RealPool
from ddstudy.distill.settings import MethodConfig, MethodSpec
from ddstudy.lazy import lazy
from ddstudy.models import build_model
from ddstudy.seeding import derive_seed, generator

torch = lazy("torch")


@dataclass(frozen=True)
class RandomConfig(MethodConfig):
    """``ipc`` random real images per class (``model`` only names the row's distillation network in reports)."""

    METHOD: ClassVar[str] = "random"


@dataclass(frozen=True)
class HerdingConfig(MethodConfig):
    """Herding in the feature space of a seeded random network of ``model``."""

    METHOD: ClassVar[str] = "herding"


@dataclass(frozen=True)
class FullConfig(MethodConfig):
    """The whole training set (``ipc`` unused)."""

    METHOD: ClassVar[str] = "full"


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


def select_random(pool: RealPool, config: RandomConfig, cell: str, shape: tuple[int, int, int]) -> torch.Tensor:
    ipc, seed = config.ipc, config.seed
    pool.check_ipc(ipc)
    return torch.cat([pool.sample_indices(c, ipc, generator(seed, cell, "random", c)) for c in range(pool.num_classes)])


def select_herding(pool: RealPool, config: HerdingConfig, cell: str, shape: tuple[int, int, int]) -> torch.Tensor:
    with torch.no_grad():  # inside: a decorator would import torch with this module (ddstudy.lazy)
        ipc, seed = config.ipc, config.seed
        pool.check_ipc(ipc)
        net = build_model(config.model, shape[0], pool.num_classes, shape[1], derive_seed(seed, cell, "herding-net"))
        net = net.to(pool.images.device).eval()
        selected = []
        for c in range(pool.num_classes):
            index = pool.by_class[c]
            features = torch.cat([net.embed(pool.images[index[i : i + 512]]) for i in range(0, len(index), 512)]).cpu()
            selected.append(index.cpu()[herding_order(features, ipc)])
        return torch.cat(selected)


def select_full(pool: RealPool, config: FullConfig, cell: str, shape: tuple[int, int, int]) -> torch.Tensor:
    return torch.cat([index.cpu() for index in pool.by_class])


def _herding_cost(config: HerdingConfig, per_class: int, classes: int, forward: float) -> tuple[float, int]:
    return per_class * classes * forward, 0  # one embedding pass over the training set


def _no_cost(config: MethodConfig, real: int, classes: int, forward: float) -> tuple[float, int]:
    return 0.0, 0


RANDOM = MethodSpec("random", "selects", RandomConfig, lambda: select_random, "random", "tab:gray", "v", cost=_no_cost)
HERDING = MethodSpec(
    "herding", "selects", HerdingConfig, lambda: select_herding, "herding", "tab:purple", "D", cost=_herding_cost
)
FULL = MethodSpec("full", "full", FullConfig, lambda: select_full, "full", "black", "*", cost=_no_cost)
