"""Build one dataset variant (biased or clean) into the storage contract.

A variant folder holds ``train.npz`` and ``test.npz`` (``images`` uint8 [N,C,H,W], ``labels`` int64, ``attrs``
int64; attrs = −1 for ``bias: none``) and ``meta.json`` (what was built, counts, sha256 of each npz). The folder is
built under a temporary name and renamed into place, so an interrupted build leaves nothing that looks done.

Construction mirrors yaolu-zjut/Biased-DD (``biased_mnist_v1.py``, ``biased_cifar10.py``): the training set gets
attributes at the bias-aligned ratio, the test set at ratio 0 (every sample bias-conflicting) by default.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import ddstudy
from ddstudy.data.bias_kind import aligned_mask, assign_attributes
from ddstudy.data.registry import BIAS_KINDS, BIASES, bias_kind
from ddstudy.data.sources import (
    SOURCES,
    SourceData,
    SourceOptions,
    Split,
    load_source,
    source_folder,
    take_per_class,
)
from ddstudy.data.store import DATASET_VARIANT
from ddstudy.errors import DDStudyError
from ddstudy.io import atomic_directory, save_npz, write_json
from ddstudy.knobs import check_ranges, knob, seed_knob
from ddstudy.outputs import check_output, claim_output

log = logging.getLogger(__name__)

TEST_ATTR_MODES = ("conflicting", "uniform")
DEFAULT_SEED = 42  # the reference's seed (biased_mnist.__init__, biased_cifar10.__init__)
SPLIT_CODES = {"train": 0, "test": 1}  # mixed into the seed so the two splits draw independent noise


SEVERITY_RANGES = ", ".join(
    f"{kind.name} {'1' if kind.max_severity == 1 else f'1-{kind.max_severity}'}" for kind in BIAS_KINDS.values()
)


def format_ratio(ratio: float) -> str:
    """Shortest exact text for a ratio (0 → "0", 0.95 → "0.95"), used in canonical names."""
    return f"{ratio:g}"


@dataclass(frozen=True)
class VariantSpec:
    """One dataset variant; validated on construction so bad input fails before any work is done."""

    source: str = knob(help="mnist | cifar10 | cifar100 | fashion-mnist")
    bias: str = knob("none", "bias kind (none: the clean source)")
    ratio: float | None = knob(None, "bias-aligned ratio in [0, 1] (biased variants)")
    severity: int | None = knob(None, f"bias severity ({SEVERITY_RANGES})")
    seed: int = seed_knob(DEFAULT_SEED, "seed of the colour jitter / corruptions")
    test_attrs: str = knob("conflicting", "test attributes: conflicting (reference) | uniform")
    train_per_class: int | None = knob(None, "keep the first N training samples per class (unset: all)")
    test_per_class: int | None = knob(None, "keep the first N test samples per class (unset: all)")

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise DDStudyError(f"unknown source '{self.source}'; choose one of: {', '.join(sorted(SOURCES))}")
        if self.bias not in BIASES:
            raise DDStudyError(f"unknown bias '{self.bias}'; choose one of: {', '.join(BIASES)}")
        if self.test_attrs not in TEST_ATTR_MODES:
            raise DDStudyError(
                f"unknown test-attrs mode '{self.test_attrs}'; choose one of: {', '.join(TEST_ATTR_MODES)}"
            )
        if self.bias == "none":
            if self.ratio is not None or self.severity is not None:
                raise DDStudyError("--bias none takes no --ratio or --severity; drop them")
        else:
            max_severity = bias_kind(self.bias).max_severity
            missing = [
                flag for flag, value in (("--ratio", self.ratio), ("--severity", self.severity)) if value is None
            ]
            if missing:
                raise DDStudyError(
                    f"--bias {self.bias} needs {' and '.join(missing)} (ratio in [0, 1], severity 1..{max_severity}); "
                    "e.g. --ratio 0.95 --severity 4"
                )
            if not 0.0 <= float(self.ratio) <= 1.0:
                raise DDStudyError(f"bias-aligned ratio {self.ratio} is outside [0, 1]; use e.g. --ratio 0.95")
            if not 1 <= int(self.severity) <= max_severity:
                raise DDStudyError(f"severity {self.severity} is outside 1..{max_severity}; use e.g. --severity 4")
        for key in ("train_per_class", "test_per_class"):
            value = getattr(self, key)
            if value is not None and int(value) < 1:
                raise DDStudyError(f"{key} must be a positive number of samples, got {value}")
        check_ranges(self)

    @property
    def name(self) -> str:
        """Canonical folder name: everything that changes the bytes, defaults left out."""
        if self.bias == "none":
            parts = [self.source, "clean"]
        else:
            parts = [self.source, self.bias, f"r{format_ratio(self.ratio)}", f"s{self.severity}"]
        if self.train_per_class is not None or self.test_per_class is not None:
            parts.append(f"n{self.train_per_class or 'all'}-{self.test_per_class or 'all'}")
        if self.bias != "none" and self.test_attrs != "conflicting":
            parts.append(f"t{self.test_attrs}")
        if self.seed != DEFAULT_SEED:
            parts.append(f"seed{self.seed}")
        return "-".join(parts)


@dataclass
class BuiltSplit:
    images: np.ndarray
    labels: np.ndarray
    attrs: np.ndarray
    counts: dict = field(default_factory=dict)


def split_counts(labels: np.ndarray, attrs: np.ndarray, num_classes: int, aligned_attributes=None) -> dict:
    """How many samples, and how many bias-aligned / conflicting, in total and per class."""
    has_attrs = bool((attrs >= 0).any())
    aligned = aligned_mask(labels, attrs, aligned_attributes)
    per_class = []
    for label in range(num_classes):
        in_class = labels == label
        entry = {"class": label, "n": int(in_class.sum())}
        if has_attrs:
            entry["aligned"] = int((in_class & aligned).sum())
        per_class.append(entry)
    counts = {"n": int(len(labels)), "per_class": per_class}
    if has_attrs:
        counts["aligned"] = int(aligned.sum())
        counts["conflicting"] = int(len(labels) - aligned.sum())
        counts["aligned_fraction"] = round(float(aligned.mean()), 6) if len(labels) else 0.0
    return counts


def split_ratio(spec: VariantSpec, split_name: str, num_classes: int) -> float:
    """The bias-aligned ratio of a split: the spec's for training; for the test split 0 (``conflicting``: the
    reference's test set) or 1/K (``uniform``: every attribute equally often, FairDD's test correlation 0.1)."""
    if split_name == "train":
        return float(spec.ratio)
    return 0.0 if spec.test_attrs == "conflicting" else 1.0 / num_classes


def assign_splits(spec: VariantSpec, labels: dict[str, np.ndarray], num_classes: int) -> dict:
    """{split: (order, attributes)} of a biased variant, by its kind's assignment (Biased-DD's positional blocks
    by default: order None, the split kept as it is — no copy of its images)."""
    kind = bias_kind(spec.bias)
    ratios = {name: split_ratio(spec, name, num_classes) for name in labels}
    if kind.assign is not None:
        return kind.assign(labels, ratios, num_classes, int(spec.seed))
    return {
        name: (None, assign_attributes(split_labels, ratios[name], num_classes))
        for name, split_labels in labels.items()
    }


def _apply_bias(spec: VariantSpec, split_name: str, split: Split, assignment, workers: int) -> BuiltSplit:
    if spec.bias == "none":
        attrs = np.full(len(split.labels), -1, dtype=np.int64)
        return BuiltSplit(split.images, split.labels, attrs)
    order, attrs = assignment
    images, labels = (split.images, split.labels) if order is None else (split.images[order], split.labels[order])
    seed_words = (int(spec.seed), SPLIT_CODES[split_name])
    started = time.perf_counter()
    done = [0]

    def progress(n: int) -> None:
        done[0] += n
        elapsed = time.perf_counter() - started
        rate = done[0] / elapsed if elapsed else 0.0
        eta = (len(attrs) - done[0]) / rate if rate else float("nan")
        log.info("%s %s: %d/%d images (%.0f img/s, ETA %.0f s)", spec.name, split_name, done[0], len(attrs), rate, eta)

    kind = bias_kind(spec.bias)
    images = kind.apply(images, attrs, int(spec.severity), seed_words, workers=workers, progress=progress)
    return BuiltSplit(images, labels, attrs)


def build_variant(
    spec: VariantSpec,
    out_dir: str | Path,
    options: SourceOptions | None = None,
    workers: int = 1,
    source: SourceData | None = None,
) -> dict:
    """Build ``spec`` into ``out_dir`` atomically and return its meta (also written as ``meta.json``).

    ``out_dir`` is claimed first (:func:`ddstudy.outputs.claim_output`): new, or a dataset variant ddstudy built,
    never the folder the source is read from; checked before the source loads."""
    started = time.perf_counter()
    options = options or SourceOptions()
    flag = "--fashion-mnist-dir" if spec.source == "fashion-mnist" else "--data-root"
    inputs = {flag: source_folder(spec.source, options)}
    check_output(out_dir, DATASET_VARIANT, inputs)
    source = source or load_source(spec.source, options)
    needs = bias_kind(spec.bias).source_channels if spec.bias != "none" else None
    if needs is not None and source.train.images.shape[1] != needs:
        kind = "a grey" if needs == 1 else "a colour"
        raise DDStudyError(
            f"{spec.bias} bias needs {kind} source; '{spec.source}' has {source.train.images.shape[1]} channel(s) "
            "(use another bias or source)"
        )
    palette = bias_kind(spec.bias).max_classes if spec.bias != "none" else None
    if palette is not None and source.num_classes > palette:
        raise DDStudyError(
            f"{spec.bias} bias has {palette} colours, '{spec.source}' has {source.num_classes} classes; "
            "use another bias"
        )
    with claim_output(out_dir, DATASET_VARIANT, inputs) as out_dir:
        meta = _build(spec, out_dir, source, workers)
    log.info("built %s in %.1f s", spec.name, time.perf_counter() - started)
    return meta


def _build(spec: VariantSpec, out_dir: Path, source: SourceData, workers: int) -> dict:
    meta: dict = {
        "name": spec.name,
        "spec": asdict(spec),
        **{
            key: value
            for key, value in asdict(spec).items()
            if key in ("source", "bias", "ratio", "severity", "seed", "test_attrs")
        },
        "num_classes": source.num_classes,
        "class_names": list(source.class_names),
        "ddstudy_version": ddstudy.__version__,
    }
    if spec.bias != "none":
        kind = bias_kind(spec.bias)
        meta["attribute_names"] = kind.attribute_names(source.num_classes)
        if kind.aligned_attributes is not None:
            meta["aligned_attributes"] = kind.aligned_attributes(source.num_classes)
        meta |= kind.meta(int(spec.severity))
    splits = {
        "train": take_per_class(source.train, spec.train_per_class),
        "test": take_per_class(source.test, spec.test_per_class),
    }
    assignments = (
        assign_splits(spec, {name: split.labels for name, split in splits.items()}, source.num_classes)
        if spec.bias != "none"
        else dict.fromkeys(splits)
    )
    with atomic_directory(out_dir) as tmp:
        meta["counts"], meta["sha256"] = {}, {}
        for split_name, split in splits.items():
            built = _apply_bias(spec, split_name, split, assignments[split_name], workers)
            meta["counts"][split_name] = split_counts(
                built.labels, built.attrs, source.num_classes, meta.get("aligned_attributes")
            )
            arrays = {"images": built.images, "labels": built.labels.astype(np.int64), "attrs": built.attrs}
            meta["sha256"][f"{split_name}.npz"] = save_npz(tmp / f"{split_name}.npz", arrays)
        meta["image_shape"] = list(built.images.shape[1:])
        write_json(tmp / "meta.json", meta)  # no timings inside: same seed, same bytes for every file
    return meta
