"""The coloured Fashion-MNIST (C-FMNIST) of FairDD and COBRA: foreground (``fg-color``) and background
(``bg-color``) colour bias — and their coloured MNIST (C-MNIST: ``fg-color-binary``, ``bg-color-binary``), which
differs only in the colouring (thresholded at 128, ``data_handler/colour_mnist.py``).

Mirrors zqhang/FairDD ``data_handler/FashionMNIST.py`` (``BiasedFashionMNIST``, ``ColourBiasedFashionMNIST``),
which COBRA (mhmoslemi/COBRA ``data_handler/FashionMNIST.py``, ``utils.get_dataset``) uses unchanged. It differs
from Biased-DD's CMNIST-DD (:mod:`ddstudy.data.colour`) in every step, so the published FairDD/COBRA numbers apply to
this construction only:

* **padding** — the 28×28 image is placed at rows and columns 4..31 of a black 32×32 canvas (shifted to the
  bottom right, not centred), before colouring;
* **colours** — ten fixed RGB colours (``COLOUR_MAP``), no per-image jitter (one severity only);
* **foreground** — black → colour by pixel intensity: ``(x/255 · c/255) · 255``, truncated to uint8;
* **background** — the reference interpolates from a start colour of 255 (not 1) towards ``c/255``:
  ``(255 + d · (c/255 − 255)) · 255`` with ``d = (255 − x)/255``; the background (x = 0) gets exactly ``c``, but
  brighter pixels reach up to 65,025 and the float → uint8 cast (``.byte()``) wraps them modulo 256 on x86: the
  garment's brightest pixels become 1 (near black: "garment black"), mid-greys a striped pattern. We compute the
  wrap explicitly (well defined, the bytes the reference produced) and list it in docs/deviations.md as kept;
* **attributes** — per class, in a shuffled order: the first ``int(n · corr)`` samples get the class's colour,
  the rest is cut into chunks of ``ceil(rest / 9)`` given to the other nine colours in a shuffled order; the
  split is then stored grouped by colour and shuffled as a whole. The shuffles come from numpy's legacy global
  generator seeded 42 (``np.random.seed(42)`` in ``main_DM.py``), drawn for the training split first, then the
  test split — replayed here with ``np.random.RandomState(seed)``, so with seed 42 on the full sets every image
  gets the colour (and position) it has in FairDD's datasets;
* **normalisation** — mean 0.5, std 0.5 per channel (their ``transforms.Normalize``), recorded in the variant's
  meta instead of the training split's own statistics.

Train correlation 0.9 and test correlation 0.1 (= 1/K: our ``test_attrs: uniform``) are the grid's choice.
"""

from __future__ import annotations

import numpy as np

from ddstudy.data.bias_kind import BiasKind
from ddstudy.errors import DDStudyError

COLOUR_MAP = np.array(
    [
        [255, 0, 0],
        [255, 128, 0],
        [255, 255, 0],
        [255, 255, 128],
        [0, 255, 0],
        [0, 255, 255],
        [0, 0, 255],
        [128, 0, 255],
        [255, 0, 255],
        [255, 255, 255],
    ],
    dtype=np.float32,
)
COLOUR_NAMES = ("red", "orange", "yellow", "pale yellow", "green", "cyan", "blue", "violet", "magenta", "white")
PAD = 4  # black rows/columns added above and left of the 28×28 image (reference: pad_images[:, 4:, 4:] = data)
NORMALIZATION = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
BG_START = np.float32(255.0)  # the reference's start colour of the background interpolation (sic: not 1)


def pad_like_fairdd(gray: np.ndarray) -> np.ndarray:
    """uint8 [N,1,H,W] → [N,1,H+4,W+4], the image at the bottom right of a black canvas (reference padding)."""
    n, channels, height, width = gray.shape
    out = np.zeros((n, channels, height + PAD, width + PAD), dtype=np.uint8)
    out[:, :, PAD:, PAD:] = gray
    return out


def _end_colours(attrs: np.ndarray) -> np.ndarray:
    return (COLOUR_MAP[attrs] / np.float32(255.0))[:, :, None, None]  # [N,3,1,1] float32


def colour_foreground(gray: np.ndarray, attrs: np.ndarray) -> np.ndarray:
    """Black → colour by intensity: float32 ``(0 + x/255 · (c/255 − 0)) · 255`` truncated, the reference's order of
    operations (so the same float32 roundings). ``gray`` uint8 [N,1,H,W] → uint8 [N,3,H,W]."""
    intensity = gray.astype(np.float32) / np.float32(255.0)
    value = (np.float32(0.0) + intensity * (_end_colours(attrs) - np.float32(0.0))) * np.float32(255.0)
    return value.astype(np.uint8)  # in [0, 255]: truncation as the reference's .byte()


def colour_background(gray: np.ndarray, attrs: np.ndarray) -> np.ndarray:
    """White → colour on the background: float32 ``(255 + d · (c/255 − 255)) · 255`` with ``d = (255 − x)/255``,
    truncated and wrapped modulo 256 as the reference's float → uint8 cast does on x86 (module docstring)."""
    darkness = (np.float32(255.0) - gray.astype(np.float32)) / np.float32(255.0)
    value = (BG_START + darkness * (_end_colours(attrs) - BG_START)) * np.float32(255.0)
    return (value.astype(np.int64) % 256).astype(np.uint8)  # values are ≥ 0: truncation, then the byte wrap


def fairdd_assignment(
    labels_by_split: dict[str, np.ndarray], ratio_by_split: dict[str, float], num_classes: int, seed: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(order, attributes) of each split, drawn as the reference's ``_update_bias_indices`` and final shuffle do,
    from one legacy numpy stream seeded ``seed`` through the splits in the order given (train, then test).

    ``order`` permutes the split (the stored split is ``split[order]``); ``attributes`` belong to the permuted
    samples. The reference hard-codes 9 confusing labels ``(label + 1 … label + 9) % 10``: K − 1 in general."""
    stream = np.random.RandomState(seed)  # noqa: NPY002 - the reference's legacy global generator, replayed
    out = {}
    for split, labels in labels_by_split.items():
        ratio = float(ratio_by_split[split])
        if not 0.0 <= ratio <= 1.0:
            raise DDStudyError(f"bias-aligned ratio {ratio} is outside [0, 1]; use e.g. 0.9")
        groups: list[list[np.ndarray]] = [[] for _ in range(num_classes)]
        for label in range(num_classes):
            indices = np.where(labels == label)[0]
            stream.shuffle(indices)
            correlated = int(len(indices) * ratio)
            per_other = int(np.ceil((len(indices) - correlated) / (num_classes - 1)))
            groups[label].append(indices[:correlated])
            others = [other % num_classes for other in range(label + 1, label + num_classes)]
            stream.shuffle(others)
            rest = indices[correlated:]
            chunks = [rest[start : start + per_other] for start in range(0, len(rest), per_other)] if per_other else []
            for chunk, other in zip(chunks, others, strict=False):
                groups[other].append(chunk)
        parts = [np.concatenate(g) if g else np.empty(0, dtype=np.int64) for g in groups]
        grouped = np.concatenate(parts).astype(np.int64)
        attrs = np.repeat(np.arange(num_classes, dtype=np.int64), [len(p) for p in parts])
        shuffle = np.arange(len(grouped))
        stream.shuffle(shuffle)
        out[split] = (grouped[shuffle], attrs[shuffle])
    return out


def colour_foreground_binary(gray: np.ndarray, attrs: np.ndarray) -> np.ndarray:
    """FairDD/COBRA C-MNIST foreground (``colour_mnist.py`` ``_binary_to_colour_foreground``): pixels ≥ 128 take the
    colour, the rest is black. ``gray`` uint8 [N,1,H,W] → uint8 [N,3,H,W]."""
    return ((gray >= 128) * COLOUR_MAP[attrs][:, :, None, None]).astype(np.uint8)


def colour_background_binary(gray: np.ndarray, attrs: np.ndarray) -> np.ndarray:
    """FairDD/COBRA C-MNIST background (``_binary_to_colour_background``): pixels < 128 take the colour, the digit
    (≥ 128) is black."""
    return ((gray < 128) * COLOUR_MAP[attrs][:, :, None, None]).astype(np.uint8)


def _kind(name: str, colour, where: str, construction: str) -> BiasKind:
    def apply(images, attrs, severity, seed_words, workers=1, progress=None):
        coloured = colour(pad_like_fairdd(images), attrs)
        if progress:
            progress(len(attrs))
        return coloured

    return BiasKind(
        name=name,
        max_severity=1,
        apply=apply,
        attribute_names=lambda classes: [COLOUR_NAMES[i] for i in range(classes)],
        meta=lambda severity: {"construction": construction, "normalization": NORMALIZATION},
        aligned_examples=lambda images, severity, rng: colour(
            pad_like_fairdd(images), np.arange(len(images)) % len(COLOUR_MAP)
        ),
        row_label=lambda name, attr: f"{name} · {COLOUR_NAMES[attr]}",
        severity_label=lambda severity: f"{where}\ncolour",
        source_channels=1,
        assign=fairdd_assignment,
        max_classes=len(COLOUR_MAP),
    )


FASHION = "FairDD/COBRA C-FMNIST, {} colour (zqhang/FairDD data_handler/FashionMNIST.py)"
BINARY = "FairDD/COBRA C-MNIST, {} colour thresholded at 128 (zqhang/FairDD data_handler/colour_mnist.py)"
FOREGROUND = _kind("fg-color", colour_foreground, "foreground", FASHION.format("foreground"))
BACKGROUND = _kind("bg-color", colour_background, "background", FASHION.format("background"))
# The C-MNIST of the same papers: the same padding, colours and attribute draws (their BiasedMNIST and
# BiasedFashionMNIST differ only in the colouring), binary colouring.
FOREGROUND_BINARY = _kind("fg-color-binary", colour_foreground_binary, "foreground", BINARY.format("foreground"))
BACKGROUND_BINARY = _kind("bg-color-binary", colour_background_binary, "background", BINARY.format("background"))
