"""Differentiable Siamese Augmentation (DSA; Zhao & Bilen, ICML 2021), driven by a strategy string.

Mirrors ``DiffAugment`` / ``ParamDiffAug`` of VICO-UoE/DatasetCondensation ``utils.py`` in its default
single mode (``aug_mode='S'``): each call picks one family from the strategy (``color``, ``crop``, ``cutout``,
``flip``, ``scale``, ``rotate``) and applies its transforms with the reference parameters. Randomness comes from an
explicit ``torch.Generator`` instead of re-seeding the global RNG with wall-clock seeds:

* ``siamese=True`` (distillation): one draw for the whole batch; calling twice with generators seeded alike gives
  the real and the synthetic batch the *same* transform (the point of DSA).
* ``siamese=False`` (training on synthetic data during evaluation): one draw per image.

The evaluation also knows DC's own (non-differentiable) augmentation, ``dc:<families>`` (:func:`dc_augment`): the
reference's ``augment`` with ``get_daparam``, which DC's ``main.py`` switches on for MNIST evaluations.
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


# ------------------------------------------------------------------------------------- DC's evaluation augmentation
DC_PREFIX = "dc:"


@dataclass(frozen=True)
class DCAugParams:
    """Reference ``get_daparam`` values (VICO-UoE/DatasetCondensation ``utils.py``)."""

    crop: int = 4
    scale: float = 0.2
    rotate: int = 45
    noise: float = 0.001


DC_FAMILIES = ("crop", "scale", "rotate", "noise")
MNIST_DC_STRATEGY = DC_PREFIX + "crop_scale_rotate"  # get_daparam's strategy for dataset == 'MNIST'


def check_eval_strategy(strategy: str) -> str:
    """An evaluation's augmentation: ``none``, a DSA strategy, or ``dc:`` + DC families (``dc:crop_scale_rotate``)."""
    if not strategy.startswith(DC_PREFIX):
        return check_strategy(strategy)
    unknown = [part for part in strategy[len(DC_PREFIX) :].split("_") if part not in DC_FAMILIES]
    if unknown:
        raise DDStudyError(
            f"unknown DC augmentation '{unknown[0]}' in '{strategy}'; use dc: + some of {'_'.join(DC_FAMILIES)}"
        )
    return strategy


def dc_augment(x: torch.Tensor, strategy: str, generator: torch.Generator, params: DCAugParams = DCAugParams()):
    """DC's evaluation augmentation (reference ``augment``): for each image, one family drawn from ``strategy``.

    Mirrors the reference step by step — crop: pad by ``crop`` with the batch's channel means and cut at an offset
    in [0, 2·crop); scale: nearest-neighbour resize to U(1±scale)·H (both sides from H, as the reference), centred
    on a zero canvas and cut back; rotate: ``scipy.ndimage.rotate`` by an integer angle in [−rotate, rotate) with
    the mean of the channel means as fill, centre-cropped; noise: + noise·N(0, 1). Draws come from ``generator``
    (the reference uses NumPy's global state). Returns a new tensor; ``x`` is left as it was."""
    from scipy.ndimage import rotate as scipy_rotate

    families = check_eval_strategy(strategy)[len(DC_PREFIX) :].split("_")
    out = x.detach().clone()
    n, c, h, w = out.shape
    means = [float(out[:, ch].mean()) for ch in range(c)]

    def uniform(low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand((), generator=generator))

    def randint(low: int, high: int) -> int:
        return int(torch.randint(low, high, (), generator=generator))

    for i in range(n):
        family = families[randint(0, len(families))]
        if family == "crop":
            k = params.crop
            canvas = torch.tensor(means, dtype=out.dtype, device=out.device)[:, None, None].repeat(
                1, h + 2 * k, w + 2 * k
            )
            canvas[:, k : k + h, k : k + w] = out[i]
            r, col = randint(0, 2 * k), randint(0, 2 * k)
            out[i] = canvas[:, r : r + h, col : col + w]
        elif family == "scale":
            sh, sw = (
                int(uniform(1 - params.scale, 1 + params.scale) * h),
                int(uniform(1 - params.scale, 1 + params.scale) * h),
            )
            resized = F.interpolate(out[i : i + 1], [sh, sw])[0]
            side = max(sh, sw, h, w)
            canvas = torch.zeros(c, side, side, dtype=out.dtype, device=out.device)
            r, col = (side - sh) // 2, (side - sw) // 2
            canvas[:, r : r + sh, col : col + sw] = resized
            r, col = (side - h) // 2, (side - w) // 2
            out[i] = canvas[:, r : r + h, col : col + w]
        elif family == "rotate":
            angle = randint(-params.rotate, params.rotate)
            turned = scipy_rotate(out[i].cpu().numpy(), angle=angle, axes=(-2, -1), cval=sum(means) / len(means))
            r, col = (turned.shape[-2] - h) // 2, (turned.shape[-1] - w) // 2
            out[i] = torch.as_tensor(turned[:, r : r + h, col : col + w], dtype=out.dtype, device=out.device)
        else:  # noise
            out[i] = out[i] + params.noise * torch.randn(out.shape[1:], generator=generator).to(out)
    return out


def training_augment(strategy: str, generator: torch.Generator) -> Callable | None:
    """The per-batch augmentation of a network trained on a fixed set (evaluation): None for ``none``, DC's
    :func:`dc_augment` for ``dc:…``, otherwise DSA with one draw per image."""
    if check_eval_strategy(strategy) == "none":
        return None
    if strategy.startswith(DC_PREFIX):
        return lambda x: dc_augment(x, strategy, generator)
    return lambda x: diff_augment(x, strategy, generator, siamese=False)
