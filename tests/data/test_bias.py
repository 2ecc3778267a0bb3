"""Attribute assignment and the colour bias, against the reference's construction (Biased-DD)."""

import numpy as np
import pytest

from ddstudy.data import colour
from ddstudy.data.bias_kind import assign_attributes
from ddstudy.errors import DDStudyError

PAPER_RATIOS = [0.0, 0.1, 0.5, 0.8, 0.95, 1.0]


def reference_make_attr_labels(labels: np.ndarray, ratio: float, num_classes: int) -> np.ndarray:
    """A literal transcription of Biased-DD's make_attr_labels loop (slow, obviously right)."""
    counts = np.array([(labels == c).sum() for c in range(num_classes)])
    shares = ratio * np.eye(num_classes) + (1 - ratio) / (num_classes - 1) * (1 - np.eye(num_classes))
    milestones = (counts[:, None] * np.cumsum(shares, axis=1)).round()
    attrs = np.zeros_like(labels)
    for label in range(num_classes):
        for position, idx in enumerate(np.flatnonzero(labels == label)):
            attrs[idx] = np.min(np.nonzero(milestones[label] > position)[0])
    return attrs


@pytest.fixture(scope="module")
def uneven_labels():
    rng = np.random.default_rng(3)
    sizes = [101, 97, 250, 33, 64, 120, 88, 71, 55, 300]  # uneven classes, not multiples of 9 or 10
    return rng.permutation(np.repeat(np.arange(10), sizes)).astype(np.int64)


@pytest.mark.parametrize("ratio", PAPER_RATIOS)
def test_matches_reference_loop(uneven_labels, ratio):
    np.testing.assert_array_equal(
        assign_attributes(uneven_labels, ratio, 10), reference_make_attr_labels(uneven_labels, ratio, 10)
    )


@pytest.mark.parametrize("ratio", PAPER_RATIOS)
def test_aligned_fraction_and_equal_other_shares(uneven_labels, ratio):
    attrs = assign_attributes(uneven_labels, ratio, 10)
    for label in range(10):
        in_class = attrs[uneven_labels == label]
        n = len(in_class)
        assert abs((in_class == label).sum() - ratio * n) <= 1, "aligned count must be r·n within one sample"
        others = np.array([(in_class == a).sum() for a in range(10) if a != label])
        assert others.max() - others.min() <= 1, "the other nine attributes share the rest equally (±1)"
        assert abs(others.mean() - (1 - ratio) * n / 9) <= 1


def test_conflicting_and_uniform_test_modes(uneven_labels):
    conflicting = assign_attributes(uneven_labels, 0.0, 10)
    assert not (conflicting == uneven_labels).any()
    uniform = assign_attributes(uneven_labels, 0.1, 10)
    for label in range(10):
        counts = np.bincount(uniform[uneven_labels == label], minlength=10)
        assert counts.max() - counts.min() <= 1


@pytest.mark.parametrize("ratio", [-0.1, 1.5])
def test_ratio_out_of_range_is_an_error(ratio):
    with pytest.raises(DDStudyError, match="outside"):
        assign_attributes(np.zeros(10, dtype=np.int64), ratio, 10)


def test_colorize_formula_and_truncation():
    gray = np.full((4, 1, 2, 2), 200, dtype=np.uint8)
    attrs = np.array([0, 1, 2, 3])
    out = colour.colorize(gray, attrs, severity=5, rng=np.random.default_rng(0))
    assert out.shape == (4, 3, 2, 2) and out.dtype == np.uint8
    jitter = np.random.default_rng(0).standard_normal((4, 3), dtype=np.float32) * np.float32(0.002)
    expected = (np.clip(colour.LFF_MEAN_COLORS[attrs] + jitter, 0, 1) * np.float32(200)).astype(np.uint8)
    np.testing.assert_array_equal(out[:, :, 0, 0], expected)
    assert (out[:, :, 0, 0] <= 200).all()


def test_colour_jitter_shrinks_with_severity():
    gray = np.full((2000, 1, 1, 1), 255, dtype=np.uint8)
    attrs = np.zeros(2000, dtype=np.int64)
    spreads = []
    for severity in range(1, 6):
        colours = colour.colorize(gray, attrs, severity, np.random.default_rng(1))[:, :, 0, 0].astype(float)
        spreads.append(colours.std(axis=0).mean())
    assert all(a > b for a, b in zip(spreads, spreads[1:], strict=False)), spreads
    expected = [255 * s for s in colour.COLOR_JITTER_STD]
    assert spreads[0] == pytest.approx(expected[0], rel=0.15)


def test_colour_needs_grey_images_and_valid_severity():
    with pytest.raises(DDStudyError, match="1-channel"):
        colour.colorize(np.zeros((1, 3, 2, 2), np.uint8), np.zeros(1, np.int64), 1, np.random.default_rng(0))
    with pytest.raises(DDStudyError, match="severity 0"):
        colour.colorize(np.zeros((1, 1, 2, 2), np.uint8), np.zeros(1, np.int64), 0, np.random.default_rng(0))
