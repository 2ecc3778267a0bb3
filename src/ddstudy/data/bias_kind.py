"""What a bias kind is, for the bias-kind registry (:mod:`ddstudy.data.biases`): how it turns an image of class c
with attribute a into a biased one, what its attributes and severities are called, and what its sample figures
show. A kind lives in one module (colour: :mod:`ddstudy.data.bias`, corruption: :mod:`ddstudy.data.corruptions`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


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
    grey_source_only: bool = False  # colour bias paints grey digits: an RGB source is refused
    # ({split: labels} in build order, {split: aligned ratio}, classes, seed) → {split: (order, attributes)}: how
    # samples get their attributes (and the stored order). None: Biased-DD's positional blocks, order kept
    # (:func:`ddstudy.data.bias.assign_attributes`).
    assign: Callable[[dict, dict, int, int], dict] | None = None
    max_classes: int | None = None  # a fixed palette has this many attributes: a source with more is refused
