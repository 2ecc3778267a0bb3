"""MTT (trajectory matching): the loss by hand, experts from the zoo, resume, the learned step size in evaluation."""

import json

import numpy as np
import pytest
import torch

from ddstudy.distill.mtt import trajectory_loss
from ddstudy.distill.registry import method_config
from ddstudy.distill.run import distill_cell, load_synthetic
from ddstudy.errors import DDStudyError
from ddstudy.evaluate.protocol import EvalConfig, evaluate_synthetic
from ddstudy.zoo.train import ZooJob, ZooTrainConfig, train_zoo_models
from tests.distill.test_distill import distil_until_killed

BUFFER = ZooTrainConfig(epochs=3, lr=0.01, momentum=0.0, weight_decay=0.0, milestones=(), batch_size=64,
                        augment="color_crop_cutout_flip_scale_rotate")  # fmt: skip
SMALL = {"model": "ConvNetW32", "syn_steps": 3, "expert_epochs": 2, "max_start_epoch": 2, "lr_img": 100.0,
         "lr_lr": 1e-5, "experts": 2, "first_expert": 5, "init": "real", "batch_syn": 10}  # fmt: skip


def test_trajectory_loss_two_steps_by_hand():
    """A linear softmax model θ (2×2, flattened): two SGD steps with α on two one-image batches, by hand —
    ∇θ CE = (softmax(θx) − onehot(y)) xᵀ — then ‖θ₂ − θ*‖² / ‖θ₀ − θ*‖² (both over the 4 parameters)."""
    start = torch.tensor([0.1, -0.2, 0.3, 0.05])
    target = torch.tensor([0.5, 0.0, -0.1, 0.2])
    images = torch.tensor([[1.0, 2.0], [-1.0, 0.5]])
    labels = torch.tensor([0, 1])
    alpha = torch.tensor(0.3)

    def forward(theta, x):
        return x @ theta.view(2, 2).T

    loss = trajectory_loss(forward, start, target, images, labels, alpha, [torch.tensor([0]), torch.tensor([1])])

    def by_hand_step(theta, x, y):
        w = theta.view(2, 2).numpy().astype(np.float64)
        logits = w @ x
        p = np.exp(logits - logits.max())
        p /= p.sum()
        p[y] -= 1.0
        return (w - 0.3 * np.outer(p, x)).reshape(-1)

    theta = by_hand_step(start, images[0].numpy().astype(np.float64), 0)
    theta = by_hand_step(torch.tensor(theta), images[1].numpy().astype(np.float64), 1)
    expected = ((theta - target.numpy()) ** 2).sum() / ((start.numpy() - target.numpy()) ** 2).sum()
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    # α learns: the loss is differentiable w.r.t. the step size (and the images).
    alpha = alpha.clone().requires_grad_(True)
    images = images.clone().requires_grad_(True)
    trajectory_loss(forward, start, target, images, labels, alpha, [torch.tensor([0]), torch.tensor([1])]).backward()
    assert alpha.grad is not None and images.grad is not None and float(images.grad.abs().sum()) > 0


@pytest.fixture(scope="module")
def experts(colour_variant, tmp_path_factory):
    """Two expert trajectories (inits 5 and 6) of ConvNetW32 with MTT's buffer recipe, every epoch kept."""
    from ddstudy.data.store import load_variant

    name = load_variant(colour_variant, verify=False).meta["name"]
    root = tmp_path_factory.mktemp("zoo")
    jobs = [ZooJob(name, "ConvNetW32", init) for init in (0, 5, 6)]  # init 0 doubles as a CLoM PTM below
    train_zoo_models(jobs, colour_variant, [root / name / "ConvNetW32" / f"init{i}" for i in (0, 5, 6)], BUFFER)
    return root


def test_mtt_distils_from_the_zoo_and_resumes(colour_variant, experts, tmp_path):
    config = method_config("mtt", 2, iterations=4, checkpoint_every=2, **SMALL)
    straight = distill_cell(colour_variant, config, tmp_path / "straight", "cpu", zoo_root=experts)
    assert straight["method"] == "mtt" and straight["num_images"] == 20
    learned = straight["extra"]["syn_lr"]
    assert learned != pytest.approx(0.01, abs=0) and np.isfinite(learned)  # the step size moved
    assert straight["extra"]["experts"].endswith("ConvNetW32/init5..6")
    assert straight["config"]["syn_steps"] == 3 and straight["config"]["lr_img"] == 100.0
    distil_until_killed(colour_variant, config, tmp_path / "resumed", at_iteration=2, zoo_root=experts)
    state = json.loads((tmp_path / ".resumed.partial" / "ckpt" / "state.json").read_text())
    assert state["iteration"] == 2
    resumed = distill_cell(colour_variant, config, tmp_path / "resumed", "cpu", zoo_root=experts)
    assert resumed["resumed_from"] == 2
    assert resumed["synthetic_sha256"] == straight["synthetic_sha256"]
    assert resumed["extra"]["syn_lr"] == learned and resumed["loss"]["curve"] == straight["loss"]["curve"]

    # The evaluation trains with the learned step size (MTT: args.lr_net = syn_lr.item()), with DSA augmentation.
    images, labels, meta = load_synthetic(tmp_path / "straight")
    record = evaluate_synthetic(images, labels, meta, colour_variant, "ConvNetW32", EvalConfig(num_eval=1, epochs=1))
    assert record["eval_config"]["lr"] == learned
    assert record["eval_config"]["augment"] == "color_crop_cutout_flip_scale_rotate"
    fixed = evaluate_synthetic(
        images, labels, meta, colour_variant, "ConvNetW32", EvalConfig(num_eval=1, epochs=1, lr=0.02)
    )
    assert fixed["eval_config"]["lr"] == 0.02


def test_mtt_without_its_experts_is_one_line(colour_variant, experts, tmp_path):
    config = method_config("mtt", 1, iterations=1, **{**SMALL, "experts": 3})  # init 7 was never trained
    with pytest.raises(DDStudyError, match=r"MTT needs expert checkpoints .*init7/epoch1"):
        distill_cell(colour_variant, config, tmp_path / "m", "cpu", zoo_root=experts)
    assert not (tmp_path / "m").exists()


def test_mtt_settings_follow_the_per_ipc_table():
    assert method_config("mtt", 1).to_dict()["syn_steps"] == 50 and method_config("mtt", 1).epochs_needed == 3
    ten = method_config("mtt", 10)
    assert (ten.resolved("max_start_epoch"), ten.resolved("lr_lr")) == (20, 1e-05)
    other = method_config("mtt", 3)  # not in the table: distill.py's argparse defaults
    assert (other.resolved("syn_steps"), other.resolved("expert_epochs"), other.resolved("max_start_epoch")) == (
        20, 3, 25,
    )  # fmt: skip
    with pytest.raises(DDStudyError, match="'outer_loop' is not a setting"):
        method_config("mtt", 1, outer_loop=2)


def test_mtt_takes_the_clom_loss(colour_variant, experts, tmp_path):
    """CLoM plugs into MTT as into every distilling method: α·CE of an in-domain PTM on the synthetic set is added
    to the trajectory loss (same seeds, so the images differ only through it)."""
    from ddstudy.data.store import load_variant
    from ddstudy.distill.clom import ClomConfig

    name = load_variant(colour_variant, verify=False).meta["name"]
    config = method_config("mtt", 1, iterations=2, **SMALL)
    clom = ClomConfig("ce", name, ("ConvNetW32",), 1, 3, (1.0,))
    plain = distill_cell(colour_variant, config, tmp_path / "plain", "cpu", zoo_root=experts)
    guided = distill_cell(colour_variant, config, tmp_path / "clom", "cpu", clom=clom, zoo_root=experts)
    assert guided["cell"].endswith("mtt_ipc1_" + clom.slug()) and len(guided["extra_loss"]["curve"]) == 2
    assert guided["synthetic_sha256"] != plain["synthetic_sha256"]
    assert guided["extra"]["clom"]["zoo_source"] == name and "syn_lr" in guided["extra"]


def test_mtt_debias_reads_experts_trained_with_its_mode(colour_variant, experts, tmp_path):
    """MTT's mitigation acts on its experts: ``debias: oracle`` reads ``<arch>/debias-oracle/init<i>`` (trained
    with the oracle-weighted loss from the plain experts' inits), keeps the plain cell's seeds and records the
    experts' weighting; experts of another mode or none at all are refused in one line before any work."""
    import shutil

    from ddstudy.data.store import load_variant

    name = load_variant(colour_variant, verify=False).meta["name"]
    config = method_config("mtt", 1, iterations=2, **SMALL)
    oracle = method_config("mtt", 1, iterations=2, debias="oracle", **SMALL)
    zoo = tmp_path / "zoo"
    shutil.copytree(experts, zoo)
    with pytest.raises(DDStudyError, match=r"debias-oracle/init5/epoch1.*debias: oracle"):
        distill_cell(colour_variant, oracle, tmp_path / "missing", "cpu", zoo_root=zoo)
    block = zoo / name / "ConvNetW32" / "debias-oracle"
    from dataclasses import replace

    train_zoo_models(
        [ZooJob(name, "ConvNetW32", i) for i in (5, 6)], colour_variant, [block / f"init{i}" for i in (5, 6)],
        replace(BUFFER, debias="oracle"),
    )  # fmt: skip
    from ddstudy.zoo.store import write_zoo_index

    index = json.loads(write_zoo_index(zoo, name).read_text())["checkpoints"]
    debiased = [e for e in index if e["debias"] == "oracle"]
    assert len(debiased) == 2 * 3 and all(e["recipe"].endswith("DSA aug., debias oracle") for e in debiased)
    assert all(e["path"].startswith("ConvNetW32/debias-oracle/init") for e in debiased)
    plain = distill_cell(colour_variant, config, tmp_path / "plain", "cpu", zoo_root=zoo)
    mitigated = distill_cell(colour_variant, oracle, tmp_path / "oracle", "cpu", zoo_root=zoo)
    assert mitigated["cell"].endswith("mtt_ipc1_oracle")
    assert mitigated["extra"]["experts"].endswith("ConvNetW32/debias-oracle/init5..6")
    assert mitigated["extra"]["experts_weighting"] == {"mode": "oracle"}
    assert mitigated["extra"]["debias"] == {"mode": "oracle", "applied_to": "expert trajectories"}
    assert mitigated["synthetic_sha256"] != plain["synthetic_sha256"]
    # experts of another mode under the folder of this one: refused
    fair = method_config("mtt", 1, iterations=2, debias="fairdd", **SMALL)
    shutil.copytree(block, zoo / name / "ConvNetW32" / "debias-fairdd")
    with pytest.raises(DDStudyError, match="trained with debias 'oracle', not 'fairdd'"):
        distill_cell(colour_variant, fair, tmp_path / "fair", "cpu", zoo_root=zoo)
    assert not (tmp_path / "fair").exists() and not (tmp_path / "missing").exists()
