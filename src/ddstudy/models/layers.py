"""Small building blocks shared by the model families (activations, norms, pooling by name)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ddstudy.errors import DDStudyError


class Swish(nn.Module):
    """x · sigmoid(x) (reference ``networks.Swish``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "relu": lambda: nn.ReLU(inplace=True),
    "leakyrelu": lambda: nn.LeakyReLU(negative_slope=0.01),
    "swish": Swish,
}

# shape = (C, H, W) of the feature map the norm sees. "instance" is GroupNorm(C, C) with affine parameters,
# exactly as the reference (it is not nn.InstanceNorm2d).
NORMS: dict[str, Callable[[tuple[int, int, int]], nn.Module | None]] = {
    "none": lambda shape: None,
    "batch": lambda shape: nn.BatchNorm2d(shape[0], affine=True),
    "layer": lambda shape: nn.LayerNorm(list(shape), elementwise_affine=True),
    "instance": lambda shape: nn.GroupNorm(shape[0], shape[0], affine=True),
    "group": lambda shape: nn.GroupNorm(4, shape[0], affine=True),
}

POOLINGS: dict[str, Callable[[], nn.Module | None]] = {
    "none": lambda: None,
    "max": lambda: nn.MaxPool2d(kernel_size=2, stride=2),
    "avg": lambda: nn.AvgPool2d(kernel_size=2, stride=2),
}


def pick(table: dict, key: str, what: str):
    try:
        return table[key]
    except KeyError:
        raise DDStudyError(f"unknown {what} '{key}'; choose one of: {', '.join(table)}") from None


def instance_or_batch(channels: int, norm: str) -> nn.Module:
    """The reference VGG/ResNet choice: GroupNorm(C, C) for 'instancenorm', BatchNorm2d otherwise."""
    return nn.GroupNorm(channels, channels, affine=True) if norm == "instance" else nn.BatchNorm2d(channels)


def first_padding(image_size: int, for_28: int, for_32: int) -> int:
    """Padding of a network's first layer: the reference pads 28×28 (MNIST) inputs so that the feature maps are
    those of a 32×32 input. It keys this on ``channel == 1``; we key it on the image size, which gives the same
    networks for 1×28×28 and 3×32×32 and also works for 3×28×28 (coloured MNIST-like data), where the
    reference's shapes would not fit its classifier."""
    return for_28 if image_size == 28 else for_32
