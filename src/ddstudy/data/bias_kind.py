"""What a bias kind is, for the bias-kind registry (:mod:`ddstudy.data.registry`): how it turns an image of class c
with attribute a into a biased one, what its attributes and severities are called, and what its sample figures
show. A kind lives in one module (colour: :mod:`ddstudy.data.colour`, corruption: :mod:`ddstudy.data.corruptions`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ddstudy.errors import DDStudyError

# The aligned ratio at which the attribute says nothing of the class: 1/K for the K = 10 classes of every source
# (MNIST, Fashion-MNIST, CIFAR-10). Biased-DD's claims compare each ratio above it with it.
UNBIASED_RATIO = 1 / 10


@dataclass(frozen=True)
class BiasKind:
    name: str
    max_severity: int
    # (uint8 images [N,C,H,W], attributes [N], severity, seed words, workers, progress) → uint8 images [N,3,H,W]
    apply: Callable
    attribute_names: Callable[[int], list[str]]  # number of classes → one name per attribute
    meta: Callable[[int], dict]  # severity → what the variant's meta.json records about it
    # (first image of each class, uint8 [K,C,H,W], severity, rng) → each with its class's aligned attribute
    aligned_examples: Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
    row_label: Callable[[str, int], str]  # (class name, attribute) → a sample figure's row label
    severity_label: Callable[[int], str]  # severity → a sample figure's column label
    # the source's channels this kind needs (colour bias paints grey images: 1; grayscale greys colour ones: 3);
    # another source is refused before it loads its images. None: any.
    source_channels: int | None = None
    # ({split: labels} in build order, {split: aligned ratio}, classes, seed) → {split: (order, attributes)}: how
    # samples get their attributes (and the stored order). None: Biased-DD's positional blocks, order kept
    # (:func:`ddstudy.data.colour.assign_attributes`).
    assign: Callable[[dict, dict, int, int], dict] | None = None
    max_classes: int | None = None  # a fixed palette has this many attributes: a source with more is refused
    # classes → the attribute each class is bias-aligned with (stored in meta.json as ``aligned_attributes``).
    # None: attribute c for class c, as in every kind with one attribute per class.
    aligned_attributes: Callable[[int], list[int]] | None = None


def aligned_mask(labels: np.ndarray, attrs: np.ndarray, aligned_attributes=None) -> np.ndarray:
    """Bias-aligned samples: the attribute is the one the sample's class is aligned with — the class itself unless
    the variant lists ``aligned_attributes`` (e.g. CIFAR10-S: grey for classes 0–4, colour for 5–9)."""
    if aligned_attributes is None:
        return attrs == labels
    return attrs == np.asarray(aligned_attributes, dtype=np.int64)[labels]


# Biased-DD's attribute assignment (``make_attr_labels``), shared by its bias kinds.
def attribute_shares(ratio: float, num_classes: int) -> np.ndarray:
    """Row c: share of class-c samples given each attribute: ``ratio`` on the diagonal, (1−ratio)/(K−1) elsewhere."""
    eye = np.eye(num_classes)
    return ratio * eye + (1.0 - ratio) / (num_classes - 1) * (1.0 - eye)


def assign_attributes(labels: np.ndarray, ratio: float, num_classes: int) -> np.ndarray:
    """Bias attribute of every sample, exactly as the reference's ``make_attr_labels``.

    Within each class, samples are taken in dataset order and cut at the rounded cumulative shares
    ``round(n_c · cumsum(shares_c))``: the first block gets attribute 0, the next attribute 1, and so on. No
    randomness is involved (the reference's seed does not touch it), so the same image gets the same attribute
    as in the published CMNIST-DD / CCIFAR10-DD files; block sizes differ from their shares by at most one sample.
    """
    if not 0.0 <= ratio <= 1.0:
        raise DDStudyError(f"bias-aligned ratio {ratio} is outside [0, 1]; use e.g. 0.95")
    labels = np.asarray(labels, dtype=np.int64)
    shares = attribute_shares(ratio, num_classes)
    attrs = np.empty_like(labels)
    for label in range(num_classes):
        indices = np.flatnonzero(labels == label)
        milestones = np.round(len(indices) * np.cumsum(shares[label]))
        positions = np.arange(len(indices))
        # First attribute whose milestone exceeds the position (reference: min(nonzero(milestones > idx))).
        attrs[indices] = np.minimum(np.searchsorted(milestones, positions, side="right"), num_classes - 1)
    return attrs
