"""Bias mitigation (FairDD, KDE reweighting, oracle weights), the fairness metrics and the amplification score."""

import json

import numpy as np
import pytest
import torch

from ddstudy.data.build import VariantSpec, build_variant
from ddstudy.debias import DEBIAS, KdeConfig, kde_weights, load_kde_weights, oracle_weights
from ddstudy.distill.registry import method_config
from ddstudy.distill.run import distill_cell, load_synthetic
from ddstudy.errors import DDStudyError
from ddstudy.metrics import fairness, group_accuracy
from ddstudy.study.model import Cell
from ddstudy.zoo.kde import compute_kde_weights
from ddstudy.zoo.train import ZooJob, ZooTrainConfig, train_zoo_model

FAST = {"model": "ConvNetW32", "batch_real": 16}


def test_kde_weights_by_hand_on_a_1d_embedding():
    """One class, points 0, 0, 3 with h = 1: p = mean_j exp(−d²/2) → p(0) = (1 + 1 + e^−4.5)/3, p(3) = (2e^−4.5 + 1)/3;
    β = 1: w ∝ 1/p, scaled to mean 1. The isolated (rare) sample weighs more."""
    z = np.array([[0.0], [0.0], [3.0]])
    weights, density, widths = kde_weights(z, np.array([0, 0, 0]), 1, bandwidth=1.0, beta=1.0)
    e = np.exp(-4.5)
    p = np.array([(2 + e) / 3, (2 + e) / 3, (2 * e + 1) / 3])
    np.testing.assert_allclose(density, p)
    np.testing.assert_allclose(weights, (1 / p) / (1 / p).mean())
    assert weights[2] > weights[0] and widths == [1.0]
    # β = 0: uniform; the median heuristic: pairwise distances 0, 3, 3 → h = 3
    assert np.allclose(kde_weights(z, np.zeros(3, int), 1, 1.0, 0.0)[0], 1.0)
    assert kde_weights(z, np.zeros(3, int), 1)[2] == [3.0]


def test_oracle_weights_equalise_group_mass():
    labels = np.array([0, 0, 0, 0, 1, 1, 1])
    attrs = np.array([0, 0, 0, 4, 1, 2, 2])
    w = oracle_weights(labels, attrs)
    for c in (0, 1):
        in_class = labels == c
        masses = [w[in_class & (attrs == a)].sum() for a in np.unique(attrs[in_class])]
        assert np.allclose(masses, masses[0]) and w[in_class].mean() == pytest.approx(1.0)
    assert w[3] == pytest.approx(2.0) and w[0] == pytest.approx(4 / 6)


def test_fairness_metrics_on_a_hand_made_confusion():
    """Two classes × two attributes; per cell correct/total: (a0,c0) 2/2, (a1,c0) 1/2, (a0,c1) 0/1, (a1,c1) 1/1.
    Gaps per class: c0 1 − 0.5 = 0.5, c1 1 − 0 = 1 → DEO_M 1, DEO_A 0.75; worst group 0."""
    labels = torch.tensor([0, 0, 0, 0, 1, 1])
    attrs = torch.tensor([0, 0, 1, 1, 0, 1])
    correct = torch.tensor([True, True, True, False, False, True])
    table = group_accuracy(correct, labels, attrs, 2)
    assert table.tolist() == [[1.0, 0.0], [0.5, 1.0]]
    assert fairness(table) == {"worst_group_acc": 0.0, "deo_m": 1.0, "deo_a": 0.75}
    # An empty cell is skipped (FairDD would count it as 0): only attribute 1 seen for class 1 → gap 0 there.
    table = group_accuracy(correct[:4].clone(), labels[:4], attrs[:4], 2)
    assert fairness(table)["deo_m"] == 0.5


@pytest.fixture(scope="module")
def aligned_only(tmp_path_factory, fashion_options):
    """Ratio 1: every training sample of class c has attribute c — one group per class."""
    spec = VariantSpec("fashion-mnist", "color", 1.0, 4, test_attrs="uniform")
    folder = tmp_path_factory.mktemp("ds") / spec.name
    build_variant(spec, folder, fashion_options)
    return folder


def test_fairdd_with_one_group_per_class_is_plain_dm_bit_for_bit(aligned_only, tmp_path):
    plain = distill_cell(aligned_only, method_config("dm", 2, iterations=3, **FAST), tmp_path / "a", "cpu")
    fair = distill_cell(aligned_only, method_config("dm", 2, iterations=3, debias="fairdd", **FAST), tmp_path / "b")
    assert fair["cell"].endswith("dm_ipc2_fairdd") and fair["extra"]["debias"] == {"mode": "fairdd"}
    assert fair["synthetic_sha256"] == plain["synthetic_sha256"]
    assert fair["loss"]["curve"] == plain["loss"]["curve"]


@pytest.mark.parametrize("method", ["dm", "dc"])
def test_each_mode_distils_and_differs_on_a_biased_set(colour_variant, tmp_path, method, caplog):
    """On a biased set every mode runs (paired seeds: same networks and batches) and changes the images; its log
    names the set it makes (not the plain cell its seeds come from)."""
    import logging

    from ddstudy.data.store import load_variant

    caplog.set_level(logging.INFO, logger="ddstudy")

    name = load_variant(colour_variant, verify=False).meta["name"]
    settings = FAST | ({"batch_train": 16} if method == "dc" else {})
    zoo = tmp_path / "zoo"
    train_zoo_model(ZooJob(name, "ConvNetW32", 0), colour_variant, zoo / name / "ConvNetW32" / "init0",
                    ZooTrainConfig(epochs=1, batch_size=64))  # fmt: skip
    kde = KdeConfig(arch="ConvNetW32", init=0, epoch=1)
    weights = tmp_path / "w" / f"{kde.slug()}.npz"
    record = compute_kde_weights(colour_variant, zoo, kde, weights)
    assert record["mean_weight_conflicting"] > record["mean_weight_aligned"]  # rare samples weigh more
    variant = load_variant(colour_variant, verify=False)
    w, _ = load_kde_weights(weights, variant.meta["sha256"])
    assert w.shape == (len(variant.train.labels),) and np.isclose(w.mean(), 1.0)
    digests = {}
    for mode in ("none", "fairdd", "kde", "oracle", "cobra"):
        config = method_config(method, 1, iterations=2, debias=mode, **settings)
        meta = distill_cell(
            colour_variant, config, tmp_path / mode, "cpu", sample_weights=weights if mode == "kde" else None
        )
        assert np.isfinite(meta["loss"]["last"])
        digests[mode] = meta["synthetic_sha256"]
        images, _, _ = load_synthetic(tmp_path / mode)
        assert torch.isfinite(images).all()
    assert len(set(digests.values())) == 5
    assert f"{name}/{method}_ipc1_cobra: iteration 2/2 loss" in caplog.text
    kde_meta = json.loads((tmp_path / "kde" / "meta.json").read_text())
    assert kde_meta["extra"]["debias"]["kde"]["arch"] == "ConvNetW32"
    assert kde_meta["cell"] == f"{name}/{method}_ipc1_kde"
    # weights of another kernel: the set is named by it (the name a grid's Cell gives it), same seeds as the plain run
    wide = KdeConfig(arch="ConvNetW32", init=0, epoch=1, bandwidth=0.5)
    wide_weights = tmp_path / "w" / f"{wide.slug()}.npz"
    compute_kde_weights(colour_variant, zoo, wide, wide_weights)
    config = method_config(method, 1, iterations=2, debias="kde", **settings)
    meta = distill_cell(colour_variant, config, tmp_path / "kde-h", "cpu", sample_weights=wide_weights)
    assert meta["cell"] == f"{name}/{method}_ipc1_kde-h0.5" == f"{name}/{Cell(name, config, kde=wide).set_name}"
    assert meta["synthetic_sha256"] not in digests.values()


def test_debias_is_refused_where_it_cannot_run(colour_variant, tmp_path, fashion_options):
    with pytest.raises(DDStudyError, match="debias kde needs --sample-weights"):
        distill_cell(colour_variant, method_config("dm", 1, iterations=1, debias="kde", **FAST), tmp_path / "k")
    clean = tmp_path / "clean"
    build_variant(VariantSpec("fashion-mnist", "none", train_per_class=20, test_per_class=5), clean, fashion_options)
    with pytest.raises(DDStudyError, match="needs bias attributes"):
        distill_cell(clean, method_config("dm", 1, iterations=1, debias="oracle", **FAST), tmp_path / "o")
    with pytest.raises(DDStudyError, match="debias must be one of"):
        method_config("dm", 1, debias="magic")
    with pytest.raises(DDStudyError, match="debias must be one of"):
        method_config("mtt", 1, debias="magic")
    assert not (tmp_path / "k").exists() and not (tmp_path / "o").exists()


def test_bias_amplification_against_the_full_set(tmp_path):
    """amplification = (aligned − conflicting) of the set − that of the full set (same dataset and arch)."""
    from ddstudy.report.debias import debias_markdown, fairness_frame
    from ddstudy.report.records import read_records

    def record(name, method, aligned, conflicting, debias="none"):
        cell = f"d-color-r0.9-s4/{name}"
        data = {
            "cell": cell, "dataset": "d-color-r0.9-s4", "bias": "color", "ratio": 0.9, "severity": 4,
            "method": method, "ipc": 10, "eval_arch": "A", "n_runs": 2, "acc_mean": 0.5, "acc_std": 0.01,
            "acc_aligned_mean": aligned, "acc_conflicting_mean": conflicting, "acc_conflicting_std": 0.0,
            "attribute_gap_mean": aligned - conflicting, "deo_a_mean": 0.1, "worst_group_acc_mean": 0.2,
            "distill_config": {"debias": debias},
        }  # fmt: skip
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(data))
        return path

    paths = [record("full", "full", 0.9, 0.8), record("dm_ipc10", "dm", 0.95, 0.3),
             record("dm_ipc10_fairdd", "dm", 0.8, 0.7, "fairdd")]  # fmt: skip
    records, problems = read_records(paths)
    assert "Wall here" not in debias_markdown(fairness_frame(records))  # no times: no wall table
    # The fairdd cell's time: its distillation in two recorded segments, its evaluation from Snakemake's benchmark.
    bench = tmp_path / "benchmarks"
    (bench / "distill" / "d-color-r0.9-s4").mkdir(parents=True)
    segments = [
        {"from": 0, "to": 5, "wall_s": 60.0, "cpu_s": 60.0},
        {"from": 5, "to": 9, "wall_s": 60.0, "cpu_s": 54.0},
    ]
    (bench / "distill" / "d-color-r0.9-s4" / "dm_ipc10_fairdd.timing.json").write_text(
        json.dumps({"unit": "iterations", "done": 9, "wall_s": 120.0, "cpu_s": 114.0, "complete": True,
                    "segments": segments})
    )  # fmt: skip
    (bench / "evaluate" / "d-color-r0.9-s4" / "dm_ipc10_fairdd").mkdir(parents=True)
    (bench / "evaluate" / "d-color-r0.9-s4" / "dm_ipc10_fairdd" / "A.tsv").write_text("s\tcpu_time\n60.0\t60.0\n")
    frame = fairness_frame(records, bench)
    assert not problems
    amp = dict(zip(frame["set_name"], frame["bias_amplification"], strict=True))
    assert amp["full"] == pytest.approx(0.0) and amp["dm_ipc10"] == pytest.approx(0.55)
    assert amp["dm_ipc10_fairdd"] == pytest.approx(0.0)
    # one ratio: a column per measure — accuracy (± std, n), conflicting, worst group, EO and sufficiency gaps
    # (max / mean), amplification, wall (distillation's two segments + evaluation: 3 min, 174 CPU-s)
    text = debias_markdown(frame)
    assert "## d-color · ratio 0.9 · severity 4 · evaluated with A" in text
    assert "| dm IPC 10 | fairdd | 50.00 ± 1.00 (2) | 70.00 | 20.00 | — / 10.0 | — / — | +0.0 | 3.0 (0.97) |" in text
    assert "| dm IPC 10 | none | 50.00 ± 1.00 (2) | 30.00 | 20.00 | — / 10.0 | — / — | +55.0 | — |" in text
    # several ratios: a column per ratio, one table per measure
    paths.append(record("dm_ipc10_fairdd_r0.5", "dm", 0.6, 0.5, "fairdd"))
    records, _ = read_records(paths)
    records[-1] |= {"dataset": "d-color-r0.5-s4", "ratio": 0.5, "cell": "d-color-r0.5-s4/dm_ipc10_fairdd",
                    "set_name": "dm_ipc10_fairdd"}  # fmt: skip
    text = debias_markdown(fairness_frame(records, bench))
    assert "## d-color · severity 4 · evaluated with A" in text
    assert "| method | debias | ratio 0.5 | ratio 0.9 |" in text
    assert "| dm IPC 10 | fairdd | 50.00 / 50.00 / 20.00 | 50.00 / 70.00 / 20.00 |" in text
    assert "**Bias amplification (points)**" in text and "| dm IPC 10 | none | — | +55.0 |" in text
    assert "**Wall here" in text and "| dm IPC 10 | fairdd | — | 3.0 (0.97) |" in text


# ------------------------------------------------------------------------------------------------------------ COBRA
def test_cobra_barycenter_by_hand_on_a_toy_batch():
    """Class batch: group 0 = embeddings (0, 0), (2, 0), (4, 0); group 1 = (0, 6). FairDD matches each group's mean,
    the batch mean is (1.5, 1.5), COBRA's target is the mean of the group means: ((2, 0) + (0, 6)) / 2 = (1, 3),
    at the L1 distance; DC/DSA's target gradient is the layer-wise mean of the groups' gradients."""
    cobra = DEBIAS["cobra"]
    embeddings = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 6.0], [4.0, 0.0]])
    attrs = torch.tensor([5, 5, 7, 5])
    index = torch.arange(4)
    terms = cobra.real_terms(index, attrs, None)
    (target,) = cobra.real_target([term.mean(embeddings) for term in terms])
    assert torch.equal(target, torch.tensor([1.0, 3.0]))
    assert float(cobra.mean_distance(target, torch.tensor([0.0, 0.0]))) == 4.0  # |1| + |3|, not 1² + 3²
    assert float(DEBIAS["fairdd"].mean_distance(target, torch.tensor([0.0, 0.0]))) == 10.0
    grads = [[torch.tensor([1.0, 2.0]), torch.tensor(3.0)], [torch.tensor([3.0, 0.0]), torch.tensor(-1.0)]]
    ((weight, bias),) = cobra.real_target(grads)
    assert torch.equal(weight, torch.tensor([2.0, 1.0])) and float(bias) == 1.0
    assert DEBIAS["fairdd"].real_target(grads) is grads  # FairDD: one match per group


@pytest.mark.parametrize("method", ["dc", "dsa"])
def test_cobra_with_one_group_per_class_is_the_plain_gradient_match_bit_for_bit(aligned_only, tmp_path, method):
    settings = FAST | {"batch_train": 16}
    plain = distill_cell(aligned_only, method_config(method, 1, iterations=2, **settings), tmp_path / "a", "cpu")
    cobra = distill_cell(
        aligned_only, method_config(method, 1, iterations=2, debias="cobra", **settings), tmp_path / "b", "cpu"
    )
    assert cobra["extra"]["debias"] == {"mode": "cobra"}
    assert cobra["synthetic_sha256"] == plain["synthetic_sha256"]
    assert cobra["loss"]["curve"] == plain["loss"]["curve"]


@pytest.mark.parametrize("mode", ["cobra", "fairdd"])
def test_dc_real_side_fast_path_equals_the_references_group_backwards(colour_variant, mode):
    """The reference takes a class's group gradients from one forward, one backward through the whole batch each
    (the oracle path). The fast path: COBRA's mean of them as the gradient of the mean group loss (gradients are
    linear); FairDD's each from a forward of the group's own images (the ConvNet normalises each image on its own).
    Equal to float rounding. The batches hold several groups per class, or the test would prove nothing."""
    from ddstudy.data.store import load_variant
    from ddstudy.data.tensors import Normalization, to_tensors
    from ddstudy.distill.dc import images_independent, real_gradients
    from ddstudy.distill.loop import new_context
    from ddstudy.distill.real import RealPool
    from ddstudy.models import build_model

    variant = load_variant(colour_variant)
    normalization = Normalization.of_variant(variant.info, variant.train.images)
    pool = RealPool(to_tensors(variant.train, normalization), 10, torch.device("cpu"), normalization)
    config = method_config("dc", 1, iterations=1, debias=mode, model="ConvNetW32", batch_real=32)
    ctx = new_context(config, f"toy/dc_{mode}", pool, tuple(variant.meta["image_shape"]), torch.device("cpu"))
    net = build_model("ConvNetW32", 3, 10, variant.meta["image_shape"][1], seed=3)
    assert images_independent(net) and not images_independent(build_model("ConvNetBN", 3, 10, 32, seed=3))
    parameters = list(net.parameters())
    groups = []
    for c in range(3):
        real, index = pool.sample_with_index(c, 32, torch.Generator().manual_seed(c))
        ctx.real_indices = {c: index}
        groups.append(len(torch.unique(pool.attrs[index])))
        reference = real_gradients(ctx, net, parameters, real, c, fast_path=False)
        fast = real_gradients(ctx, net, parameters, real, c, fast_path=True)
        assert len(fast) == len(reference) == (1 if mode == "cobra" else groups[-1])
        for got, want in zip(fast, reference, strict=True):
            for a, b in zip(got, want, strict=True):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert max(groups) > 1


def test_cobra_dm_warms_up_seeded_and_records_it(colour_variant, tmp_path):
    """The K warm-up epochs change the result, are seeded (same seed → same bytes) and are recorded."""
    config = method_config("dm", 1, iterations=2, debias="cobra", **FAST)
    assert config.embedding_warmup == 10 and config.to_dict()["warmup_epochs"] == 10  # COBRA's rule at IPC 1
    assert method_config("dm", 50, debias="cobra").embedding_warmup == 50
    assert "warmup_epochs" not in method_config("dm", 1).to_dict()  # DM without COBRA records what it did before
    first = distill_cell(colour_variant, config, tmp_path / "a", "cpu")
    again = distill_cell(colour_variant, config, tmp_path / "b", "cpu")
    cold = distill_cell(
        colour_variant, method_config("dm", 1, iterations=2, debias="cobra", warmup_epochs=0, **FAST), tmp_path / "c"
    )
    assert first["synthetic_sha256"] == again["synthetic_sha256"] != cold["synthetic_sha256"]
    assert first["config"]["warmup_epochs"] == 10 and cold["config"]["warmup_epochs"] == 0
    with pytest.raises(DDStudyError, match="warmup_epochs is read only with debias cobra"):
        method_config("dm", 1, warmup_epochs=5)


def test_cobra_is_refused_where_it_cannot_act():
    with pytest.raises(DDStudyError, match="debias cobra acts on real batches; mtt takes its modes on experts"):
        method_config("mtt", 1, debias="cobra")
    with pytest.raises(DDStudyError, match="debias cobra acts on real batches; zoo training"):
        ZooTrainConfig(debias="cobra")
