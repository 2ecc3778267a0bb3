"""Distillation settings: one dataclass, reference defaults per method, validated at the boundary.

Defaults (VICO-UoE/DatasetCondensation ``main.py`` for DC/DSA, ``main_DM.py`` for DM): ConvNet, batch_real 256,
batch_train 256, lr_net 0.01; DC/DSA: 1000 iterations, lr_img 0.1, init noise, distance 'ours', outer/inner loops
from ``get_loops(ipc)``; DSA adds strategy ``color_crop_cutout_flip_scale_rotate``; DM: 20000 iterations,
lr_img 1.0, init real, the same DSA strategy. The synthetic images are updated by SGD with momentum 0.5.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from ddstudy.distill.augment import DEFAULT_STRATEGY, check_strategy
from ddstudy.distill.matching import get_loops
from ddstudy.errors import DDStudyError
from ddstudy.models import check_model_name

DISTILL_METHODS = ("dc", "dsa", "dm")
BASELINES = ("random", "herding", "full")
METHODS = DISTILL_METHODS + BASELINES

METHOD_DEFAULTS: dict[str, dict] = {
    "dc": {"iterations": 1000, "lr_img": 0.1, "init": "noise", "dsa_strategy": "none"},
    "dsa": {"iterations": 1000, "lr_img": 0.1, "init": "noise", "dsa_strategy": DEFAULT_STRATEGY},
    "dm": {"iterations": 20000, "lr_img": 1.0, "init": "real", "dsa_strategy": DEFAULT_STRATEGY},
    "random": {"iterations": 0},
    "herding": {"iterations": 0},
    "full": {"iterations": 0},
}


@dataclass(frozen=True)
class DistillConfig:
    method: str
    ipc: int
    model: str = "ConvNet"
    iterations: int = 1000
    lr_img: float = 0.1
    lr_net: float = 0.01
    momentum_img: float = 0.5
    batch_real: int = 256
    batch_train: int = 256
    init: str = "noise"
    dis_metric: str = "ours"
    dsa_strategy: str = "none"
    outer_loop: int | None = None
    inner_loop: int | None = None
    checkpoint_every: int = 50
    seed: int = 42

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise DDStudyError(f"unknown method '{self.method}'; choose one of: {', '.join(METHODS)}")
        if self.ipc < 1:
            raise DDStudyError(f"IPC must be ≥ 1 image per class, got {self.ipc}")
        check_model_name(self.model)
        check_strategy(self.dsa_strategy)
        if self.init not in ("noise", "real"):
            raise DDStudyError(f"init must be 'noise' or 'real', got '{self.init}'")
        if self.dis_metric not in ("ours", "mse", "cos"):
            raise DDStudyError(f"unknown gradient distance '{self.dis_metric}'; choose ours, mse or cos")
        lowest = {"iterations": 1 if self.method in DISTILL_METHODS else 0, "batch_real": 1, "batch_train": 1}
        lowest |= {"checkpoint_every": 1, "outer_loop": 1, "inner_loop": 0}
        for name, minimum in lowest.items():
            value = getattr(self, name)
            if value is not None and value < minimum:
                what = f"{self.method} needs {name} ≥ {minimum}"
                raise DDStudyError(
                    f"{what}, got {value}" + (" (0 would store the initial images)" * (name == "iterations"))
                )
        if self.method in ("dc", "dsa") and (self.outer_loop is None or self.inner_loop is None):
            get_loops(self.ipc)  # raises a clear error for an IPC without a table entry

    @property
    def loops(self) -> tuple[int, int]:
        """(outer_loop, inner_loop): explicit values, else the reference table."""
        if self.outer_loop is not None and self.inner_loop is not None:
            return self.outer_loop, self.inner_loop
        return get_loops(self.ipc)

    @property
    def dsa(self) -> bool:
        return self.dsa_strategy != "none"

    def to_dict(self) -> dict:
        data = asdict(self)
        if self.method in ("dc", "dsa"):
            data["outer_loop"], data["inner_loop"] = self.loops
        return data


def distill_config(method: str, ipc: int, **overrides) -> DistillConfig:
    """Reference defaults for ``method``, then ``overrides`` (None values are ignored)."""
    if method not in METHOD_DEFAULTS:
        raise DDStudyError(f"unknown method '{method}'; choose one of: {', '.join(METHODS)}")
    settings = {**METHOD_DEFAULTS[method], **{k: v for k, v in overrides.items() if v is not None}}
    return DistillConfig(method=method, ipc=ipc, **settings)


def with_seed(config: DistillConfig, seed: int) -> DistillConfig:
    return replace(config, seed=seed)
