"""MLP, LeNet and AlexNet(BN) as in the reference ``networks.py`` (DatasetCondensation; DDInterpreter's copy).

``embed`` is the penultimate activation; the reference defines it for AlexNet only, we add it to MLP (128-d) and
LeNet (84-d) so every model can serve as a CLoM feature extractor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ddstudy.models.layers import first_padding


class MLP(nn.Module):
    def __init__(self, channels: int, num_classes: int, image_size: int):
        super().__init__()
        self.fc_1 = nn.Linear(channels * image_size * image_size, 128)
        self.fc_2 = nn.Linear(128, 128)
        self.fc_3 = nn.Linear(128, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc_2(F.relu(self.fc_1(x.flatten(1)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_3(self.embed(x))


class LeNet(nn.Module):
    def __init__(self, channels: int, num_classes: int, image_size: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 6, kernel_size=5, padding=first_padding(image_size, 2, 0)),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.fc_1 = nn.Linear(16 * 5 * 5, 120)
        self.fc_2 = nn.Linear(120, 84)
        self.fc_3 = nn.Linear(84, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x).flatten(1)
        return F.relu(self.fc_2(F.relu(self.fc_1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_3(self.embed(x))


class AlexNet(nn.Module):
    """The reference's 32×32 AlexNet (5 convs, 3 max-pools, one linear layer); ``batch_norm`` gives AlexNetBN."""

    def __init__(self, channels: int, num_classes: int, image_size: int, batch_norm: bool = False):
        super().__init__()
        plan = [  # (out_channels, kernel, padding, pool after)
            (128, 5, first_padding(image_size, 4, 2), True),
            (192, 5, 2, True),
            (256, 3, 1, False),
            (192, 3, 1, False),
            (192, 3, 1, True),
        ]
        layers: list[nn.Module] = []
        in_channels = channels
        for out_channels, kernel, padding, pool in plan:
            layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=kernel, stride=1, padding=padding))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
            if pool:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            in_channels = out_channels
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(192 * 4 * 4, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embed(x))
