"""The ten corruptions of CCIFAR10-DD, with the CIFAR-10-C parameters the reference uses for 32×32 images.

Mirrors yaolu-zjut/Biased-DD ``corrupted_cifar10_protocol.py`` (itself Hendrycks & Dietterich's CIFAR-10-C code,
via LfF): attribute ``a`` applies ``CORRUPTION_ORDER[a]`` at corruption level ``severity + 1``. Differences, each
listed in docs/deviations.md:

* ImageMagick/Wand is not needed: the motion blur inside ``snow`` is a numpy port of ImageMagick's
  ``MotionBlurImage`` (one-sided Gaussian kernel of width 2·radius+1 along the angle, edge pixels repeated).
* ``frost`` reads the ImageNet-C frost images shipped (as data files) in the ``imagecorruptions`` wheel; the
  reference expects them in a ``resource/`` folder it does not ship. Same 0.2 rescale and random 32-px crop.
* Randomness comes from an explicit ``numpy.random.Generator`` per chunk of images (the reference draws from the
  global ``np.random`` state), so a build is reproducible and independent of the number of worker processes.
* Images of another size (28×28 Fashion-MNIST) use the same code with the size taken from the image where the
  reference hard-codes 32; grey images are replicated to three channels first.

Each function takes a batch ``[N, H, W, 3]`` uint8 (RGB) and returns floats in [0, 255]; the caller clips and
truncates to uint8, as the reference's ``np.array(img).astype(np.uint8)`` does.
"""

from __future__ import annotations

import importlib.util
import io
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ddstudy.data.bias_kind import BiasKind
from ddstudy.errors import DDStudyError
from ddstudy.lazy import lazy

# Imported on first use: the grid commands read this module's BiasKind, not its image operations (ddstudy.lazy).
cv2 = lazy("cv2")
Image = lazy("PIL.Image")
ndimage = lazy("scipy.ndimage")
skcolor = lazy("skimage.color")
skfilters = lazy("skimage.filters")

FROST_ENV = "DDSTUDY_FROST_DIR"
FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg")

Batch = np.ndarray  # [N, H, W, 3] uint8 in, float in [0, 255] out
CorruptionFn = Callable[[Batch, int, np.random.Generator], np.ndarray]


# ---------------------------------------------------------------------------------------------------- helpers
def _per_image(fn: Callable[[np.ndarray, tuple, np.random.Generator], np.ndarray], table: list) -> CorruptionFn:
    """Lift a per-image corruption (random draws in image order) to a batch function."""

    def batch_fn(images: Batch, level: int, rng: np.random.Generator) -> np.ndarray:
        params = table[level - 1]
        out = np.empty(images.shape, dtype=np.float32)
        for i, image in enumerate(images):
            out[i] = fn(image, params, rng)
        return out

    return batch_fn


def clipped_zoom(image: np.ndarray, zoom_factor: float) -> np.ndarray:
    """Zoom the centre crop back to full size (bilinear), trimming the overshoot (reference ``clipped_zoom``)."""
    size = image.shape[0]
    crop = int(np.ceil(size / zoom_factor))
    top = (size - crop) // 2
    zoomed = ndimage.zoom(image[top : top + crop, top : top + crop], (zoom_factor, zoom_factor, 1), order=1)
    trim = (zoomed.shape[0] - size) // 2
    return zoomed[trim : trim + size, trim : trim + size]


def motion_blur(layer: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
    """ImageMagick ``MotionBlurImage`` on a 2-D uint8 image; returns uint8 (rounded, as an 8-bit PNG would hold).

    Kernel: ``exp(−i²/2σ²)`` for i = 0..width−1, normalised, width = 2·ceil(radius)+1; tap i reads the pixel at
    offset ``(ceil(i·cos θ − 0.5), ceil(i·sin θ − 0.5))`` (x, y) with edge pixels repeated (virtual-pixel "edge").
    """
    width = 2 * int(np.ceil(radius)) + 1
    taps = np.arange(width, dtype=np.float64)
    kernel = np.exp(-(taps**2) / (2.0 * sigma * sigma))
    kernel /= kernel.sum()
    theta = np.deg2rad(angle)
    point_x, point_y = width * np.sin(theta), width * np.cos(theta)
    norm = np.hypot(point_x, point_y)
    offset_x = np.ceil(taps * point_y / norm - 0.5).astype(int)
    offset_y = np.ceil(taps * point_x / norm - 0.5).astype(int)
    height, width_px = layer.shape
    rows, cols = np.arange(height), np.arange(width_px)
    source = layer.astype(np.float64)
    out = np.zeros_like(source)
    for weight, dx, dy in zip(kernel, offset_x, offset_y, strict=True):
        out += weight * source[np.clip(rows + dy, 0, height - 1)][:, np.clip(cols + dx, 0, width_px - 1)]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def plasma_fractal(mapsize: int, wibbledecay: float, rng: np.random.Generator) -> np.ndarray:
    """Diamond-square height map in [0, 1] (reference ``plasma_fractal``; mapsize a power of two)."""
    maparray = np.empty((mapsize, mapsize), dtype=np.float64)
    maparray[0, 0] = 0
    stepsize = mapsize
    wibble = 100.0

    def wibbled_mean(array: np.ndarray) -> np.ndarray:
        return array / 4 + wibble * rng.uniform(-wibble, wibble, array.shape)

    while stepsize >= 2:
        half = stepsize // 2
        corners = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        squares = corners + np.roll(corners, shift=-1, axis=0)
        squares += np.roll(squares, shift=-1, axis=1)
        maparray[half:mapsize:stepsize, half:mapsize:stepsize] = wibbled_mean(squares)
        centres = maparray[half:mapsize:stepsize, half:mapsize:stepsize]
        corners = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        left_top = centres + np.roll(centres, 1, axis=0) + corners + np.roll(corners, -1, axis=1)
        maparray[0:mapsize:stepsize, half:mapsize:stepsize] = wibbled_mean(left_top)
        top_left = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=0)
        maparray[half:mapsize:stepsize, 0:mapsize:stepsize] = wibbled_mean(top_left)
        stepsize //= 2
        wibble /= wibbledecay
    maparray -= maparray.min()
    return maparray / maparray.max()


def frost_dir() -> Path:
    """Folder of the ImageNet-C frost images: $DDSTUDY_FROST_DIR, else the installed ``imagecorruptions`` wheel.

    The package is located without importing it (it does not import with setuptools ≥ 81 or numpy 2).
    """
    if os.environ.get(FROST_ENV):
        folder = Path(os.environ[FROST_ENV])
    else:
        spec = importlib.util.find_spec("imagecorruptions")
        locations = list(spec.submodule_search_locations or []) if spec else []
        folder = Path(locations[0]) / "frost" if locations else Path("<imagecorruptions not installed>")
    missing = [name for name in FROST_FILES[:5] if not (folder / name).is_file()]
    if missing:
        raise DDStudyError(
            f"frost images missing in {folder} ({', '.join(missing)}): run `make setup` (installs "
            f"imagecorruptions==1.1.2 --no-deps for its frost images) or set {FROST_ENV} to a folder holding them"
        )
    return folder


@lru_cache(maxsize=8)
def frost_texture(index: int) -> np.ndarray:
    """Frost image ``index`` as RGB float, scaled by 0.2 with cv2's bilinear resize as the reference does."""
    path = frost_dir() / FROST_FILES[index]
    bgr = cv2.imread(str(path))
    if bgr is None:
        raise DDStudyError(f"{path}: cannot decode the frost image; reinstall imagecorruptions==1.1.2")
    return cv2.resize(bgr, (0, 0), fx=0.2, fy=0.2)[..., ::-1].copy()


# ---------------------------------------------------------------------------------------------------- corruptions
SNOW = [
    (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
    (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
    (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
    (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
    (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
]


def _snow(image: np.ndarray, c: tuple, rng: np.random.Generator) -> np.ndarray:
    size = image.shape[0]
    x = image.astype(np.float32) / 255.0
    layer = rng.normal(size=x.shape[:2], loc=c[0], scale=c[1])
    layer = clipped_zoom(layer[..., np.newaxis], c[2])
    layer[layer < c[3]] = 0
    layer_u8 = (np.clip(layer.squeeze(), 0, 1) * 255).astype(np.uint8)
    blurred = motion_blur(layer_u8, radius=c[4], sigma=c[5], angle=rng.uniform(-135, -45))
    snow = (blurred / 255.0)[..., np.newaxis]
    grey = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).reshape(size, size, 1)
    x = c[6] * x + (1 - c[6]) * np.maximum(x, grey * 1.5 + 0.5)
    return np.clip(x + snow + np.rot90(snow, k=2), 0, 1) * 255


FROST = [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)]


def _frost(image: np.ndarray, c: tuple, rng: np.random.Generator) -> np.ndarray:
    size = image.shape[0]
    texture = frost_texture(int(rng.integers(5)))  # reference: np.random.randint(5) — frost6 is never drawn
    top = int(rng.integers(0, texture.shape[0] - size))
    left = int(rng.integers(0, texture.shape[1] - size))
    crop = texture[top : top + size, left : left + size]
    return np.clip(c[0] * image.astype(np.float64) + c[1] * crop, 0, 255)


FOG = [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)]


def _fog(image: np.ndarray, c: tuple, rng: np.random.Generator) -> np.ndarray:
    size = image.shape[0]
    mapsize = 1 << max(5, int(np.ceil(np.log2(size))))  # the reference's 32 for CIFAR; covers larger images
    x = image / 255.0
    max_val = x.max()
    x = x + c[0] * plasma_fractal(mapsize, c[1], rng)[:size, :size][..., np.newaxis]
    return np.clip(x * max_val / (max_val + c[0]), 0, 1) * 255


SPATTER = [
    (0.62, 0.1, 0.7, 0.7, 0.5, 0),
    (0.65, 0.1, 0.8, 0.7, 0.5, 0),
    (0.65, 0.3, 1, 0.69, 0.5, 0),
    (0.65, 0.1, 0.7, 0.69, 0.6, 1),
    (0.65, 0.1, 0.5, 0.68, 0.6, 1),
]
WATER_RGB = np.array([175, 238, 238], dtype=np.float32) / 255.0  # "pale turquoise"
MUD_RGB = np.array([63, 42, 20], dtype=np.float32) / 255.0  # "mud brown"
EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])


def _spatter(image: np.ndarray, c: tuple, rng: np.random.Generator) -> np.ndarray:
    x = image.astype(np.float32) / 255.0
    liquid = skfilters.gaussian(rng.normal(size=x.shape[:2], loc=c[0], scale=c[1]), sigma=c[2])
    liquid[liquid < c[3]] = 0
    if c[5] == 0:  # water: edges of the liquid mask, embossed (OpenCV calls exactly as the reference)
        liquid_u8 = (liquid * 255).astype(np.uint8)
        dist = cv2.distanceTransform(255 - cv2.Canny(liquid_u8, 50, 150), cv2.DIST_L2, 5)
        _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
        dist = cv2.equalizeHist(cv2.blur(dist, (3, 3)).astype(np.uint8))
        dist = cv2.blur(cv2.filter2D(dist, cv2.CV_8U, EMBOSS), (3, 3)).astype(np.float32)
        mask = liquid_u8 * dist
        peak = mask.max()
        mask = mask / peak * c[4] if peak > 0 else mask  # the reference divides by 0 (NaN) on an empty mask
        return np.clip(x + mask[..., np.newaxis] * WATER_RGB, 0, 1) * 255
    mask = skfilters.gaussian(np.where(liquid > c[3], 1, 0).astype(np.float32), sigma=c[4])
    mask[mask < 0.8] = 0
    return np.clip(x * (1 - mask[..., np.newaxis]) + MUD_RGB * mask[..., np.newaxis], 0, 1) * 255


ELASTIC = [(0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)]


def _elastic(image: np.ndarray, c: tuple, rng: np.random.Generator) -> np.ndarray:
    size = image.shape[0]
    alpha, sigma, affine = (size * value for value in c)  # reference: multiples of IMSIZE = 32
    x = image.astype(np.float32) / 255.0
    centre = np.float32((size, size)) // 2
    square = size // 3
    pts1 = np.float32([centre + square, [centre[0] + square, centre[1] - square], centre - square])
    pts2 = pts1 + rng.uniform(-affine, affine, size=pts1.shape).astype(np.float32)
    x = cv2.warpAffine(x, cv2.getAffineTransform(pts1, pts2), (size, size), borderMode=cv2.BORDER_REFLECT_101)
    dx = skfilters.gaussian(rng.uniform(-1, 1, size=(size, size)), sigma, mode="reflect", truncate=3) * alpha
    dy = skfilters.gaussian(rng.uniform(-1, 1, size=(size, size)), sigma, mode="reflect", truncate=3) * alpha
    dx, dy = dx.astype(np.float32)[..., None], dy.astype(np.float32)[..., None]
    cols, rows, chans = np.meshgrid(np.arange(size), np.arange(size), np.arange(3))
    coords = (np.reshape(rows + dy, (-1, 1)), np.reshape(cols + dx, (-1, 1)), np.reshape(chans, (-1, 1)))
    warped = ndimage.map_coordinates(x, coords, order=1, mode="reflect").reshape(x.shape)
    return np.clip(warped, 0, 1) * 255


BRIGHTNESS = [0.05, 0.1, 0.15, 0.2, 0.3]
CONTRAST = [0.75, 0.5, 0.4, 0.3, 0.15, 0.12]
SATURATE = [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)]
JPEG_QUALITY = [80, 65, 58, 50, 40]
PIXELATE = [0.95, 0.9, 0.85, 0.75, 0.65]


def _brightness(images: Batch, level: int, rng: np.random.Generator) -> np.ndarray:
    hsv = skcolor.rgb2hsv(images / 255.0)  # skimage works on any leading shape: one call for the whole batch
    hsv[..., 2] = np.clip(hsv[..., 2] + BRIGHTNESS[level - 1], 0, 1)
    return np.clip(skcolor.hsv2rgb(hsv), 0, 1) * 255


def _saturate(images: Batch, level: int, rng: np.random.Generator) -> np.ndarray:
    scale, shift = SATURATE[level - 1]
    hsv = skcolor.rgb2hsv(images / 255.0)
    hsv[..., 1] = np.clip(hsv[..., 1] * scale + shift, 0, 1)
    return np.clip(skcolor.hsv2rgb(hsv), 0, 1) * 255


def _contrast(images: Batch, level: int, rng: np.random.Generator) -> np.ndarray:
    x = images / 255.0
    means = x.mean(axis=(1, 2), keepdims=True)  # per image and channel, as the reference's axis=(0, 1)
    return np.clip((x - means) * CONTRAST[level - 1] + means, 0, 1) * 255


def _jpeg(images: Batch, level: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty(images.shape, dtype=np.float32)
    for i, image in enumerate(images):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=JPEG_QUALITY[level - 1])
        out[i] = np.asarray(Image.open(buffer))
    return out


def _pixelate(images: Batch, level: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty(images.shape, dtype=np.float32)
    size = images.shape[1]
    small = int(size * PIXELATE[level - 1])
    for i, image in enumerate(images):
        pil = Image.fromarray(image).resize((small, small), Image.BOX).resize((size, size), Image.BOX)
        out[i] = np.asarray(pil)
    return out


@dataclass(frozen=True)
class Corruption:
    name: str
    apply: CorruptionFn
    levels: int


CORRUPTIONS: dict[str, Corruption] = {
    c.name: c
    for c in (
        Corruption("snow", _per_image(_snow, SNOW), len(SNOW)),
        Corruption("frost", _per_image(_frost, FROST), len(FROST)),
        Corruption("fog", _per_image(_fog, FOG), len(FOG)),
        Corruption("brightness", _brightness, len(BRIGHTNESS)),
        Corruption("contrast", _contrast, len(CONTRAST)),
        Corruption("spatter", _per_image(_spatter, SPATTER), len(SPATTER)),
        Corruption("elastic", _per_image(_elastic, ELASTIC), len(ELASTIC)),
        Corruption("jpeg", _jpeg, len(JPEG_QUALITY)),
        Corruption("pixelate", _pixelate, len(PIXELATE)),
        Corruption("saturate", _saturate, len(SATURATE)),
    )
}
# Attribute index → corruption, in the reference's order (biased_cifar10.py, corruption_names).
CORRUPTION_ORDER = (
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "spatter",
    "elastic",
    "jpeg",
    "pixelate",
    "saturate",
)
MAX_SEVERITY = 4  # corruption level = severity + 1 ≤ 5, the deepest level every corruption defines


def corrupt(name: str, images: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    """Apply one corruption to uint8 images [N, 3, H, W]; returns uint8 [N, 3, H, W] (clipped, truncated)."""
    try:
        corruption = CORRUPTIONS[name]
    except KeyError:
        raise DDStudyError(f"unknown corruption '{name}'; choose one of: {', '.join(CORRUPTIONS)}") from None
    if not 1 <= level <= corruption.levels:
        raise DDStudyError(f"corruption level {level} is outside 1..{corruption.levels} for '{name}'")
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] != images.shape[3]:
        raise DDStudyError(f"corruptions need square RGB images [N,3,H,W], got {images.shape}")
    if len(images) == 0:
        return images.copy()
    out = corruption.apply(np.ascontiguousarray(images.transpose(0, 2, 3, 1)), level, rng)
    return np.clip(out, 0, 255).astype(np.uint8).transpose(0, 3, 1, 2).copy()


def _corrupt_chunk(args: tuple[np.ndarray, np.ndarray, int, tuple[int, ...]]) -> np.ndarray:
    images, attrs, level, seed_words = args
    cv2.setNumThreads(1)
    rng = np.random.default_rng(list(seed_words))
    out = np.empty_like(images)
    for attr, name in enumerate(CORRUPTION_ORDER):
        index = np.flatnonzero(attrs == attr)
        out[index] = corrupt(name, images[index], level, rng)
    return out


def corrupt_by_attribute(
    images: np.ndarray,
    attrs: np.ndarray,
    severity: int,
    seed_words: tuple[int, ...],
    workers: int = 1,
    chunk_size: int = 1024,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Corrupt each image with the corruption of its attribute, at level ``severity + 1`` (reference protocol).

    Work is cut into fixed chunks, each with its own generator seeded by ``(*seed_words, chunk index)``, so the
    bytes depend on the seed only — not on ``workers`` — and chunks run in parallel processes.
    """
    if not 1 <= severity <= MAX_SEVERITY:
        raise DDStudyError(f"severity {severity} is outside 1..{MAX_SEVERITY} for the corruption bias")
    if images.shape[1] == 1:
        images = np.repeat(images, 3, axis=1)
    frost_dir()  # fail fast, in this process, when the frost images are missing
    jobs = [
        (images[start : start + chunk_size], attrs[start : start + chunk_size], severity + 1, (*seed_words, k))
        for k, start in enumerate(range(0, len(images), chunk_size))
    ]
    parts: list[np.ndarray] = []
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            parts.append(_corrupt_chunk(job))
            if progress:
                progress(len(job[0]))
    else:
        import multiprocessing

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for job, part in zip(jobs, pool.map(_corrupt_chunk, jobs), strict=True):
                parts.append(part)
                if progress:
                    progress(len(job[0]))
    return np.concatenate(parts) if parts else images.copy()


def _aligned_examples(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Image c with corruption c at ``severity`` (sample figures): one draw from ``rng`` per image, in order."""
    rgb = np.repeat(images, 3, axis=1) if images.shape[1] == 1 else images
    out = np.empty_like(rgb)
    for attr, name in enumerate(CORRUPTION_ORDER[: len(rgb)]):
        out[attr : attr + 1] = corrupt(name, rgb[attr : attr + 1], severity + 1, rng)
    return out


CORRUPTION = BiasKind(
    name="corruption",
    max_severity=MAX_SEVERITY,
    apply=lambda images, attrs, severity, seed_words, workers=1, progress=None: corrupt_by_attribute(
        images, attrs, severity, seed_words, workers=workers, progress=progress
    ),
    attribute_names=lambda classes: list(CORRUPTION_ORDER),
    meta=lambda severity: {"corruption_level": severity + 1},
    aligned_examples=_aligned_examples,
    row_label=lambda name, attr: f"{name} · {CORRUPTION_ORDER[attr]}",
    severity_label=lambda severity: f"severity {severity}\n(level {severity + 1})",
)
