"""Sample weights of bias mitigation (ddstudy.weighting): group-balanced weights by hand, FairDD's equal share per
group of a batch for a sum-over-samples loss, and the weighted cross-entropy of network training."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ddstudy.training import batch_loss
from ddstudy.weighting import group_balanced_weights, loss_weighting, oracle_weights, sample_weights


def test_group_balanced_weights_by_hand():
    """Class 0: groups a0 ×3, a4 ×1 (n=4, G=2) → 4/(2·3), 4/(2·1); class 1: a1 ×1, a2 ×2 (n=3, G=2) → 3/2, 3/4."""
    labels = torch.tensor([0, 0, 1, 0, 1, 0, 1])
    attrs = torch.tensor([0, 0, 1, 4, 2, 0, 2])
    w = group_balanced_weights(labels, attrs)
    expected = [4 / 6, 4 / 6, 3 / 2, 4 / 2, 3 / 4, 4 / 6, 3 / 4]
    assert w.dtype == torch.float64 and w.tolist() == pytest.approx(expected, rel=0, abs=0)
    # the numpy face (oracle weights of a training set) is the same numbers
    assert oracle_weights(labels.numpy(), attrs.numpy()).tolist() == w.tolist()
    # one group per class: every weight is 1 (the plain mean)
    assert group_balanced_weights(labels, labels).tolist() == [1.0] * 7


def test_fairdd_weighting_gives_each_group_of_the_batch_an_equal_share():
    """For a loss summed over samples, FairDD's synchronized matching = per class, the class's share of the batch
    split equally among its attribute groups present in that batch: Σ w·CE / Σ w equals
    (1/B) Σ_c (n_c / G_c) Σ_g mean_{i ∈ c,g} CE_i — computed here group by group."""
    torch.manual_seed(0)
    labels = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 2, 2])
    attrs = torch.tensor([0, 0, 0, 0, 3, 1, 1, 5, 2, 2])
    logits = torch.randn(10, 3)
    weigh = loss_weighting("fairdd", labels, attrs, None)
    batch = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    got = batch_loss(logits, labels, weigh(batch))
    ce = F.cross_entropy(logits, labels, reduction="none").double()
    expected = 0.0
    for c in labels.unique():
        in_class = labels == c
        groups = attrs[in_class].unique()
        for g in groups:
            expected += int(in_class.sum()) / len(groups) * ce[in_class & (attrs == g)].mean()
    assert float(got) == pytest.approx(float(expected) / 10, rel=1e-6)
    # the shares follow the sampled batch: a batch without the rare group is the plain mean of its class
    sub = torch.tensor([0, 1, 5, 6])
    assert weigh(sub).tolist() == [1.0] * 4


def test_weighted_modes_read_the_set_weights_and_refuse_what_cannot_run():
    labels = np.array([0, 0, 0, 1])
    attrs = np.array([0, 0, 1, 1])
    meta = {"name": "toy", "sha256": {}}
    w, record = sample_weights("oracle", labels, attrs, meta)
    assert record == {"mode": "oracle"} and w.tolist() == pytest.approx([0.75, 0.75, 1.5, 1.0])
    weigh = loss_weighting("oracle", torch.from_numpy(labels), torch.from_numpy(attrs), w)
    assert weigh(torch.tensor([2, 0])).tolist() == pytest.approx([1.5, 0.75])
    assert sample_weights("none", labels, attrs, meta) == (None, None)
    assert loss_weighting("none", torch.from_numpy(labels), torch.from_numpy(attrs), None) is None
    with pytest.raises(Exception, match="needs bias attributes"):
        sample_weights("fairdd", labels, -np.ones(4, int), meta)
    with pytest.raises(Exception, match="needs --sample-weights"):
        sample_weights("kde", labels, attrs, meta)
    with pytest.raises(Exception, match="unknown debias mode"):
        sample_weights("magic", labels, attrs, meta)


def test_unit_weights_are_the_plain_mean():
    logits, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    torch.testing.assert_close(batch_loss(logits, y, torch.ones(6)), F.cross_entropy(logits, y))
    assert batch_loss(logits, y, None).item() == F.cross_entropy(logits, y).item()
