"""DC's evaluation augmentation (reference ``augment`` + ``get_daparam``), the protocol of DC's MNIST cells."""

import pytest
import torch

from ddstudy.augment import MNIST_DC_STRATEGY, check_eval_strategy, dc_augment, training_augment
from ddstudy.errors import DDStudyError
from ddstudy.evaluate.protocol import EvalConfig


def _batch(n=6, c=1, size=28):
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(0))


def test_same_seed_same_images_input_untouched():
    x = _batch()
    before = x.clone()
    a = dc_augment(x, MNIST_DC_STRATEGY, torch.Generator().manual_seed(3))
    b = dc_augment(x, MNIST_DC_STRATEGY, torch.Generator().manual_seed(3))
    c = dc_augment(x, MNIST_DC_STRATEGY, torch.Generator().manual_seed(4))
    assert torch.equal(x, before) and torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.dtype == x.dtype


def test_crop_is_a_shift_with_the_channel_mean_as_fill():
    x = _batch(n=4, c=3, size=32)
    out = dc_augment(x, "dc:crop", torch.Generator().manual_seed(1))
    means = x.mean(dim=(0, 2, 3))
    for i in range(4):
        padded = means[:, None, None].repeat(1, 40, 40)
        padded[:, 4:36, 4:36] = x[i]
        shifts = [(r, c) for r in range(8) for c in range(8) if torch.equal(padded[:, r : r + 32, c : c + 32], out[i])]
        assert shifts, "a crop is the padded image cut at an offset in [0, 8)"


def test_noise_is_small_and_rotate_keeps_the_centre():
    x = _batch()
    noisy = dc_augment(x, "dc:noise", torch.Generator().manual_seed(2))
    assert 0 < (noisy - x).abs().max() < 0.01
    turned = dc_augment(x, "dc:rotate", torch.Generator().manual_seed(2))
    assert turned.shape == x.shape and torch.allclose(turned[:, :, 14, 14], x[:, :, 14, 14], atol=0.6)
    scaled = dc_augment(x, "dc:scale", torch.Generator().manual_seed(2))
    assert scaled.shape == x.shape and not torch.equal(scaled, x)


def test_strategy_names_are_checked():
    assert check_eval_strategy("dc:crop_scale_rotate") == "dc:crop_scale_rotate"
    assert training_augment("none", torch.Generator()) is None
    with pytest.raises(DDStudyError, match="unknown DC augmentation 'flip'"):
        check_eval_strategy("dc:crop_flip")
    with pytest.raises(DDStudyError, match="unknown DC augmentation"):
        EvalConfig(augment="dc:blur")
    resolved = EvalConfig(augment=MNIST_DC_STRATEGY).resolved("dc")
    assert resolved.epochs == 1000  # the reference: augmentation → 1000 epochs
