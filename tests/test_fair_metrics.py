"""The fair-DD metrics as FairDD and COBRA compute them: the Equalized-Odds gap (our DEO_M / DEO_A) and COBRA's
sufficiency gap, against hand-computed confusion tables and a transcription of COBRA's loops."""

from __future__ import annotations

import pytest
import torch

from ddstudy.metrics import fairness, group_accuracy, sufficiency

# (label, group, prediction) of twelve test samples, two classes, two groups
SAMPLES = [
    (0, 0, 0), (0, 0, 0), (0, 0, 1), (1, 0, 1), (1, 0, 1), (1, 0, 0),
    (0, 1, 0), (0, 1, 1), (1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 1, 1),
]  # fmt: skip


def _tensors(samples):
    labels, attrs, preds = (torch.tensor(column) for column in zip(*samples, strict=True))
    return labels, attrs, preds


def test_equalized_odds_gap_by_hand():
    """TPR per (group, class): g0 2/3, 2/3; g1 1/2, 4/4 → per-class gaps 1/6, 1/3 → EO max 1/3, mean 1/4."""
    labels, attrs, preds = _tensors(SAMPLES)
    result = fairness(group_accuracy(preds == labels, labels, attrs, num_classes=2))
    assert result["deo_m"] == pytest.approx(1 / 3)
    assert result["deo_a"] == pytest.approx(1 / 4)
    assert result["worst_group_acc"] == pytest.approx(1 / 2)


def test_sufficiency_gap_by_hand():
    """Precision per (group, predicted class): g0 2/3, 2/3; g1 1/1, 4/5 → gaps 1/3, 2/15 → max 1/3, mean 7/30."""
    labels, attrs, preds = _tensors(SAMPLES)
    result = sufficiency(preds, labels, attrs, num_classes=2)
    assert result["suff_m"] == pytest.approx(1 / 3)
    assert result["suff_a"] == pytest.approx(7 / 30)


def test_sufficiency_counts_a_never_predicted_class_as_zero_precision_and_skips_absent_groups():
    # group 1 is never predicted class 0: its precision there is 0 (COBRA's 1e-8 denominator) → gap 2/3 for class 0
    samples = [s if not (s[1] == 1 and s[2] == 0) else (s[0], 1, 1) for s in SAMPLES]
    labels, attrs, preds = _tensors(samples)
    assert sufficiency(preds, labels, attrs, 2)["suff_m"] == pytest.approx(2 / 3)
    # only group 1 in the split (group 0 absent, as aligned groups in an all-conflicting test set): no spread
    labels, attrs, preds = _tensors([s for s in SAMPLES if s[1] == 1])
    assert sufficiency(preds, labels, attrs, 2) == {"suff_m": 0.0, "suff_a": 0.0}
    # no attribute at all
    assert sufficiency(preds, labels, torch.full_like(attrs, -1), 2) == {"suff_m": None, "suff_a": None}


def _cobra_sufficiency(preds, labels, attrs, num_groups, num_classes):
    """COBRA ``utils.py`` ``epoch_Fairness_Metric_suff``, transcribed (one batch)."""
    pred_count = torch.zeros(num_groups, num_classes)
    true_count = torch.zeros(num_groups, num_classes)
    for g in range(num_groups):
        for c in range(num_classes):
            pred_count[g, c] += torch.sum((attrs == g) * (preds == c))
            true_count[g, c] += (labels == c).float()[(attrs == g) * (preds == c)].sum()
    precision = true_count / (pred_count + 1e-8)
    gap = precision.max(0)[0] - precision.min(0)[0]
    return gap.max().item(), gap.mean().item()


def _cobra_equalized_odds(preds, labels, attrs, num_groups, num_classes):
    """COBRA / FairDD ``epoch_Fairness_Metric``, transcribed (one batch)."""
    true_count = torch.zeros(num_groups, num_classes)
    data_count = torch.zeros(num_groups, num_classes)
    correct = (preds == labels).float()
    for g in range(num_groups):
        for c in range(num_classes):
            true_count[g, c] += correct[(attrs == g) * (labels == c)].sum()
            data_count[g, c] += torch.sum((attrs == g) * (labels == c)) + 1e-8
    rate = true_count / data_count
    gap = rate.max(0)[0] - rate.min(0)[0]
    return gap.max().item(), gap.mean().item()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equal_to_cobra_code_on_random_predictions(seed):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (2000,), generator=g)
    attrs = torch.randint(0, 10, (2000,), generator=g)
    preds = torch.where(torch.rand(2000, generator=g) < 0.6, labels, torch.randint(0, 10, (2000,), generator=g))
    preds[(attrs == 3) & (preds == 7)] = 2  # one (group, predicted class) cell empty, as a biased network leaves them
    ours = sufficiency(preds, labels, attrs, 10)
    assert (ours["suff_m"], ours["suff_a"]) == pytest.approx(_cobra_sufficiency(preds, labels, attrs, 10, 10), abs=1e-6)
    eo = fairness(group_accuracy(preds == labels, labels, attrs, 10))
    assert (eo["deo_m"], eo["deo_a"]) == pytest.approx(_cobra_equalized_odds(preds, labels, attrs, 10, 10), abs=1e-6)


@pytest.mark.parametrize("arch", ["ConvNetW32", "ConvNetBN"])
def test_predictions_do_not_depend_on_the_chunking(arch):
    """The CPU scores the test set in chunks of 32 (cache-sized, 2-3x faster than 1000): same predictions as one
    large batch — also with BatchNorm, whose eval mode uses running statistics, not the chunk's."""
    from ddstudy.metrics import PREDICT_BATCH, predict
    from ddstudy.models import build_model

    net = build_model(arch, 3, 10, 32, seed=0)
    images = torch.randn(300, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    one_batch = predict(net, images, torch.device("cpu"), batch_size=1000)
    assert PREDICT_BATCH["cpu"] < len(images)
    assert torch.equal(predict(net, images, torch.device("cpu")), one_batch)
