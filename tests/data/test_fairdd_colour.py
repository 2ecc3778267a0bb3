"""FairDD/COBRA coloured Fashion-MNIST (fg-color, bg-color) against hand-computed pixels and literal transcriptions
of zqhang/FairDD data_handler/FashionMNIST.py (torch arithmetic, numpy's global generator)."""

import json

import numpy as np
import pytest
import torch

from ddstudy.data import fairdd_colour as fc
from ddstudy.data.build import VariantSpec, build_variant
from ddstudy.data.registry import BIAS_KINDS
from ddstudy.data.sources import SourceData, Split
from ddstudy.data.store import load_variant
from ddstudy.data.tensors import Normalization
from ddstudy.errors import DDStudyError

ALL_GREYS = np.arange(256, dtype=np.uint8)


def reference_colour(gray: np.ndarray, colour: list[int], foreground: bool) -> np.ndarray:
    """The reference's _binary_to_colour_foreground/_background on a [N, H, W] uint8 batch, in torch, → [N,3,H,W]."""
    data = torch.from_numpy(gray)
    if foreground:
        data, start = data.float() / 255.0, torch.tensor([0, 0, 0], dtype=torch.float32)
    else:
        data, start = (255.0 - data.float()) / 255.0, torch.tensor([255.0, 255.0, 255.0], dtype=torch.float32)
    end = torch.tensor(colour, dtype=torch.float32) / 255.0
    out = start.view(1, 1, 1, 3) + data.unsqueeze(3) * (end.view(1, 1, 1, 3) - start.view(1, 1, 1, 3))
    return (out * 255).byte().numpy().transpose(0, 3, 1, 2)


@pytest.mark.parametrize("foreground", [True, False], ids=["fg", "bg"])
def test_every_grey_and_colour_matches_the_reference_arithmetic(foreground):
    gray = np.tile(ALL_GREYS.reshape(1, 16, 16), (10, 1, 1))
    ours = (fc.colour_foreground if foreground else fc.colour_background)(gray[:, None], np.arange(10))
    for attr in range(10):
        expected = reference_colour(gray[attr : attr + 1], fc.COLOUR_MAP[attr].astype(int).tolist(), foreground)
        np.testing.assert_array_equal(ours[attr : attr + 1], expected)


def test_hand_computed_pixels():
    gray = np.array([0, 255, 128], dtype=np.uint8).reshape(1, 1, 1, 3)
    orange = np.array([1])  # (255, 128, 0)
    fg = fc.colour_foreground(gray, orange)[0, :, 0]  # [3 channels, 3 pixels]
    np.testing.assert_array_equal(fg[:, 0], [0, 0, 0])  # black stays black
    np.testing.assert_array_equal(fg[:, 1], [255, 128, 0])  # white becomes the colour
    np.testing.assert_array_equal(fg[:, 2], [128, 64, 0])  # 128/255 · c: truncated (128.0, 64.25, 0)
    white = np.array([9])
    bg = fc.colour_background(gray, white)[0, :, 0]
    np.testing.assert_array_equal(bg[:, 0], [255, 255, 255])  # background (x = 0) gets the colour
    # The garment's white pixel: (255 + 0 · …) · 255 = 65,025 → byte wrap 65,025 mod 256 = 1 ("garment black").
    np.testing.assert_array_equal(bg[:, 1], [1, 1, 1])
    red = fc.colour_background(gray, np.array([0]))[0, :, 0]
    np.testing.assert_array_equal(red[:, 0], [255, 0, 0])


def test_padding_puts_the_image_bottom_right():
    gray = np.full((2, 1, 28, 28), 200, dtype=np.uint8)
    padded = fc.pad_like_fairdd(gray)
    assert padded.shape == (2, 1, 32, 32)
    assert (padded[:, :, :4] == 0).all() and (padded[:, :, :, :4] == 0).all()
    assert (padded[:, :, 4:, 4:] == 200).all()


def reference_assignment(labels_by_split, correlations, seed=42):
    """A literal transcription of _update_bias_indices, build_biased_fashionmnist and the final shuffle, drawing
    from numpy's global generator (``np.random.seed(42)`` in main_DM.py), train built before test."""
    np.random.seed(seed)  # noqa: NPY002 - the reference's global generator
    out = {}
    for split, labels in labels_by_split.items():
        targets = torch.from_numpy(labels)
        bias_indices = {label: torch.LongTensor() for label in range(10)}
        for label in range(10):
            indices = np.where((targets == label).numpy())[0]
            np.random.shuffle(indices)  # noqa: NPY002
            indices = torch.LongTensor(indices)
            n = len(indices)
            n_corr = int(n * correlations[split])
            per = int(np.ceil((n - n_corr) / 9))
            bias_indices[label] = torch.cat([bias_indices[label], indices[:n_corr]])
            others = [x % 10 for x in range(label + 1, label + 10)]
            np.random.shuffle(others)  # noqa: NPY002
            for idx, chunk in enumerate(torch.split(indices[n_corr:], per)):
                bias_indices[others[idx]] = torch.cat([bias_indices[others[idx]], chunk])
        order = torch.cat(list(bias_indices.values())).numpy()
        attrs = np.concatenate([[b] * len(i) for b, i in bias_indices.items()]).astype(np.int64)
        shuffle = np.arange(len(order))
        np.random.shuffle(shuffle)  # noqa: NPY002
        out[split] = (order[shuffle], attrs[shuffle])
    return out


def test_assignment_replays_the_reference_stream():
    rng = np.random.default_rng(0)
    labels = {
        "train": rng.permutation(np.repeat(np.arange(10), [600, 587, 610, 599, 600, 605, 590, 600, 612, 597])),
        "test": rng.permutation(np.repeat(np.arange(10), 100)),
    }
    ratios = {"train": 0.9, "test": 0.1}
    ours = fc.fairdd_assignment(labels, ratios, 10, 42)
    reference = reference_assignment(labels, ratios)
    for split in labels:
        np.testing.assert_array_equal(ours[split][0], reference[split][0])
        np.testing.assert_array_equal(ours[split][1], reference[split][1])
        order, attrs = ours[split]
        assert sorted(order.tolist()) == list(range(len(labels[split])))  # a permutation of the split
        aligned = (attrs == labels[split][order]).mean()
        assert abs(aligned - ratios[split]) < 0.01


def _source(n_train=30, n_test=20):
    rng = np.random.default_rng(1)

    def split(n):
        return Split(rng.integers(0, 256, (n * 10, 1, 28, 28), dtype=np.uint8), np.repeat(np.arange(10), n))

    return SourceData("fashion-mnist", split(n_train), split(n_test), tuple(f"c{i}" for i in range(10)))


@pytest.mark.parametrize("kind", ["fg-color", "bg-color"])
def test_built_variant_has_fixed_normalisation_padding_and_reference_attributes(tmp_path, kind):
    source = _source()
    spec = VariantSpec(source="fashion-mnist", bias=kind, ratio=0.9, severity=1, test_attrs="uniform")
    assert spec.name == f"fashion-mnist-{kind}-r0.9-s1-tuniform"
    build_variant(spec, tmp_path / "v", source=source)
    variant = load_variant(tmp_path / "v")
    assert variant.meta["image_shape"] == [3, 32, 32]
    assert variant.meta["attribute_names"][1] == "orange"
    norm = Normalization.of_variant(variant.info, variant.train.images)
    assert norm == Normalization((0.5,) * 3, (0.5,) * 3)
    expected = reference_assignment(
        {"train": source.train.labels, "test": source.test.labels}, {"train": 0.9, "test": 0.1}
    )
    for name, split in (("train", variant.train), ("test", variant.test)):
        order, attrs = expected[name]
        original = getattr(source, name)
        np.testing.assert_array_equal(split.labels, original.labels[order])
        np.testing.assert_array_equal(split.attrs, attrs)
        colour = fc.colour_foreground if kind == "fg-color" else fc.colour_background
        np.testing.assert_array_equal(split.images, colour(fc.pad_like_fairdd(original.images[order]), attrs))
    assert json.loads((tmp_path / "v" / "meta.json").read_text())["counts"]["train"]["aligned"] == 270


def test_more_classes_than_colours_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    split = Split(rng.integers(0, 256, (22, 1, 28, 28), dtype=np.uint8), np.arange(22) % 11)
    source = SourceData("fashion-mnist", split, split, tuple(f"c{i}" for i in range(11)))
    spec = VariantSpec(source="fashion-mnist", bias="fg-color", ratio=0.9, severity=1)
    with pytest.raises(DDStudyError, match="10 colours"):
        build_variant(spec, tmp_path / "v", source=source)
    assert not (tmp_path / "v").exists()


def test_registry_lists_both_kinds_with_one_severity():
    assert {"fg-color", "bg-color"} <= set(BIAS_KINDS)
    assert BIAS_KINDS["fg-color"].max_severity == 1
    with pytest.raises(DDStudyError, match="severity"):
        VariantSpec(source="fashion-mnist", bias="bg-color", ratio=0.9, severity=2)


@pytest.mark.parametrize("kind", ["fg-color", "bg-color"])
def test_sample_figure_shows_the_one_severity_in_the_reference_colours(tmp_path, kind, monkeypatch):
    """The by-severity figure of a one-severity kind has two columns (clean, coloured), and its coloured images are
    the aligned colour of each class (pixel content checked, not only that a file exists)."""
    import matplotlib.image

    from ddstudy.report import samples

    drawn = {}
    original = samples._grid_figure

    def spy(cells, row_labels, col_labels, title):
        drawn.update(cells=cells, cols=col_labels)
        return original(cells, row_labels, col_labels, title)

    monkeypatch.setattr(samples, "_grid_figure", spy)
    source = _source()
    path = samples.plot_severity_figure(source, kind, [1], tmp_path / "f.png")
    assert matplotlib.image.imread(path).shape[2] in (3, 4)
    assert drawn["cols"] == ["clean", ("foreground" if kind == "fg-color" else "background") + "\ncolour"]
    for c, row in enumerate(drawn["cells"]):
        coloured = row[1]  # HWC uint8, 32×32
        assert coloured.shape == (32, 32, 3)
        corner = coloured[0, 0]  # a padding pixel: black (FG) or the class's colour (BG)
        expected = [0, 0, 0] if kind == "fg-color" else fc.COLOUR_MAP[c].astype(int).tolist()
        assert corner.tolist() == expected


def _reference_binary(data: torch.Tensor, colour: list[int], foreground: bool) -> np.ndarray:
    """zqhang/FairDD (= COBRA) ``colour_mnist.py`` ``_binary_to_colour_foreground`` / ``_background``, transcribed:
    [N, H, W] uint8 → [N, 3, H, W]."""
    if foreground:
        fg = torch.zeros_like(data)
        fg[data >= 128] = 1
        fg[data < 128] = 0
        out = torch.stack([fg, fg, fg], dim=3) * torch.ByteTensor(colour)
        return out.permute(0, 3, 1, 2).numpy()
    bg = torch.zeros_like(data)
    bg[data < 128] = 1
    bg[data >= 128] = 0
    out = torch.stack([bg, bg, bg], dim=3) * torch.ByteTensor(colour)
    return out.permute(0, 3, 1, 2).numpy()


@pytest.mark.parametrize("foreground", [True, False])
def test_cmnist_binary_colouring_matches_the_reference_and_hand_pixels(foreground):
    """C-MNIST (fg-color-binary / bg-color-binary): every grey level against the reference code, and by hand —
    grey 127 / 128 / 255 with orange (255, 128, 0): foreground black / orange / orange, background orange / black /
    black."""
    gray = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    colour = fc.colour_foreground_binary if foreground else fc.colour_background_binary
    for attr in range(10):
        ours = colour(gray[:, None], np.array([attr]))
        theirs = _reference_binary(torch.from_numpy(gray), fc.COLOUR_MAP[attr].astype(int).tolist(), foreground)
        assert np.array_equal(ours, theirs), attr
    pixels = colour(np.array([[[[127, 128, 255]]]], dtype=np.uint8), np.array([1]))[0, :, 0].T.tolist()
    orange, black = [255, 128, 0], [0, 0, 0]
    assert pixels == ([black, orange, orange] if foreground else [orange, black, black])


def test_cmnist_kinds_share_the_fmnist_kinds_attributes_and_padding():
    for binary, fashion in (("fg-color-binary", "fg-color"), ("bg-color-binary", "bg-color")):
        assert BIAS_KINDS[binary].assign is BIAS_KINDS[fashion].assign is fc.fairdd_assignment
        assert BIAS_KINDS[binary].max_severity == 1 and "C-MNIST" in BIAS_KINDS[binary].meta(1)["construction"]
