"""ConvNet, the DD field's default network (reference ``networks.ConvNet``; Gidaris & Komodakis 2018).

Default: width 128, depth 3, ReLU, instance norm (GroupNorm(C, C)), 2×2 average pooling — 320,010 parameters on
3×32×32 with 10 classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ddstudy.errors import DDStudyError
from ddstudy.models.layers import ACTIVATIONS, NORMS, POOLINGS, first_padding, pick


@dataclass(frozen=True)
class ConvNetConfig:
    width: int = 128
    depth: int = 3
    act: str = "relu"
    norm: str = "instance"
    pooling: str = "avg"


class ConvNet(nn.Module):
    def __init__(self, channels: int, num_classes: int, image_size: int, config: ConvNetConfig = ConvNetConfig()):
        super().__init__()
        layers: list[nn.Module] = []
        make_act = pick(ACTIVATIONS, config.act, "activation")
        make_norm = pick(NORMS, config.norm, "norm")
        make_pool = pick(POOLINGS, config.pooling, "pooling")
        in_channels = channels
        size = image_size + 2 * first_padding(image_size, 3, 1) - 2  # 28 → 32 as the reference
        for depth in range(config.depth):
            padding = first_padding(image_size, 3, 1) if depth == 0 else 1
            layers.append(nn.Conv2d(in_channels, config.width, kernel_size=3, padding=padding))
            norm = make_norm((config.width, size, size))
            if norm is not None:
                layers.append(norm)
            layers.append(make_act())
            pool = make_pool()
            if pool is not None and size < 2:
                raise DDStudyError(
                    f"ConvNet depth {config.depth} pools {config.depth} times: too deep for {image_size}-px inputs "
                    f"(the feature map is {size}×{size} before pool {depth + 1}); use depth ≤ {depth}"
                )
            if pool is not None:
                layers.append(pool)
                size //= 2
            in_channels = config.width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(config.width * size * size, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))
