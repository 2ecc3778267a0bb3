"""Read a dataset variant back, checking it against its own ``meta.json`` (never unpickling)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ddstudy.data.bias_kind import aligned_mask
from ddstudy.data.meta import DatasetMeta
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
    info: DatasetMeta  # meta.json, validated and typed
    train: StoredSplit
    test: StoredSplit

    @property
    def meta(self) -> dict:
        """meta.json as a dict (validated): the fields :class:`DatasetMeta` does not type (counts, construction)."""
        return self.info.raw


def read_meta(folder: str | Path) -> DatasetMeta:
    """A variant folder's meta.json, validated (:meth:`DatasetMeta.parse`): one line naming a bad field."""
    folder = Path(folder)
    if not (folder / "meta.json").is_file():
        raise DDStudyError(f"{folder}: no meta.json, not a built dataset variant; run `ddstudy data build` first")
    return DatasetMeta.parse(read_json(folder / "meta.json"), folder / "meta.json")


def load_split(folder: str | Path, split: str, meta: DatasetMeta | None = None, verify: bool = True) -> StoredSplit:
    folder = Path(folder)
    meta = meta if meta is not None else read_meta(folder)
    path = folder / f"{split}.npz"
    if verify:
        expected = meta.sha256[f"{split}.npz"]
        if path.is_file() and sha256_file(path) != expected:
            raise DDStudyError(f"{path}: sha256 differs from meta.json (modified or corrupt); rebuild the variant")
    arrays = load_npz(path, ARRAY_CONTRACT)
    n = len(arrays["labels"])
    if arrays["images"].shape[0] != n or arrays["attrs"].shape[0] != n:
        raise DDStudyError(f"{path}: images, labels and attrs differ in length; rebuild the variant")
    classes = meta.num_classes
    labels, attrs = arrays["labels"], arrays["attrs"]
    if n and (labels.min() < 0 or labels.max() >= classes):
        raise DDStudyError(
            f"{path}: labels {labels.min()}..{labels.max()} lie outside the {classes} classes of meta.json "
            f"(0..{classes - 1}); rebuild the variant"
        )
    attributes = len(meta.attribute_names)  # none for a clean source: every attr is -1
    if n and (attrs.min() < -1 or attrs.max() >= attributes):
        raise DDStudyError(
            f"{path}: attrs {attrs.min()}..{attrs.max()} lie outside the {attributes} attributes of meta.json "
            f"(-1 for none); rebuild the variant"
        )
    if arrays["images"].shape[1:] != meta.image_shape:
        raise DDStudyError(
            f"{path}: images of shape {list(arrays['images'].shape[1:])}, meta.json says {list(meta.image_shape)}; "
            "rebuild the variant"
        )
    return StoredSplit(arrays["images"], arrays["labels"], arrays["attrs"], meta.aligned_attributes)


def load_variant(folder: str | Path, verify: bool = True) -> Variant:
    """Load ``train``/``test`` of a variant folder; ``verify`` checks each npz against the sha256 in meta.json."""
    folder = Path(folder)
    meta = read_meta(folder)
    return Variant(folder, meta, load_split(folder, "train", meta, verify), load_split(folder, "test", meta, verify))
