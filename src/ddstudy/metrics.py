"""Accuracy of a network on a split: overall, per class, and on bias-aligned / bias-conflicting samples.

The reference reports only overall test accuracy; the bias study needs the two groups separately. A group with
no samples (e.g. aligned samples of the reference's all-conflicting test set) is reported as ``None``, never 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from ddstudy.accel import ORACLE, Accel

if TYPE_CHECKING:  # a type only: base modules import no stage (import-linter contract in pyproject.toml)
    from ddstudy.data.tensors import TensorSplit


def predict(
    model: nn.Module, images: torch.Tensor, device: torch.device, batch_size: int = 1000, accel: Accel = ORACLE
) -> torch.Tensor:
    """Predicted classes, in eval mode under ``inference_mode`` (no autograd bookkeeping), chunks of ``batch_size``
    (1000 × a ConvNet-128 feature map of 32×32 is ~0.5 GB); ``model`` may be a compiled view (``accel.net``)."""
    was_training = model.training
    model.eval()
    with torch.inference_mode(), accel.autocast(device):
        out = [model(images[i : i + batch_size].to(device)).argmax(1) for i in range(0, len(images), batch_size)]
    model.train(was_training)
    return torch.cat(out).cpu() if out else torch.empty(0, dtype=torch.long)


def _mean_or_none(values: torch.Tensor) -> float | None:
    return float(values.float().mean()) if len(values) else None


def accuracy_report(
    model: nn.Module, split: TensorSplit, device: torch.device, num_classes: int, accel: Accel = ORACLE
) -> dict:
    """Fractions in [0, 1]: ``acc``, ``acc_aligned``, ``acc_conflicting`` (None when the group is empty or the split
    has no bias attribute) and ``acc_per_class``."""
    correct = predict(model, split.images, device, accel=accel) == split.labels
    has_attrs = bool((split.attrs >= 0).any())
    return {
        "acc": _mean_or_none(correct),
        "acc_aligned": _mean_or_none(correct[split.aligned]) if has_attrs else None,
        "acc_conflicting": _mean_or_none(correct[~split.aligned]) if has_attrs else None,
        "acc_per_class": [_mean_or_none(correct[split.labels == c]) for c in range(num_classes)],
        "n": int(len(correct)),
        "n_aligned": int(split.aligned.sum()) if has_attrs else 0,
    }
