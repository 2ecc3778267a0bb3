"""IDC (snu-mllab/Efficient-Dataset-Condensation): multi-formation by hand, its init, pixel-space SGD in normalised
units, the matching distance, CutMix and the decoded evaluation set. Runs, resume and every debias mode are held
by tests/test_contracts.py like every method."""

import pytest
import torch
import torch.nn.functional as F

from ddstudy.data.store import load_variant
from ddstudy.data.tensors import Normalization, to_tensors
from ddstudy.distill import idc
from ddstudy.distill.loop import new_context
from ddstudy.distill.real import RealPool
from ddstudy.distill.run import distill_cell, load_synthetic
from ddstudy.errors import DDStudyError
from tests.method_support import quick_config


def test_decode_zoom_by_hand():
    image = torch.arange(16.0).view(1, 1, 4, 4)
    decoded = idc.decode_zoom(image, 2)
    assert decoded.shape == (4, 1, 4, 4)
    # crop (0, 0) = [[0, 1], [4, 5]] upsampled ×2 bilinearly (align_corners=False): rows 0, 0.25, 0.75, 1 between
    top_left = torch.tensor([[0, 0.25, 0.75, 1], [1, 1.25, 1.75, 2], [3, 3.25, 3.75, 4], [4, 4.25, 4.75, 5]])
    assert torch.equal(decoded[0, 0], top_left)
    # crops in the order (0,0), (0,1), (1,0), (1,1): each the first one shifted by its offset in the image
    for k, offset in enumerate((0, 2, 8, 10)):
        assert torch.allclose(decoded[k, 0], top_left + offset)
    assert torch.equal(idc.decode_zoom(image, 1), image)


def test_decode_zoom_pads_an_odd_side_with_half_grey():
    image = torch.zeros(1, 1, 3, 3)
    decoded = idc.decode_zoom(image, 2, pad_value=0.5)  # padded to 4×4 with 0.5, crops of 2, upsampled to 3×3
    corner = F.interpolate(torch.tensor([[[[0.0, 0.5], [0.5, 0.5]]]]), size=(3, 3), mode="bilinear")
    assert torch.allclose(decoded[3], corner) and torch.equal(decoded[0], torch.zeros(1, 3, 3))


def test_decode_set_repeats_labels_per_class():
    images = torch.randn(6, 3, 8, 8)
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    decoded, targets = idc.decode_set(images, labels, {"factor": 2})
    assert decoded.shape == (24, 3, 8, 8) and targets.tolist() == [0] * 12 + [1] * 12
    assert torch.equal(decoded[:12], idc.decode_zoom(images[:3], 2))
    assert idc.decode_set(images, labels, {"factor": 1})[0] is images


def _context(variant_folder, **settings):
    variant = load_variant(variant_folder)
    normalization = Normalization.of_variant(variant.info, variant.train.images)
    pool = RealPool(to_tensors(variant.train, normalization), variant.meta["num_classes"], torch.device("cpu"),
                    normalization)  # fmt: skip
    config = quick_config("idc", 2, model="ConvNetW32", **settings)
    shape = tuple(variant.meta["image_shape"])
    ctx = new_context(config, "toy/idc_ipc2", pool, shape, torch.device("cpu"))
    method = idc.Idc()
    method.prepare(ctx)
    return ctx, method, normalization


def test_mix_init_puts_downsampled_real_images_in_the_tiles(colour_variant):
    ctx, _, _ = _context(colour_variant, init="mix")
    size = ctx.image_shape[-1]
    real = ctx.pool.sample(0, 2 * 4, ctx.generator("idc-init-mix", 0))
    half = size // 2
    tile_11 = ctx.images[0:2, :, half:, half:].detach()
    assert torch.equal(tile_11, F.interpolate(real[6:8], size=(half, half)))  # tile k=3 holds images 3·ipc…
    tile_00 = ctx.images[0:2, :, :half, :half].detach()
    assert torch.equal(tile_00, F.interpolate(real[0:2], size=(half, half)))


def test_sgd_in_normalised_units_equals_the_references_pixel_space_sgd(colour_variant):
    """The stored images' SGD (momentum 0.5) with the 1/σ² gradient scaling is the reference's pixel-space SGD
    seen through x_n = (x − μ)/σ, over two steps of a loss defined on pixels."""
    ctx, _, norm = _context(colour_variant, init="real")
    mean = torch.tensor(norm.mean).view(1, -1, 1, 1)
    std = torch.tensor(norm.std).view(1, -1, 1, 1)
    lr = ctx.optimizer.param_groups[0]["lr"]
    weights = torch.randn(ctx.images.shape, generator=torch.Generator().manual_seed(0))
    pixels = (ctx.images.detach() * std + mean).clone().requires_grad_(True)
    reference = torch.optim.SGD([pixels], lr=lr, momentum=0.5)
    for _ in range(2):
        ctx.optimizer.zero_grad()
        ((ctx.images * std + mean) ** 2 * weights).sum().backward()
        ctx.optimizer.step()
        reference.zero_grad()
        (pixels**2 * weights).sum().backward()
        reference.step()
    assert torch.allclose(ctx.images.detach(), (pixels.detach() - mean) / std, atol=1e-5, rtol=1e-5)


def test_tuned_lr_and_the_matched_layers():
    config = quick_config("idc", 10, lr_img=5e-3)
    assert config.tuned_lr(32) == pytest.approx(5e-3) and config.tuned_lr(28) == pytest.approx(5e-3 * (28 / 32) ** 2)
    assert quick_config("idc", 50).tuned_lr(32) == pytest.approx(2.5e-2)
    conv, bias, fc = torch.ones(2, 1, 3, 3), torch.ones(2), torch.ones(3, 2)
    syn = [conv * 0, bias * 0, fc * 0]
    real = [conv, bias, fc]
    # mse over the convolution only: 18 ones; with biases 20; with the classifier too 26
    assert float(idc.gradient_distance(syn, real, quick_config("idc", 1))) == 18
    assert float(idc.gradient_distance(syn, real, quick_config("idc", 1, match_bias=True))) == 20
    assert float(idc.gradient_distance(syn, real, quick_config("idc", 1, match_bias=True, match_fc=True))) == 26
    assert float(idc.gradient_distance(syn, [2 * conv, bias, fc], quick_config("idc", 1, metric="l1"))) == 36
    with pytest.raises(DDStudyError, match="no layer left to match"):
        idc.gradient_distance([bias * 0], [bias], quick_config("idc", 1))


def test_cutmix_keeps_the_unpasted_share():
    x = torch.zeros(4, 1, 10, 10)
    x[1] = 1
    y = torch.tensor([0, 1, 2, 3])
    mixed, y_a, y_b, kept = idc.cutmix(x, y, torch.Generator().manual_seed(3))
    pasted = float((mixed != x).float().sum() + 0)
    assert torch.equal(y_a, y) and sorted(y_b.tolist()) == [0, 1, 2, 3]
    assert 0.0 <= kept <= 1.0 and pasted <= (1 - kept) * 100 * 4 + 1e-6


def test_a_run_stores_the_condensed_set_and_evaluation_sees_it_decoded(colour_variant, tmp_path):
    config = quick_config("idc", 1, model="ConvNetW32", iterations=1, inner_loop=1, n_data=8, batch_real=8)
    meta = distill_cell(colour_variant, config, tmp_path / "idc", "cpu")
    assert meta["num_images"] == meta["num_classes"] and meta["extra"]["decoded_per_class"] == 4
    images, labels, _ = load_synthetic(tmp_path / "idc")
    assert len(images) == 4 * meta["num_classes"] and torch.bincount(labels).tolist() == [4] * meta["num_classes"]


def test_clom_is_refused_before_anything_is_written(colour_variant, tmp_path):
    from ddstudy.distill.clom import ClomConfig

    with pytest.raises(DDStudyError, match="idc takes no CLoM"):
        distill_cell(colour_variant, quick_config("idc", 1), tmp_path / "x", "cpu", clom=ClomConfig(zoo_source="toy"))
    assert not (tmp_path / "x").exists()
