"""A dataset variant's ``meta.json`` as a typed record, validated where it is read.

Every later stage (zoo, distill, evaluate, report) reads a variant's class count, image shape, class and attribute
names and normalisation; before this record they did so with string keys into the raw dict, so a hand-edited or
foreign ``meta.json`` (a list, a missing ``num_classes``, a shape of strings) ended in a traceback deep inside a
training job. :meth:`DatasetMeta.parse` checks each field once, before any work, and names the file and the field in
one line. The raw dict stays available (``raw``) for the fields only the report reads (counts, construction
settings), and the builder's output is exactly what it parses: ``DatasetMeta.parse(meta).raw == meta``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ddstudy.errors import DDStudyError

SHA256 = re.compile(r"[0-9a-f]{64}")
SPLITS = ("train.npz", "test.npz")
FIX = "rebuild the variant with `ddstudy data build`"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


@dataclass(frozen=True)
class DatasetMeta:
    """The fields of a variant's meta.json that code reads; ``raw`` is the whole validated dict."""

    name: str
    source: str
    bias: str
    num_classes: int
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]  # C, H, W
    sha256: dict[str, str]  # split file → sha256
    attribute_names: tuple[str, ...] = ()  # none for a clean source
    aligned_attributes: tuple[int, ...] | None = None  # per class; None: a class's aligned attribute is itself
    normalization: dict[str, tuple[float, ...]] | None = None  # fixed by the construction (FairDD's 0.5 / 0.5)
    ratio: float | None = None
    severity: int | None = None
    seed: int | None = None
    test_attrs: str | None = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def parse(cls, raw: Any, where: str | Path = "meta.json") -> DatasetMeta:
        """Validate ``raw`` (the parsed JSON of ``where``); a bad field is one :class:`DDStudyError` naming it."""

        def bad(key: str, expected: str) -> DDStudyError:
            shown = repr(raw.get(key)) if isinstance(raw, dict) else ""
            return DDStudyError(f"{where}: field '{key}' must be {expected} (found {shown[:60]}); {FIX}")

        if not isinstance(raw, dict):
            raise DDStudyError(f"{where}: a JSON object was expected, found {type(raw).__name__}; {FIX}")
        for key in ("name", "source", "bias"):
            if key not in raw:
                raise DDStudyError(f"{where}: field '{key}' is missing; {FIX}")
            if not isinstance(raw[key], str) or not raw[key]:
                raise bad(key, "a non-empty string")
        if "num_classes" not in raw:
            raise DDStudyError(f"{where}: field 'num_classes' is missing; {FIX}")
        classes = raw["num_classes"]
        if not _is_int(classes) or classes < 1:
            raise bad("num_classes", "a positive integer")
        names = raw.get("class_names")
        if not isinstance(names, list) or len(names) != classes or not all(isinstance(n, str) for n in names):
            raise bad("class_names", f"a list of {classes} strings (one per class)")
        shape = raw.get("image_shape")
        if not isinstance(shape, list) or len(shape) != 3 or not all(_is_int(s) and s > 0 for s in shape):
            raise bad("image_shape", "a list of 3 positive integers [C, H, W]")
        hashes = raw.get("sha256")
        if not isinstance(hashes, dict) or not all(isinstance(hashes.get(s), str) for s in SPLITS):
            raise bad("sha256", "an object with a sha256 string for train.npz and test.npz")
        if not all(SHA256.fullmatch(hashes[s]) for s in SPLITS):
            raise bad("sha256", "64 lowercase hex digits per split")
        counts = raw.get("counts")
        if not isinstance(counts, dict) or not all(
            isinstance(counts.get(split), dict) and _is_int(counts[split].get("n")) for split in ("train", "test")
        ):
            raise bad("counts", "an object with the 'train' and 'test' counts (each with its 'n')")
        attributes = raw.get("attribute_names") or []
        if not isinstance(attributes, list) or not all(isinstance(a, str) for a in attributes):
            raise bad("attribute_names", "a list of strings")
        aligned = raw.get("aligned_attributes")
        if aligned is not None and (
            not isinstance(aligned, list)
            or len(aligned) != classes
            or not all(_is_int(a) and 0 <= a < max(len(attributes), 1) for a in aligned)
        ):
            raise bad("aligned_attributes", f"a list of {classes} attribute indices")
        normalization = raw.get("normalization")
        if normalization is not None:
            if not isinstance(normalization, dict):
                raise bad("normalization", "an object with 'mean' and 'std' lists")
            stats = (normalization.get("mean"), normalization.get("std"))
            if not all(isinstance(s, list) and len(s) == shape[0] and all(_is_number(v) for v in s) for s in stats):
                raise bad("normalization", f"an object with 'mean' and 'std' lists of {shape[0]} numbers")
            if not all(v > 0 for v in normalization["std"]):
                raise bad("normalization", "an object whose 'std' values are positive")
        for key, check, expected in (
            ("ratio", _is_number, "a number"),
            ("severity", _is_int, "an integer"),
            ("seed", _is_int, "an integer"),
            ("test_attrs", lambda v: isinstance(v, str), "a string"),
        ):
            if raw.get(key) is not None and not check(raw[key]):
                raise bad(key, expected)
        return cls(
            name=raw["name"],
            source=raw["source"],
            bias=raw["bias"],
            num_classes=classes,
            class_names=tuple(names),
            image_shape=tuple(shape),
            sha256={s: hashes[s] for s in SPLITS},
            attribute_names=tuple(attributes),
            aligned_attributes=tuple(aligned) if aligned is not None else None,
            normalization=(
                {k: tuple(float(v) for v in normalization[k]) for k in ("mean", "std")} if normalization else None
            ),
            ratio=raw.get("ratio"),
            severity=raw.get("severity"),
            seed=raw.get("seed"),
            test_attrs=raw.get("test_attrs"),
            raw=raw,
        )
