"""ResNet18 (instance or batch norm) and the reference's ResNet18_AP variants (stride-2 convs replaced by
stride-1 convs + 2×2 average pooling), as in ``networks.py`` of DatasetCondensation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ddstudy.models.layers import instance_or_batch


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int, norm: str, avg_pool: bool):
        super().__init__()
        self.stride, self.avg_pool = stride, avg_pool
        conv_stride = 1 if avg_pool else stride
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=conv_stride, padding=1, bias=False)
        self.bn1 = instance_or_batch(planes, norm)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = instance_or_batch(planes, norm)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            down: list[nn.Module] = [nn.Conv2d(in_planes, planes, kernel_size=1, stride=conv_stride, bias=False)]
            if avg_pool:
                down.append(nn.AvgPool2d(kernel_size=2, stride=2))
            down.append(instance_or_batch(planes, norm))
            self.shortcut = nn.Sequential(*down)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        if self.avg_pool and self.stride != 1:
            out = F.avg_pool2d(out, kernel_size=2, stride=2)
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(
        self,
        num_blocks: list[int],
        channels: int,
        num_classes: int,
        image_size: int,
        norm: str = "instance",
        avg_pool: bool = False,
    ):
        super().__init__()
        self.avg_pool = avg_pool
        self.in_planes = 64
        self.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = instance_or_batch(64, norm)
        stages = []
        for planes, blocks, stride in zip((64, 128, 256, 512), num_blocks, (1, 2, 2, 2), strict=True):
            layers = []
            for s in [stride] + [1] * (blocks - 1):
                layers.append(BasicBlock(self.in_planes, planes, s, norm, avg_pool))
                self.in_planes = planes
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        # _AP keeps the last 3×3 (28 px) or 4×4 (32 px) map and flattens it; the plain ResNet averages 4×4.
        final = image_size // 8
        self.classifier = nn.Linear(512 * final * final if avg_pool else 512, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.avg_pool2d(out, kernel_size=1, stride=1) if self.avg_pool else F.avg_pool2d(out, 4)
        return out.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))
