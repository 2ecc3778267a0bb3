"""The debias strategies (ddstudy.debias): group-balanced weights by hand, FairDD's equal share per group of a
batch for a sum-over-samples loss, the weighted cross-entropy of network training, each mode's real-side terms, and
the registry's declarations."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ddstudy.data.meta import DatasetMeta
from ddstudy.debias import DEBIAS, DebiasMode, RealTerm, group_balanced_weights, oracle_weights, prepare
from ddstudy.training import batch_loss


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
    weigh = DEBIAS["fairdd"].batch_weighting(labels, attrs, None)
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
    meta = DatasetMeta("toy", "mnist", "color", 2, ("0", "1"), (3, 8, 8), {}, ("c0", "c1"))
    oracle, w, record = prepare("oracle", labels, attrs, meta)
    assert record == {"mode": "oracle"} and w.tolist() == pytest.approx([0.75, 0.75, 1.5, 1.0])
    weigh = oracle.batch_weighting(torch.from_numpy(labels), torch.from_numpy(attrs), w)
    assert weigh(torch.tensor([2, 0])).tolist() == pytest.approx([1.5, 0.75])
    none, w, record = prepare("none", labels, attrs, meta)
    assert (w, record) == (None, None) and none.plain
    assert none.batch_weighting(torch.from_numpy(labels), torch.from_numpy(attrs), None) is None
    assert prepare("none", labels, -np.ones(4, int), meta)[1:] == (None, None)  # a clean set needs nothing
    with pytest.raises(Exception, match="needs bias attributes"):
        prepare("fairdd", labels, -np.ones(4, int), meta)
    with pytest.raises(Exception, match="needs --sample-weights"):
        prepare("kde", labels, attrs, meta)
    with pytest.raises(Exception, match="unknown debias mode"):
        prepare("magic", labels, attrs, meta)


def test_unit_weights_are_the_plain_mean():
    logits, y = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    torch.testing.assert_close(batch_loss(logits, y, torch.ones(6)), F.cross_entropy(logits, y))
    assert batch_loss(logits, y, None).item() == F.cross_entropy(logits, y).item()


def test_each_mode_real_terms_by_hand():
    """The class's real batch (training-set indices 4, 2, 7 with attributes 5, 5, 7) as each mode's terms, and DM's
    statistic of each: plain mean, FairDD's one mean per group present, the weighted mean of kde/oracle."""
    attrs = torch.full((8,), -1)
    attrs[[4, 2, 7]] = torch.tensor([5, 5, 7])
    weights = torch.arange(8, dtype=torch.float32)  # the pool's per-sample weights: sample i weighs i
    index = torch.tensor([4, 2, 7])
    embed = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    assert DEBIAS["none"].real_terms(index, attrs, None) is None
    fair = DEBIAS["fairdd"].real_terms(index, attrs, None)
    assert [t.mean(embed).tolist() for t in fair] == [[2.0, 0.0], [0.0, 2.0]]
    mean_syn = torch.tensor([1.0, 1.0])  # FairDD's DM loss: Σ_g ‖mean ψ(T_g) − mean ψ(S)‖² = 2 + 2
    assert sum(float(((t.mean(embed) - mean_syn) ** 2).sum()) for t in fair) == pytest.approx(4.0)
    for name in ("kde", "oracle"):
        (term,) = DEBIAS[name].real_terms(index, attrs, weights)
        # weights 4, 2, 7: (4·(1,0) + 2·(3,0) + 7·(0,2)) / 13
        assert term.mean(embed).tolist() == pytest.approx([10 / 13, 14 / 13])
    logits, target = torch.randn(3, 4), torch.tensor([1, 1, 1])
    by_group = [float(t.cross_entropy(logits, target)) for t in fair]
    ce = F.cross_entropy(logits, target, reduction="none")
    assert by_group == pytest.approx([float(ce[:2].mean()), float(ce[2])])
    weighted = RealTerm(weights=torch.tensor([4.0, 2.0, 7.0])).cross_entropy(logits, target)
    assert float(weighted) == pytest.approx(float((ce * torch.tensor([4.0, 2.0, 7.0])).sum() / 13))


def test_the_registry_derives_choices_and_a_method_declares_where_modes_act():
    from ddstudy.distill.registry import DEBIASABLE, METHODS
    from ddstudy.distill.settings import MethodSpec
    from ddstudy.errors import DDStudyError
    from ddstudy.report.debias import DEBIAS_ORDER, DEBIAS_STYLE

    assert list(DEBIAS) == ["none", "fairdd", "kde", "oracle", "cobra"] == list(DEBIAS_ORDER) == list(DEBIAS_STYLE)
    assert all(isinstance(mode, DebiasMode) and mode.name == name for name, mode in DEBIAS.items())
    assert DEBIASABLE == ("dc", "dsa", "dm", "mtt", "idc") and METHODS["mtt"].debias == "experts"
    assert METHODS["idc"].debias == "real batches"
    dm = METHODS["dm"]
    with pytest.raises(DDStudyError, match="declares no place for it"):  # a mode would be silently ignored
        MethodSpec("dm", "distils", dm.config, dm.make, "DM", "tab:green", "s")
