"""VGG11 / VGG11BN as in the reference ``networks.VGG`` (instance norm = GroupNorm(C, C) by default)."""

from __future__ import annotations

import torch
from torch import nn

from ddstudy.models.layers import first_padding, instance_or_batch

VGG_PLANS = {
    "VGG11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "VGG13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "VGG16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


class VGG(nn.Module):
    def __init__(self, plan: str, channels: int, num_classes: int, image_size: int, norm: str = "instance"):
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = channels
        for index, item in enumerate(VGG_PLANS[plan]):
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                continue
            padding = first_padding(image_size, 3, 1) if index == 0 else 1
            layers += [
                nn.Conv2d(in_channels, item, kernel_size=3, padding=padding),
                instance_or_batch(item, norm),
                nn.ReLU(inplace=True),
            ]
            in_channels = item
        layers.append(nn.AvgPool2d(kernel_size=1, stride=1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))
