"""CIFAR10-S (Wang et al., CVPR 2020): the sensitive attribute is colour vs grayscale — bias kind ``grayscale``.

Mirrors the ``CIFAR10_S_90`` of FairDD (zqhang/FairDD ``data_handler/cifar10.py``: ``CIFAR_10S``, ``CIFAR_10s``)
and COBRA (mhmoslemi/COBRA, the same file; at skew 0.9 its severity/rotation branches are not taken):

* **order** — the split is read in a seeded shuffle (their ``CIFAR10(..., shuffle=True, seed=seed)``:
  ``np.random.seed(seed)``, then ``np.random.shuffle`` of ``arange(n)``), replayed with
  ``np.random.RandomState(seed)``; the stored split keeps that order;
* **training split** — per class, in that order, the first ``int(n_c · skew)`` images of classes 0–4 are turned
  grey and the rest kept in colour; classes 5–9 the other way round (the first ``n_c − int(n_c · skew)`` grey).
  So the aligned attribute is *grey* for the first half of the classes and *colour* for the second
  (``aligned_attributes``), and the skew is the bias-aligned ratio of every class. The reference computes
  ``int(50000 · skew) // 10`` per class from the full set's size; on the full CIFAR-10 (5,000 per class) that is
  the same number, on a per-class subset we use the subset's own count;
* **test split** (``test_attrs: uniform``) — every image twice, grey then colour (the reference stores the grey
  copies at 0…9,999 and the colour copies at 10,000…19,999): balanced groups, 2 × the test images. With
  ``test_attrs: conflicting`` each image appears once, in the attribute its class is not aligned with;
* **grey** — PIL's ``convert('L')`` (ITU-R 601-2 luma in fixed point: ``(19595 R + 38470 G + 7471 B + 2^15) >>
  16``) copied to three channels;
* **normalisation** — the reference's fixed mean/std (``CIFAR_10s``), recorded in the variant's meta.

With ``seed: 0`` (the reference's default) the full CIFAR-10 gives the reference's images, groups and order.
COBRA's severities (channel swap, marker, rotation, noise — used only when the skew is not 0.9) are not built:
one severity (docs/deviations.md).
"""

from __future__ import annotations

import numpy as np

from ddstudy.data.bias_kind import BiasKind
from ddstudy.errors import DDStudyError

GREY, COLOUR = 0, 1
ATTRIBUTE_NAMES = ["grayscale", "colour"]
NORMALIZATION = {
    "mean": [0.4890520609319886, 0.48451061542917323, 0.46714946730198426],
    "std": [0.24278049202200438, 0.24082296066838135, 0.25098309397306334],
}


def to_grayscale(images: np.ndarray) -> np.ndarray:
    """uint8 RGB [N,3,H,W] → uint8 [N,3,H,W] grey, exactly PIL's ``Image.convert('L')`` stacked three times."""
    rgb = images.astype(np.uint32)
    luma = (rgb[:, 0] * 19595 + rgb[:, 1] * 38470 + rgb[:, 2] * 7471 + 0x8000) >> 16
    return np.repeat(luma.astype(np.uint8)[:, None], 3, axis=1)


def aligned_attributes(num_classes: int) -> list[int]:
    """Grey is the majority of the first half of the classes (0–4 of CIFAR-10), colour of the second."""
    return [GREY if label < num_classes // 2 else COLOUR for label in range(num_classes)]


def reference_order(n: int, seed: int) -> np.ndarray:
    """The reference's shuffled reading order of a split of ``n`` images."""
    order = np.arange(n, dtype=np.int64)
    np.random.RandomState(seed).shuffle(order)  # noqa: NPY002 - their np.random.seed(seed); np.random.shuffle
    return order


def cifar10s_assignment(
    labels_by_split: dict[str, np.ndarray], ratio_by_split: dict[str, float], num_classes: int, seed: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(order, attributes) of each split as ``CIFAR_10S._make_skewed`` builds it (module docstring): the training
    split skewed per class, the test split every image in both groups (or, at test ratio 0, only the conflicting
    one). Each split is shuffled by its own ``RandomState(seed)``, as the reference re-seeds per split."""
    aligned = np.asarray(aligned_attributes(num_classes), dtype=np.int64)
    out = {}
    for split, labels in labels_by_split.items():
        ratio = float(ratio_by_split[split])
        if not 0.0 <= ratio <= 1.0:
            raise DDStudyError(f"grayscale skew {ratio} is outside [0, 1]; use e.g. 0.9")
        order = reference_order(len(labels), seed)
        shuffled = labels[order]
        if split != "train":
            if ratio == 0.0:  # test_attrs: conflicting — each image once, away from its class's attribute
                out[split] = (order, 1 - aligned[shuffled])
            else:  # the reference's test set: grey copies first, then colour copies
                both = np.concatenate([order, order])
                attrs = np.concatenate([np.full(len(order), GREY), np.full(len(order), COLOUR)]).astype(np.int64)
                out[split] = (both, attrs)
            continue
        attrs = np.empty(len(order), dtype=np.int64)
        for label in range(num_classes):
            positions = np.flatnonzero(shuffled == label)  # this class in the reading order
            skewed = int(len(positions) * ratio)
            greys = skewed if aligned[label] == GREY else len(positions) - skewed
            attrs[positions] = COLOUR
            attrs[positions[:greys]] = GREY
        out[split] = (order, attrs)
    return out


def _apply(images, attrs, severity, seed_words, workers=1, progress=None):
    out = images.copy()
    grey = attrs == GREY
    out[grey] = to_grayscale(images[grey])
    if progress:
        progress(len(attrs))
    return out


GRAYSCALE = BiasKind(
    name="grayscale",
    max_severity=1,
    apply=_apply,
    attribute_names=lambda classes: list(ATTRIBUTE_NAMES),
    meta=lambda severity: {
        "construction": "CIFAR10-S, grayscale vs colour (zqhang/FairDD, mhmoslemi/COBRA data_handler/cifar10.py)",
        "normalization": NORMALIZATION,
    },
    aligned_examples=lambda images, severity, rng: _apply(
        images, np.asarray(aligned_attributes(len(images)), dtype=np.int64), severity, ()
    ),
    row_label=lambda name, attr: f"{name} · {ATTRIBUTE_NAMES[attr]}",
    severity_label=lambda severity: "grayscale\nor colour",
    source_channels=3,
    assign=cifar10s_assignment,
    aligned_attributes=aligned_attributes,
)
