"""Differentiable Siamese Augmentation (DSA; Zhao & Bilen, ICML 2021), driven by a strategy string.

Mirrors ``DiffAugment`` / ``ParamDiffAug`` of VICO-UoE/DatasetCondensation ``utils.py`` in its default
single mode (``aug_mode='S'``): each call picks one family from the strategy (``color``, ``crop``, ``cutout``,
``flip``, ``scale``, ``rotate``) and applies its transforms with the reference parameters. Randomness comes from an
explicit ``torch.Generator`` instead of re-seeding the global RNG with wall-clock seeds:

* ``siamese=True`` (distillation): one draw for the whole batch; calling twice with generators seeded alike gives
  the real and the synthetic batch the *same* transform (the point of DSA).
* ``siamese=False`` (training on synthetic data during evaluation): one draw per image.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ddstudy.errors import DDStudyError
from ddstudy.lazy import lazy

torch = lazy("torch")
F = lazy("torch.nn.functional")

DEFAULT_STRATEGY = "color_crop_cutout_flip_scale_rotate"


@dataclass(frozen=True)
class DSAParams:
    """Reference ``ParamDiffAug`` values."""

    prob_flip: float = 0.5
    ratio_scale: float = 1.2
    ratio_rotate: float = 15.0
    ratio_crop_pad: float = 0.125
    ratio_cutout: float = 0.5
    brightness: float = 1.0
    saturation: float = 2.0
    contrast: float = 0.5


def _uniform(x: torch.Tensor, g: torch.Generator, siamese: bool) -> torch.Tensor:
    """One U[0,1) per image, or one for the whole batch when siamese (on the CPU, then moved)."""
    n = 1 if siamese else x.shape[0]
    return torch.rand(n, generator=g).expand(x.shape[0]).to(x.device)


def _randint(low: int, high: int, x: torch.Tensor, g: torch.Generator, siamese: bool) -> torch.Tensor:
    n = 1 if siamese else x.shape[0]
    return torch.randint(low, high, (n,), generator=g).expand(x.shape[0]).to(x.device)


def _affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


def rand_scale(x, p: DSAParams, g, siamese):
    ratio = p.ratio_scale
    sx = _uniform(x, g, siamese) * (ratio - 1.0 / ratio) + 1.0 / ratio
    sy = _uniform(x, g, siamese) * (ratio - 1.0 / ratio) + 1.0 / ratio
    zeros = torch.zeros_like(sx)
    theta = torch.stack([torch.stack([sx, zeros, zeros], 1), torch.stack([zeros, sy, zeros], 1)], 1)
    return _affine(x, theta)


def rand_rotate(x, p: DSAParams, g, siamese):
    angle = (_uniform(x, g, siamese) - 0.5) * 2 * p.ratio_rotate / 180 * math.pi
    cos, sin, zeros = torch.cos(angle), torch.sin(angle), torch.zeros_like(angle)
    theta = torch.stack([torch.stack([cos, -sin, zeros], 1), torch.stack([sin, cos, zeros], 1)], 1)
    return _affine(x, theta)


def rand_flip(x, p: DSAParams, g, siamese):
    flip = (_uniform(x, g, siamese) < p.prob_flip).view(-1, 1, 1, 1)
    return torch.where(flip, x.flip(3), x)


def rand_brightness(x, p: DSAParams, g, siamese):
    return x + (_uniform(x, g, siamese).view(-1, 1, 1, 1) - 0.5) * p.brightness


def rand_saturation(x, p: DSAParams, g, siamese):
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_uniform(x, g, siamese).view(-1, 1, 1, 1) * p.saturation) + mean


def rand_contrast(x, p: DSAParams, g, siamese):
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_uniform(x, g, siamese).view(-1, 1, 1, 1) + p.contrast) + mean


def rand_crop(x, p: DSAParams, g, siamese):
    """Pad by one pixel and translate by up to 1/8 of the size (reference ``rand_crop``)."""
    shift_x, shift_y = int(x.size(2) * p.ratio_crop_pad + 0.5), int(x.size(3) * p.ratio_crop_pad + 0.5)
    tx = _randint(-shift_x, shift_x + 1, x, g, siamese).view(-1, 1, 1)
    ty = _randint(-shift_y, shift_y + 1, x, g, siamese).view(-1, 1, 1)
    batch, gx, gy = torch.meshgrid(
        torch.arange(x.size(0), device=x.device),
        torch.arange(x.size(2), device=x.device),
        torch.arange(x.size(3), device=x.device),
        indexing="ij",
    )
    gx = torch.clamp(gx + tx + 1, 0, x.size(2) + 1)
    gy = torch.clamp(gy + ty + 1, 0, x.size(3) + 1)
    padded = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return padded.permute(0, 2, 3, 1).contiguous()[batch, gx, gy].permute(0, 3, 1, 2)


def rand_cutout(x, p: DSAParams, g, siamese):
    size = int(x.size(2) * p.ratio_cutout + 0.5), int(x.size(3) * p.ratio_cutout + 0.5)
    ox = _randint(0, x.size(2) + (1 - size[0] % 2), x, g, siamese).view(-1, 1, 1)
    oy = _randint(0, x.size(3) + (1 - size[1] % 2), x, g, siamese).view(-1, 1, 1)
    batch, gx, gy = torch.meshgrid(
        torch.arange(x.size(0), device=x.device),
        torch.arange(size[0], device=x.device),
        torch.arange(size[1], device=x.device),
        indexing="ij",
    )
    gx = torch.clamp(gx + ox - size[0] // 2, min=0, max=x.size(2) - 1)
    gy = torch.clamp(gy + oy - size[1] // 2, min=0, max=x.size(3) - 1)
    mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype, device=x.device)
    mask[batch, gx, gy] = 0
    return x * mask.unsqueeze(1)


AUGMENT_FAMILIES: dict[str, list[Callable]] = {
    "color": [rand_brightness, rand_saturation, rand_contrast],
    "crop": [rand_crop],
    "cutout": [rand_cutout],
    "flip": [rand_flip],
    "scale": [rand_scale],
    "rotate": [rand_rotate],
}


def check_strategy(strategy: str) -> str:
    if strategy in ("", "none", "None"):
        return "none"
    unknown = [part for part in strategy.split("_") if part not in AUGMENT_FAMILIES]
    if unknown:
        raise DDStudyError(f"unknown DSA augmentation '{unknown[0]}' in '{strategy}'; use {'_'.join(AUGMENT_FAMILIES)}")
    return strategy


def diff_augment(
    x: torch.Tensor, strategy: str, generator: torch.Generator, siamese: bool, params: DSAParams = DSAParams()
) -> torch.Tensor:
    """Apply one randomly chosen augmentation family of ``strategy`` (differentiable w.r.t. ``x``)."""
    if check_strategy(strategy) == "none":
        return x
    families = strategy.split("_")
    family = families[int(torch.randint(0, len(families), (1,), generator=generator))]
    for transform in AUGMENT_FAMILIES[family]:
        x = transform(x, params, generator, siamese)
    return x.contiguous()
