"""CIFAR10-S (bias kind ``grayscale``) against FairDD's / COBRA's ``CIFAR_10S`` — greying, groups, order, test set."""

import numpy as np
import pytest
from PIL import Image

from ddstudy.data import grayscale as gs
from ddstudy.data.build import VariantSpec, build_variant
from ddstudy.data.sources import SourceOptions, load_source
from ddstudy.data.store import load_variant
from ddstudy.errors import DDStudyError
from tests.data.test_sources import _official_md5s


def test_grey_is_pil_convert_l_on_every_colour_we_try():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(16, 3, 8, 8), dtype=np.uint8)
    images[0, :, 0, 0] = (255, 255, 255)
    ours = gs.to_grayscale(images)
    for image, grey in zip(images, ours, strict=True):
        pil = np.asarray(Image.fromarray(image.transpose(1, 2, 0)).convert("L"))
        assert (grey == pil[None]).all()  # the same byte in all three channels


def test_hand_computed_greys():
    pixels = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [10, 20, 30]], dtype=np.uint8)
    grey = gs.to_grayscale(pixels.T[None, :, None, :])[0, 0, 0]
    # (19595 R + 38470 G + 7471 B + 32768) >> 16, by hand: 76.2→76, 150.2→150, 29.6→29, 255.5→255, 18.6→18
    assert grey.tolist() == [76, 150, 29, 255, 18]


def reference_skew(labels: np.ndarray, skew: float, seed: int, num_classes: int = 10):
    """A transcription of ``CIFAR_10S._make_skewed`` (train) over ``CIFAR10(shuffle=True, seed)``'s order."""
    np.random.seed(seed)  # noqa: NPY002 - the reference's global generator
    idx = np.arange(len(labels), dtype=np.int64)
    np.random.shuffle(idx)  # noqa: NPY002
    shuffled = labels[idx]
    total = len(labels) // num_classes
    skewed = int((len(labels) * skew) // num_classes)
    colors = np.zeros(len(labels))
    count = np.zeros((2, num_classes), dtype=int)
    for i, target in enumerate(shuffled):
        limit = skewed if target < 5 else total - skewed
        if count[0, target] < limit:
            colors[i] = 0
            count[0, target] += 1
        else:
            colors[i] = 1
            count[1, target] += 1
    return idx, colors.astype(np.int64)


@pytest.mark.parametrize("seed", [0, 3])
def test_training_groups_and_order_replay_the_reference(seed):
    labels = np.repeat(np.arange(10), 20)
    np.random.default_rng(1).shuffle(labels)
    order, attrs = gs.cifar10s_assignment({"train": labels}, {"train": 0.9}, 10, seed)["train"]
    ref_order, ref_attrs = reference_skew(labels, 0.9, seed)
    assert (order == ref_order).all() and (attrs == ref_attrs).all()
    grey = np.bincount(labels[order][attrs == gs.GREY], minlength=10)
    assert grey.tolist() == [18] * 5 + [2] * 5  # 90 % grey in classes 0–4, 10 % in 5–9


def test_test_split_is_every_image_grey_then_colour():
    labels = np.repeat(np.arange(10), 3)
    order, attrs = gs.cifar10s_assignment({"test": labels}, {"test": 0.1}, 10, 0)["test"]
    n = len(labels)
    assert (order[:n] == order[n:]).all() and sorted(order[:n]) == list(range(n))
    assert (attrs[:n] == gs.GREY).all() and (attrs[n:] == gs.COLOUR).all()
    # test_attrs: conflicting — each image once, in the group its class is not aligned with
    order, attrs = gs.cifar10s_assignment({"test": labels}, {"test": 0.0}, 10, 0)["test"]
    assert len(order) == n and (attrs == np.where(labels[order] < 5, gs.COLOUR, gs.GREY)).all()


def test_built_variant(tmp_path, cifar_root, monkeypatch):
    _official_md5s(cifar_root, monkeypatch)
    options = SourceOptions(root=cifar_root)
    source = load_source("cifar10", options)
    spec = VariantSpec("cifar10", "grayscale", 0.9, 1, seed=0, test_attrs="uniform")
    meta = build_variant(spec, tmp_path / spec.name, options)
    assert meta["aligned_attributes"] == [0] * 5 + [1] * 5 and meta["attribute_names"] == ["grayscale", "colour"]
    assert meta["normalization"] == gs.NORMALIZATION
    variant = load_variant(tmp_path / spec.name)
    train, test = variant.train, variant.test
    # the training split: the source in the reference's order, the grey group greyed, the colour group untouched
    order = gs.reference_order(len(source.train.labels), 0)
    assert (train.labels == source.train.labels[order]).all()
    grey = train.attrs == gs.GREY
    assert (train.images[~grey] == source.train.images[order][~grey]).all()
    assert (train.images[grey] == gs.to_grayscale(source.train.images[order][grey])).all()
    assert (train.images[grey][:, 0] == train.images[grey][:, 2]).all()
    assert train.aligned.mean() == pytest.approx(0.9)  # 9 of 10 images per class in the class's aligned group
    assert meta["counts"]["train"]["aligned_fraction"] == pytest.approx(0.9)
    # the test split: twice the source, balanced groups, half of it aligned
    assert len(test.labels) == 2 * len(source.test.labels)
    assert np.bincount(test.attrs).tolist() == [len(source.test.labels)] * 2
    assert test.aligned.mean() == pytest.approx(0.5)


def test_grey_source_is_refused_before_anything_is_written(tmp_path, fashion_options):
    spec = VariantSpec("fashion-mnist", "grayscale", 0.9, 1)
    with pytest.raises(DDStudyError, match="needs a colour source"):
        build_variant(spec, tmp_path / "x", fashion_options)
    assert not (tmp_path / "x").exists()
