"""One training epoch over in-memory tensors — the reference's ``epoch('train', ...)``, shared by the zoo, the
DC/DSA inner loop and the evaluation protocol."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

Augment = Callable[[torch.Tensor], torch.Tensor]


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    order: torch.Generator,
    device: torch.device,
    augment: Augment | None = None,
) -> tuple[float, float]:
    """One pass in a seeded random order (``shuffle=True``); returns (mean loss, accuracy) weighted by batch size."""
    model.train()
    permutation = torch.randperm(len(labels), generator=order)
    total_loss, total_correct = 0.0, 0
    for start in range(0, len(labels), batch_size):
        index = permutation[start : start + batch_size]
        x, y = images[index.to(images.device)].to(device), labels[index.to(labels.device)].to(device)
        if augment is not None:
            x = augment(x)
        output = model(x)
        loss = F.cross_entropy(output, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += float(loss.detach()) * len(index)
        total_correct += int((output.argmax(1) == y).sum())
    return total_loss / len(labels), total_correct / len(labels)
