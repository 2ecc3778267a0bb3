"""The ten CCIFAR10-DD corruptions: effect, range, determinism, and the ImageMagick motion-blur port."""

import numpy as np
import pytest

from ddstudy.data import corruptions
from ddstudy.errors import DDStudyError


def colourful(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Smooth colourful images (gradients + noise): every corruption has something to change."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    for i in range(n):
        r, g, b = rng.uniform(0.2, 0.8, 3)
        base = np.stack([r * xx + 0.2, g * yy + 0.1, b * (1 - xx) + 0.1]) * 255
        images[i] = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    return images


@pytest.mark.parametrize("name", corruptions.CORRUPTION_ORDER)
@pytest.mark.parametrize("size", [32, 28])
def test_each_corruption_changes_image_in_range_and_is_deterministic(name, size):
    images = colourful(6, size)
    for level in (2, 5):  # severities 1 and 4 of the bias study
        out = corruptions.corrupt(name, images, level, np.random.default_rng(7))
        again = corruptions.corrupt(name, images, level, np.random.default_rng(7))
        assert out.dtype == np.uint8 and out.shape == images.shape
        np.testing.assert_array_equal(out, again)
        changed = (out != images).any(axis=(1, 2, 3))
        assert changed.all(), f"{name} level {level} left an image unchanged"


def test_random_corruptions_depend_on_the_generator():
    images = colourful(4, 32)
    for name in ("snow", "frost", "fog", "spatter", "elastic"):
        a = corruptions.corrupt(name, images, 4, np.random.default_rng(1))
        b = corruptions.corrupt(name, images, 4, np.random.default_rng(2))
        assert (a != b).any(), name


def test_stronger_level_changes_more():
    images = colourful(8, 32)
    for name in ("contrast", "brightness", "fog", "pixelate", "jpeg"):
        weak = np.abs(corruptions.corrupt(name, images, 1, np.random.default_rng(0)).astype(int) - images).mean()
        strong = np.abs(corruptions.corrupt(name, images, 5, np.random.default_rng(0)).astype(int) - images).mean()
        assert strong > weak, name


def test_contrast_matches_formula():
    images = colourful(2, 32)
    out = corruptions.corrupt("contrast", images, 3, np.random.default_rng(0))
    x = images.transpose(0, 2, 3, 1) / 255.0
    means = x.mean(axis=(1, 2), keepdims=True)
    expected = (np.clip((x - means) * 0.4 + means, 0, 1) * 255).astype(np.uint8).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(out, expected)


def test_motion_blur_of_a_point_is_a_one_sided_streak():
    layer = np.zeros((21, 21), dtype=np.uint8)
    layer[10, 10] = 255
    blurred = corruptions.motion_blur(layer, radius=3, sigma=2, angle=0)  # angle 0: taps step along +x
    # Output pixel (10, x) reads input (10, x + i): the streak extends to the left of the point.
    row = blurred[10].astype(int)
    assert row[10] == row.max() and row[7] > 0 and row[11] == 0
    assert (blurred[:9] == 0).all() and (blurred[12:] == 0).all()
    taps = np.exp(-(np.arange(7) ** 2) / 8.0)
    np.testing.assert_allclose(row[10:3:-1], np.rint(255 * taps / taps.sum()), atol=1)


def test_corrupt_by_attribute_is_independent_of_workers():
    images = colourful(40, 32)
    attrs = np.arange(40) % 10
    one = corruptions.corrupt_by_attribute(images, attrs, 3, (5, 0), workers=1, chunk_size=16)
    two = corruptions.corrupt_by_attribute(images, attrs, 3, (5, 0), workers=2, chunk_size=16)
    np.testing.assert_array_equal(one, two)
    direct = corruptions.corrupt("frost", images[attrs == 1][:1], 4, np.random.default_rng(0))
    assert direct.shape == (1, 3, 32, 32)


def test_grey_images_are_replicated_to_rgb():
    grey = colourful(10, 28)[:, :1]
    out = corruptions.corrupt_by_attribute(grey, np.arange(10), 4, (0, 0))
    assert out.shape == (10, 3, 28, 28)


def test_bad_corruption_input():
    images = colourful(1, 32)
    with pytest.raises(DDStudyError, match="unknown corruption"):
        corruptions.corrupt("glitter", images, 2, np.random.default_rng(0))
    with pytest.raises(DDStudyError, match="level 6"):
        corruptions.corrupt("snow", images, 6, np.random.default_rng(0))
    with pytest.raises(DDStudyError, match="severity 5"):
        corruptions.corrupt_by_attribute(images, np.zeros(1, np.int64), 5, (0,))


def test_missing_frost_images_are_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(corruptions.FROST_ENV, str(tmp_path))
    corruptions.frost_texture.cache_clear()
    try:
        with pytest.raises(DDStudyError, match="frost images missing"):
            corruptions.corrupt_by_attribute(colourful(2, 32), np.array([1, 1]), 1, (0,))
    finally:
        corruptions.frost_texture.cache_clear()
