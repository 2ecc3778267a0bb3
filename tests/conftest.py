"""Shared fixtures: tiny datasets written in the real on-disk formats (idx, torchvision MNIST/CIFAR folders)."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

from ddstudy.data.sources import SourceOptions


def pytest_configure(config) -> None:
    """Under pytest-xdist (``make test``: two workers per core) each worker gets its share of the cores for torch's
    intra-op threads, so N workers do not run N × cores threads on the same cores."""
    import os

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers > 1:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


@pytest.fixture(scope="session", autouse=True)
def forkserver():
    """Every ``ddstudy`` the tests start as a process (the CLI tests, Snakemake's jobs in the pipeline tests) forks
    from one server per pytest worker that imported torch once (``ddstudy.forkserver``, as ``make demo`` runs
    them): ~3 s less per process. Yields the server's socket (None if it did not start: processes of their own)."""
    import os

    from ddstudy.forkserver import ENV, running_server

    with running_server() as address:
        if address is not None:
            os.environ[ENV] = address
        yield address
        os.environ.pop(ENV, None)


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the idx format (magic 0x00 0x00 0x08 ndim, big-endian dims, data)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def toy_images(labels: np.ndarray, size: int = 28, channels: int | None = None, seed: int = 0) -> np.ndarray:
    """Grey (or RGB) images whose content depends on the class: a bright block at a class-dependent place."""
    rng = np.random.default_rng(seed)
    shape = (len(labels), size, size) if channels is None else (len(labels), size, size, channels)
    images = rng.integers(0, 60, size=shape, dtype=np.uint8)
    for i, label in enumerate(labels):
        top, left = 2 + (label % 5) * 4, 2 + (label // 5) * 12
        images[i, top : top + 8, left : left + 10] = 200 + (label * 5)
    return images


def toy_labels(per_class: int, num_classes: int = 10, seed: int = 0) -> np.ndarray:
    labels = np.repeat(np.arange(num_classes), per_class)
    return np.random.default_rng(seed).permutation(labels).astype(np.uint8)


@pytest.fixture(scope="session")
def fashion_dir(tmp_path_factory) -> Path:
    """A Fashion-MNIST folder (four idx .gz files) with 30 train and 12 test images per class."""
    folder = tmp_path_factory.mktemp("fashion-mnist")
    for prefix, per_class, seed in (("train", 30, 1), ("t10k", 12, 2)):
        labels = toy_labels(per_class, seed=seed)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(toy_images(labels, seed=seed))))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    return folder


@pytest.fixture(scope="session")
def fashion_options(fashion_dir) -> SourceOptions:
    return SourceOptions(fashion_mnist_dir=fashion_dir)


@pytest.fixture()
def mnist_root(tmp_path) -> Path:
    """torchvision's MNIST layout: <root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, per_class in (("train", 8), ("t10k", 4)):
        labels = toy_labels(per_class)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(toy_images(labels)))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    return tmp_path


@pytest.fixture()
def cifar_root(tmp_path) -> Path:
    """torchvision's CIFAR-10 layout: <root>/cifar-10-batches-py/{data_batch_1..5,test_batch}, python pickles."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, per_class in [(f"data_batch_{i}", 2) for i in range(1, 6)] + [("test_batch", 3)]:
        labels = toy_labels(per_class, seed=len(name))
        data = toy_images(labels, size=32, channels=3).transpose(0, 3, 1, 2).reshape(len(labels), -1)
        entry = {"batch_label": name, "labels": labels.astype(int).tolist(), "data": data, "filenames": []}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    return tmp_path


@pytest.fixture(scope="session")
def colour_variant(tmp_path_factory, fashion_options) -> Path:
    """A colour-biased variant (ratio 0.8, severity 4, uniform test attributes) of the toy Fashion-MNIST; read-only."""
    from ddstudy.data.build import VariantSpec, build_variant

    spec = VariantSpec("fashion-mnist", "color", 0.8, 4, test_attrs="uniform")
    folder = tmp_path_factory.mktemp("ds") / spec.name
    build_variant(spec, folder, fashion_options)
    return folder
