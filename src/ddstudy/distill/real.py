"""The real training images, grouped by class, sampled with explicit generators (reference ``get_images``)."""

from __future__ import annotations

from ddstudy.data.tensors import Normalization, TensorSplit
from ddstudy.errors import DDStudyError
from ddstudy.lazy import lazy

torch = lazy("torch")


class RealPool:
    def __init__(
        self, split: TensorSplit, num_classes: int, device: torch.device, normalization: Normalization | None = None
    ):
        self.normalization = normalization  # how ``images`` were normalised (IDC clamps and steps in pixel units)
        self.images = split.images.to(device)
        self.labels = split.labels.to(device)
        self.attrs = split.attrs.to(device)  # -1 without a bias attribute
        self.weights: torch.Tensor | None = None  # per-sample weights of a weighted debias mode (kde, oracle)
        self.num_classes = num_classes
        self.by_class = [torch.nonzero(split.labels == c).flatten() for c in range(num_classes)]
        for c, index in enumerate(self.by_class):
            if len(index) == 0:
                raise DDStudyError(f"class {c} has no training images; the dataset variant is incomplete")

    def class_size(self, c: int) -> int:
        return len(self.by_class[c])

    def check_ipc(self, ipc: int) -> None:
        """Selecting ``ipc`` distinct real images per class needs classes at least that large."""
        for c in range(self.num_classes):
            if self.class_size(c) < ipc:
                raise DDStudyError(
                    f"IPC {ipc} is larger than class {c} ({self.class_size(c)} training images); lower it"
                )

    def sample_indices(self, c: int, n: int, generator: torch.Generator) -> torch.Tensor:
        """Up to ``n`` distinct indices of class ``c`` (all of them, shuffled, when the class is smaller)."""
        index = self.by_class[c]
        return index[torch.randperm(len(index), generator=generator)[:n]]

    def sample(self, c: int, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.images[self.sample_indices(c, n, generator).to(self.images.device)]

    def sample_with_index(self, c: int, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, their indices into the training set) — the same draw as :meth:`sample`."""
        index = self.sample_indices(c, n, generator).to(self.images.device)
        return self.images[index], index
