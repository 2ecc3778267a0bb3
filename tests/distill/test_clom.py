"""CLoM: the two distances by hand, gradients, seeding, α = 0, every method, and bad input."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ddstudy.data.build import VariantSpec, build_variant
from ddstudy.data.tensors import Normalization
from ddstudy.distill.clom import Clom, ClomConfig, LoadedPTM
from ddstudy.distill.run import distill_cell
from ddstudy.errors import DDStudyError
from ddstudy.models import build_model
from ddstudy.zoo.store import save_checkpoint
from ddstudy.zoo.train import ZooJob, ZooTrainConfig, train_zoo_model
from tests.method_support import quick_config

FAST = {"model": "ConvNetW32", "batch_real": 8, "batch_train": 8}


class HandMade(nn.Module):
    """forward = W·x (3 classes), embed = the first two pixels."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))

    def embed(self, x):
        return x.flatten(1)[:, :2]

    def forward(self, x):
        return self.embed(x) @ self.weight.t()


def hand_clom(distance, alphas=(2.0,), archs=("ConvNet",), **kwargs):
    config = ClomConfig(distance=distance, zoo_source="x", archs=archs, alphas=alphas, **kwargs)
    target = (torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1))
    model = HandMade().requires_grad_(False)
    clom = Clom(config, {a: [LoadedPTM(a, 0, model, target)] for a in archs}, 3, target)
    return clom, model


def test_ce_distance_is_alpha_times_cross_entropy():
    clom, model = hand_clom("ce")
    images = torch.tensor([[[[1.0, 2.0]]], [[[0.5, -1.0]]]])
    labels = torch.tensor([2, 0])
    expected = 2.0 * F.cross_entropy(model(images), labels)
    torch.testing.assert_close(clom.loss_with(clom.pool["ConvNet"][0], images, labels, None), expected)


def test_cosine_distance_by_hand():
    clom, _ = hand_clom("cos", alphas=(3.0,))
    syn = torch.tensor([[[[1.0, 0.0]]], [[[0.0, 1.0]]]])  # features (1,0), (0,1); labels 0, 1
    syn_labels = torch.tensor([0, 1])
    real = torch.tensor([[[[1.0, 1.0]]], [[[-1.0, 0.0]]], [[[0.0, 2.0]]]])  # (1,1), (−1,0), (0,2); labels 0, 0, 1
    real_labels = torch.tensor([0, 0, 1])
    c = 1 / 2**0.5
    # D[i, j] = 1 − cos(real_i, syn_j)
    distance = torch.tensor([[1 - c, 1 - c], [2.0, 1.0], [1.0, 0.0]])
    positives = distance[0, 0] + distance[1, 0] + distance[2, 1]  # same label only
    expected = 3.0 * positives / distance.sum()
    got = clom.loss_with(clom.pool["ConvNet"][0], syn, syn_labels, (real, real_labels))
    torch.testing.assert_close(got, expected)


def test_paper_ce_form_by_hand():
    clom, model = hand_clom("ce", ce_form="paper", alphas=(1.0,))
    syn = torch.tensor([[[[1.0, 0.0]]], [[[0.0, 1.0]]]])
    syn_labels = torch.tensor([0, 1])
    real_labels = torch.tensor([1, 0])
    log_p = F.log_softmax(model(syn), dim=1)
    distance = torch.stack([-log_p[:, 1], -log_p[:, 0]])  # row i: real label, column j: synthetic image
    mask = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    expected = (mask * distance).sum() / distance.sum()
    torch.testing.assert_close(clom.loss_with(clom.pool["ConvNet"][0], syn, syn_labels, (syn, real_labels)), expected)


def test_gradient_reaches_images_not_the_ptm():
    clom, model = hand_clom("cos")
    syn = torch.randn(4, 1, 1, 2, requires_grad=True)
    loss = clom.loss_with(
        clom.pool["ConvNet"][0],
        syn,
        torch.tensor([0, 1, 2, 0]),
        (torch.randn(6, 1, 1, 2), torch.tensor([0, 1, 2, 0, 1, 2])),
    )
    loss.backward()
    assert syn.grad is not None and syn.grad.abs().sum() > 0
    assert model.weight.grad is None and not model.weight.requires_grad


def test_sampling_is_seeded_and_alphas_per_arch():
    clom, _ = hand_clom("ce", archs=("ConvNet", "LeNet", "AlexNet"), alphas=(1.0, 2.0, 3.0))
    draws = [clom.sample(torch.Generator().manual_seed(5)).arch for _ in range(3)]
    assert len(set(draws)) == 1
    sequence = torch.Generator().manual_seed(1)
    assert {clom.sample(sequence).arch for _ in range(30)} == {"ConvNet", "LeNet", "AlexNet"}
    assert clom.config.alpha("LeNet") == 2.0


def test_bad_clom_settings():
    with pytest.raises(DDStudyError, match="unknown CLoM distance 'l2'"):
        ClomConfig(distance="l2", zoo_source="x")
    with pytest.raises(DDStudyError, match="2 α for 3 archs"):
        ClomConfig(zoo_source="x", archs=("ConvNet", "LeNet", "VGG11"), alphas=(1.0, 2.0))
    with pytest.raises(DDStudyError, match="unknown model"):
        ClomConfig(zoo_source="x", archs=("ConvNett",))
    with pytest.raises(DDStudyError, match="zoo_source"):
        ClomConfig()


# ------------------------------------------------------------------------------------------------ with a real zoo
@pytest.fixture(scope="module")
def setup(tmp_path_factory, fashion_options):
    root = tmp_path_factory.mktemp("clom")
    spec = VariantSpec("fashion-mnist", "color", 0.9, 4)
    dataset = root / "data" / spec.name
    build_variant(spec, dataset, fashion_options)
    zoo = root / "zoo"
    train_zoo_model(
        ZooJob(spec.name, "LeNet", 0),
        dataset,
        zoo / spec.name / "LeNet" / "init0",
        ZooTrainConfig(epochs=1, batch_size=64),
    )
    return spec.name, dataset, zoo


@pytest.mark.parametrize("method", ["dc", "dsa", "dm"])
@pytest.mark.parametrize("distance", ["ce", "cos"])
def test_composes_with_every_method(setup, tmp_path, method, distance):
    name, dataset, zoo = setup
    clom = ClomConfig(distance=distance, zoo_source=name, archs=("LeNet",), epoch=1, alphas=(5.0,), batch_size=32)
    meta = distill_cell(dataset, quick_config(method, 1, iterations=2, **FAST), tmp_path / "s", "cpu", clom, zoo)
    assert meta["extra"]["clom"]["distance"] == distance and "_clom-" in meta["cell"]
    assert len(meta["extra_loss"]["curve"]) >= 2 and all(v > 0 for v in meta["extra_loss"]["curve"])
    plain = distill_cell(dataset, quick_config(method, 1, iterations=2, **FAST), tmp_path / "p", "cpu")
    assert plain["synthetic_sha256"] != meta["synthetic_sha256"]


def test_alpha_zero_equals_no_clom_bit_for_bit(setup, tmp_path):
    name, dataset, zoo = setup
    config = quick_config("dsa", 1, iterations=3, **FAST)
    plain = distill_cell(dataset, config, tmp_path / "plain", "cpu")
    clom = ClomConfig(distance="ce", zoo_source=name, archs=("LeNet",), epoch=1, alphas=(0.0,))
    zero = distill_cell(dataset, config, tmp_path / "zero", "cpu", clom, zoo)
    assert zero["synthetic_sha256"] == plain["synthetic_sha256"]


def test_missing_checkpoint_and_label_space_mismatch(setup, tmp_path):
    name, dataset, zoo = setup
    config = quick_config("dm", 1, iterations=1, **FAST)
    missing = ClomConfig(zoo_source=name, archs=("LeNet",), epoch=7)
    with pytest.raises(DDStudyError, match="epoch 7 not in"):
        distill_cell(dataset, config, tmp_path / "m", "cpu", missing, zoo)
    absent = ClomConfig(zoo_source=name, archs=("AlexNet",), epoch=1)
    with pytest.raises(DDStudyError, match="rule zoo_model"):
        distill_cell(dataset, config, tmp_path / "m", "cpu", absent, zoo)
    other = zoo / "five-classes" / "LeNet" / "init0"
    other.mkdir(parents=True)
    model = build_model("LeNet", 3, 5, 28, 0)
    save_checkpoint(
        other,
        1,
        model,
        {
            "image_shape": [3, 28, 28],
            "num_classes": 5,
            "arch": "LeNet",
            "normalization": Normalization.identity(3).to_dict(),
        },
    )
    mismatch = ClomConfig(distance="ce", zoo_source="five-classes", archs=("LeNet",), epoch=1)
    with pytest.raises(DDStudyError, match="label space"):
        distill_cell(dataset, config, tmp_path / "m", "cpu", mismatch, zoo)
    cos = ClomConfig(distance="cos", zoo_source="five-classes", archs=("LeNet",), epoch=1, batch_size=16)
    assert distill_cell(dataset, config, tmp_path / "ok", "cpu", cos, zoo)["num_images"] == 10
    assert not (tmp_path / "m").exists()
    with pytest.raises(DDStudyError, match="not the 'random' baseline"):
        distill_cell(dataset, quick_config("random", 1), tmp_path / "r", "cpu", cos, zoo)
    assert json.loads((tmp_path / "ok" / "meta.json").read_text())["extra"]["clom"]["zoo_source"] == "five-classes"
