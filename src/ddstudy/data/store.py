"""Read a dataset variant back, checking it against its own ``meta.json`` (never unpickling)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ddstudy.data.bias_kind import aligned_mask
from ddstudy.errors import DDStudyError
from ddstudy.io import load_npz, read_json, sha256_file
from ddstudy.outputs import ArtifactKind, json_with_keys

# Each split's npz: arrays by name → (dtype, ndim). Kept here, not beside the builder, so that loading a variant
# (every training job) does not import the corruption code and its scipy/scikit-image/OpenCV dependencies.
ARRAY_CONTRACT = {"images": ("uint8", 4), "labels": ("int64", 1), "attrs": ("int64", 1)}
# A folder is a dataset variant ddstudy built when its meta.json says what was built, counted and hashed.
DATASET_VARIANT = ArtifactKind("dataset variant", True, json_with_keys("spec", "counts", "sha256", inside="meta.json"))


@dataclass(frozen=True)
class StoredSplit:
    images: np.ndarray  # uint8 [N, C, H, W]
    labels: np.ndarray  # int64 [N]
    attrs: np.ndarray  # int64 [N]; -1 where the variant has no bias attribute
    aligned_attributes: tuple[int, ...] | None = None  # meta.json's per-class aligned attribute; None: the class

    @property
    def aligned(self) -> np.ndarray:
        """Boolean mask of bias-aligned samples (:func:`ddstudy.data.bias_kind.aligned_mask`)."""
        return aligned_mask(self.labels, self.attrs, self.aligned_attributes)


@dataclass(frozen=True)
class Variant:
    path: Path
    meta: dict
    train: StoredSplit
    test: StoredSplit


def load_split(folder: str | Path, split: str, meta: dict | None = None, verify: bool = True) -> StoredSplit:
    folder = Path(folder)
    meta = meta if meta is not None else read_json(folder / "meta.json")
    path = folder / f"{split}.npz"
    if verify:
        expected = meta.get("sha256", {}).get(f"{split}.npz")
        if expected is None:
            raise DDStudyError(f"{folder}/meta.json lists no sha256 for {split}.npz; rebuild the variant")
        if path.is_file() and sha256_file(path) != expected:
            raise DDStudyError(f"{path}: sha256 differs from meta.json (modified or corrupt); rebuild the variant")
    arrays = load_npz(path, ARRAY_CONTRACT)
    n = len(arrays["labels"])
    if arrays["images"].shape[0] != n or arrays["attrs"].shape[0] != n:
        raise DDStudyError(f"{path}: images, labels and attrs differ in length; rebuild the variant")
    classes = meta.get("num_classes")
    labels, attrs = arrays["labels"], arrays["attrs"]
    if isinstance(classes, int) and n and (labels.min() < 0 or labels.max() >= classes):
        raise DDStudyError(
            f"{path}: labels {labels.min()}..{labels.max()} lie outside the {classes} classes of meta.json "
            f"(0..{classes - 1}); rebuild the variant"
        )
    attributes = len(meta.get("attribute_names") or [])  # none for a clean source: every attr is -1
    if n and (attrs.min() < -1 or attrs.max() >= attributes):
        raise DDStudyError(
            f"{path}: attrs {attrs.min()}..{attrs.max()} lie outside the {attributes} attributes of meta.json "
            f"(-1 for none); rebuild the variant"
        )
    aligned = meta.get("aligned_attributes")
    return StoredSplit(arrays["images"], arrays["labels"], arrays["attrs"], tuple(aligned) if aligned else None)


def load_variant(folder: str | Path, verify: bool = True) -> Variant:
    """Load ``train``/``test`` of a variant folder; ``verify`` checks each npz against the sha256 in meta.json."""
    folder = Path(folder)
    if not (folder / "meta.json").is_file():
        raise DDStudyError(f"{folder}: no meta.json, not a built dataset variant; run `ddstudy data build` first")
    meta = read_json(folder / "meta.json")
    return Variant(folder, meta, load_split(folder, "train", meta, verify), load_split(folder, "test", meta, verify))
