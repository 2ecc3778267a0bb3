"""From stored uint8 variants to the float tensors networks train on.

Images are scaled to [0, 1] and, by default, normalised per channel with the training split's own mean and std:
the reference trains PTMs and distils on normalised data (``get_dataset(normalize_data=True)`` with fixed
per-dataset constants); a biased variant has its own statistics, so we compute them from its training split —
unless the variant's construction fixes them (FairDD's C-FMNIST: 0.5/0.5), recorded in its meta.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ddstudy.data.meta import DatasetMeta
from ddstudy.data.store import StoredSplit
from ddstudy.lazy import lazy

torch = lazy("torch")


@dataclass(frozen=True)
class Normalization:
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @staticmethod
    def identity(channels: int) -> Normalization:
        return Normalization((0.0,) * channels, (1.0,) * channels)

    @staticmethod
    def of(images: np.ndarray) -> Normalization:
        """Per-channel mean and std of uint8 images [N, C, H, W] in [0, 1] units (float64 accumulation)."""
        scaled = images.astype(np.float64) / 255.0
        return Normalization(
            tuple(float(m) for m in scaled.mean(axis=(0, 2, 3))), tuple(float(s) for s in scaled.std(axis=(0, 2, 3)))
        )

    def apply(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(images).float() / 255.0
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)
        return (x - mean) / std

    @staticmethod
    def of_variant(meta: DatasetMeta, train_images: np.ndarray) -> Normalization:
        """A variant's normalisation: the one its construction fixes (``normalization`` in meta.json) or else the
        statistics of its training split."""
        if meta.normalization:
            return Normalization(meta.normalization["mean"], meta.normalization["std"])
        return Normalization.of(train_images)

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}


@dataclass(frozen=True)
class TensorSplit:
    images: torch.Tensor  # float32 [N, C, H, W], normalised
    labels: torch.Tensor  # int64 [N]
    attrs: torch.Tensor  # int64 [N], -1 without bias attribute
    aligned_attributes: tuple[int, ...] | None = None  # per class; None: the class (StoredSplit's)

    @property
    def aligned(self) -> torch.Tensor:
        if self.aligned_attributes is None:
            return self.attrs == self.labels
        return self.attrs == torch.tensor(self.aligned_attributes, device=self.labels.device)[self.labels]


def to_tensors(split: StoredSplit, normalization: Normalization) -> TensorSplit:
    return TensorSplit(
        normalization.apply(split.images),
        torch.from_numpy(split.labels.copy()),
        torch.from_numpy(split.attrs.copy()),
        split.aligned_attributes,
    )
