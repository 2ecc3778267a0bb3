"""Accuracy of a network on a split: overall, per class, and on bias-aligned / bias-conflicting samples.

The reference reports only overall test accuracy; the bias study needs the two groups separately. A group with
no samples (e.g. aligned samples of the reference's all-conflicting test set) is reported as ``None``, never 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ddstudy.accel import ORACLE, Accel
from ddstudy.lazy import lazy

torch = lazy("torch")
nn = lazy("torch.nn")

if TYPE_CHECKING:  # a type only: base modules import no stage (import-linter contract in pyproject.toml)
    from ddstudy.data.tensors import TensorSplit


# Test-set chunks per device: on a CPU a chunk whose feature maps fit in cache is 2-3x faster than 1000 images
# (one thread, 5,000 test images: ConvNetW32 4.7 s at 1000, 1.6 s at 32; ConvNet-128 on 2,000: 8.7 s vs 5.0 s;
# docs/performance.md); a GPU wants large batches. Predictions do not depend on the chunking (instance norm; test).
PREDICT_BATCH = {"cpu": 32}
PREDICT_BATCH_DEFAULT = 1000


def predict(
    model: nn.Module,
    images: torch.Tensor,
    device: torch.device,
    batch_size: int | None = None,
    accel: Accel = ORACLE,
) -> torch.Tensor:
    """Predicted classes, in eval mode under ``inference_mode`` (no autograd bookkeeping), chunks of ``batch_size``
    (unset: :data:`PREDICT_BATCH` for the device — 1000 × a ConvNet-128 feature map of 32×32 is ~0.5 GB on a GPU);
    ``model`` may be a compiled view (``accel.net``)."""
    if batch_size is None:
        batch_size = PREDICT_BATCH.get(torch.device(device).type, PREDICT_BATCH_DEFAULT)
    was_training = model.training
    model.eval()
    with torch.inference_mode(), accel.autocast(device):
        out = [model(images[i : i + batch_size].to(device)).argmax(1) for i in range(0, len(images), batch_size)]
    model.train(was_training)
    return torch.cat(out).cpu() if out else torch.empty(0, dtype=torch.long)


def _mean_or_none(values: torch.Tensor) -> float | None:
    return float(values.float().mean()) if len(values) else None


def group_accuracy(correct: torch.Tensor, labels: torch.Tensor, attrs: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Accuracy of every (attribute, class) cell, [attributes, classes] float64; NaN where a cell has no samples.
    (FairDD's ``epoch_Fairness_Metric``: ``eval_true_count[g, l] / eval_data_count[g, l]``.)"""
    groups = int(attrs.max()) + 1 if len(attrs) else 0
    table = torch.full((max(groups, num_classes), num_classes), float("nan"), dtype=torch.float64)
    for g in range(table.shape[0]):
        for c in range(num_classes):
            cell = (attrs == g) & (labels == c)
            if cell.any():
                table[g, c] = correct[cell].double().mean()
    return table


def fairness(table: torch.Tensor) -> dict:
    """From the (attribute × class) accuracies: ``worst_group_acc`` (the lowest non-empty cell) and FairDD's
    equalized-odds gaps — per class the max minus the min accuracy over attributes, then ``deo_m`` their max over
    classes and ``deo_a`` their mean (FairDD ``utils.py``: ``max_Equalized_Odds`` / ``mean_Equalized_Odds``).
    These are the "Equalized-Odds gap, max / mean" that FairDD and COBRA report (COBRA's ``epoch_Fairness_Metric``
    is FairDD's): the accuracy of the (attribute, class) cell is the true-positive rate of that class within that
    group, so DEO_M / DEO_A *are* EO max / mean — one implementation, two names in the tables.
    FairDD counts an empty cell as accuracy 0 (its denominator is 1e-8); empty cells are skipped here, which is the
    same wherever every cell has samples (``test_attrs: uniform``) and keeps the all-conflicting reference test set,
    whose aligned cells are empty, from reading as maximally unfair (docs/deviations.md F4)."""
    present = ~torch.isnan(table)
    if not present.any():
        return {"worst_group_acc": None, "deo_m": None, "deo_a": None}
    gaps = []
    for c in range(table.shape[1]):
        column = table[present[:, c], c]
        if len(column):
            gaps.append(float(column.max() - column.min()))
    return {
        "worst_group_acc": float(table[present].min()),
        "deo_m": max(gaps),
        "deo_a": sum(gaps) / len(gaps),
    }


def sufficiency(preds: torch.Tensor, labels: torch.Tensor, attrs: torch.Tensor, num_classes: int) -> dict:
    """COBRA's sufficiency gaps (``utils.py`` ``epoch_Fairness_Metric_suff``): per predicted class ``l`` and group
    ``g`` the precision P(y = l | ŷ = l, a = g) — the share of group-``g`` samples predicted ``l`` that are ``l`` —
    then per class the max minus the min over groups; ``suff_m`` their max over classes, ``suff_a`` their mean.

    Like COBRA, a group that never receives prediction ``l`` counts as precision 0 there (its denominator is 1e-8),
    so a network that predicts a class only for its bias-aligned group is maximally insufficient for it. Groups with
    no samples at all in the split are left out (COBRA's loop runs over every group index): the reference's
    all-conflicting test set lacks the aligned groups, which would otherwise read as precision 0 everywhere
    (docs/deviations.md F4). COBRA's 1e-8 on non-empty denominators shifts values by < 1e-7 and is not added."""
    groups = sorted(int(g) for g in torch.unique(attrs[attrs >= 0]))
    if not groups:
        return {"suff_m": None, "suff_a": None}
    gaps = []
    for c in range(num_classes):
        precisions = []
        for g in groups:
            predicted = (attrs == g) & (preds == c)
            n = int(predicted.sum())
            precisions.append(float((labels[predicted] == c).double().mean()) if n else 0.0)
        gaps.append(max(precisions) - min(precisions))
    return {"suff_m": max(gaps), "suff_a": sum(gaps) / len(gaps)}


def accuracy_report(
    model: nn.Module, split: TensorSplit, device: torch.device, num_classes: int, accel: Accel = ORACLE
) -> dict:
    """Fractions in [0, 1]: ``acc``, ``acc_aligned``, ``acc_conflicting`` (None when the group is empty or the split
    has no bias attribute), ``acc_per_class``, and on a split with attributes the fairness measures of
    :func:`fairness` (worst-group accuracy, DEO_M, DEO_A) and :func:`sufficiency` (SUFF_M, SUFF_A)."""
    preds = predict(model, split.images, device, accel=accel)
    correct = preds == split.labels
    has_attrs = bool((split.attrs >= 0).any())
    report = {
        "acc": _mean_or_none(correct),
        "acc_aligned": _mean_or_none(correct[split.aligned]) if has_attrs else None,
        "acc_conflicting": _mean_or_none(correct[~split.aligned]) if has_attrs else None,
        "acc_per_class": [_mean_or_none(correct[split.labels == c]) for c in range(num_classes)],
        "n": int(len(correct)),
        "n_aligned": int(split.aligned.sum()) if has_attrs else 0,
    }
    if has_attrs:
        report |= fairness(group_accuracy(correct, split.labels, split.attrs, num_classes))
        report |= sufficiency(preds, split.labels, split.attrs, num_classes)
    return report
