"""One training epoch over in-memory tensors — the reference's ``epoch('train', ...)``, shared by the zoo, the
DC/DSA inner loop and the evaluation protocol."""

from __future__ import annotations

from collections.abc import Callable

from ddstudy.accel import ORACLE, Accel
from ddstudy.lazy import lazy
from ddstudy.sgd import Sgd

torch = lazy("torch")
F = lazy("torch.nn.functional")
nn = lazy("torch.nn")

Augment = Callable[["torch.Tensor"], "torch.Tensor"]
Weigh = Callable[["torch.Tensor"], "torch.Tensor"]  # training-set indices of a batch → its sample weights


def batch_loss(output: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    """Cross-entropy of a batch: the plain mean, or Σ w·CE / Σ w with sample weights (bias mitigation of a
    network's training, :meth:`ddstudy.debias.DebiasMode.batch_weighting`)."""
    if w is None:
        return F.cross_entropy(output, y)
    w = w.to(device=output.device, dtype=torch.float32)
    return (w * F.cross_entropy(output, y, reduction="none")).sum() / w.sum()


def train_epoch(
    model: nn.Module,
    optimizer: Sgd,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    order: torch.Generator,
    device: torch.device,
    augment: Augment | None = None,
    accel: Accel = ORACLE,
    weigh: Weigh | None = None,
) -> tuple[float, float]:
    """One pass in a seeded random order (``shuffle=True``); returns (mean loss, accuracy) weighted by batch size.
    ``weigh``: per-sample loss weights of each batch (None: the reference's plain mean).

    ``model`` may be the compiled view of a network (``accel.net``); ``accel`` sets the forward's precision. Loss and
    accuracy are summed on the device and read once per epoch: no host–device synchronisation per step (the sum is
    in float64, so it equals the reference's per-step ``loss.item() * n`` in Python floats)."""
    model.train()
    permutation = torch.randperm(len(labels), generator=order)
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    total_correct = torch.zeros((), dtype=torch.int64, device=device)
    for start in range(0, len(labels), batch_size):
        index = permutation[start : start + batch_size]
        x, y = images[index.to(images.device)].to(device), labels[index.to(labels.device)].to(device)
        if augment is not None:
            x = augment(x)
        with accel.autocast(device):
            output = model(x)
            loss = batch_loss(output, y, weigh(index) if weigh is not None else None)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += loss.detach().double() * len(index)
        total_correct += (output.detach().argmax(1) == y).sum()
    return float(total_loss) / len(labels), int(total_correct) / len(labels)
