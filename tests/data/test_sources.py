"""Source loaders on small files in the real on-disk formats (no download: this machine has no internet)."""

import gzip
import hashlib

import numpy as np
import pytest
from torchvision import datasets

from ddstudy.data import sources
from ddstudy.data.sources import SourceOptions, load_source, take_per_class
from ddstudy.errors import DDStudyError


def test_fashion_mnist_idx(fashion_options):
    data = load_source("fashion-mnist", fashion_options)
    assert data.train.images.shape == (300, 1, 28, 28) and data.train.images.dtype == np.uint8
    assert data.test.images.shape == (120, 1, 28, 28)
    assert data.train.labels.dtype == np.int64 and np.bincount(data.train.labels).tolist() == [30] * 10
    assert data.class_names[0] == "T-shirt/top"


def test_fashion_mnist_env_variable(fashion_dir, monkeypatch):
    monkeypatch.setenv(sources.FASHION_MNIST_ENV, str(fashion_dir))
    assert load_source("fashion-mnist").train.images.shape[0] == 300


def test_missing_fashion_mnist_names_the_fix(tmp_path):
    with pytest.raises(DDStudyError, match="apt-get install dataset-fashion-mnist") as err:
        load_source("fashion-mnist", SourceOptions(fashion_mnist_dir=tmp_path))
    assert "\n" not in str(err.value)


def test_corrupt_idx_file(tmp_path, fashion_dir):
    for name in sources.FASHION_MNIST_FILES.values():
        (tmp_path / name).write_bytes((fashion_dir / name).read_bytes())
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03garbage"))
    with pytest.raises(DDStudyError, match="truncated idx"):
        load_source("fashion-mnist", SourceOptions(fashion_mnist_dir=tmp_path))
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DDStudyError, match="cannot read gzip"):
        load_source("fashion-mnist", SourceOptions(fashion_mnist_dir=tmp_path))


def test_mnist_through_torchvision(mnist_root):
    data = load_source("mnist", SourceOptions(root=mnist_root))
    assert data.train.images.shape == (80, 1, 28, 28) and data.test.images.shape == (40, 1, 28, 28)
    assert np.bincount(data.train.labels).tolist() == [8] * 10


def test_mnist_missing_without_download(tmp_path):
    with pytest.raises(DDStudyError, match="--download"):
        load_source("mnist", SourceOptions(root=tmp_path))


def _official_md5s(root, monkeypatch):
    """Make torchvision's md5 table describe our small files (the real table guards the real files)."""
    folder = root / "cifar-10-batches-py"

    def md5(name):
        return hashlib.md5((folder / name).read_bytes()).hexdigest()

    monkeypatch.setattr(datasets.CIFAR10, "train_list", [[n, md5(n)] for n, _ in datasets.CIFAR10.train_list])
    monkeypatch.setattr(datasets.CIFAR10, "test_list", [[n, md5(n)] for n, _ in datasets.CIFAR10.test_list])


def test_cifar10_batches(cifar_root, monkeypatch):
    _official_md5s(cifar_root, monkeypatch)
    data = load_source("cifar10", SourceOptions(root=cifar_root))
    assert data.train.images.shape == (100, 3, 32, 32) and data.test.images.shape == (30, 3, 32, 32)
    assert np.bincount(data.train.labels).tolist() == [10] * 10


def test_cifar10_md5_mismatch_is_refused(cifar_root):
    with pytest.raises(DDStudyError, match="md5 differs"):
        load_source("cifar10", SourceOptions(root=cifar_root))


def test_cifar10_batch_with_code_is_not_unpickled(cifar_root, monkeypatch, tmp_path):
    import os
    import pickle

    class Exploit:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    (cifar_root / "cifar-10-batches-py" / "data_batch_1").write_bytes(pickle.dumps({"data": Exploit()}))
    _official_md5s(cifar_root, monkeypatch)
    with pytest.raises(DDStudyError, match="not a CIFAR python batch"):
        load_source("cifar10", SourceOptions(root=cifar_root))
    assert not (tmp_path / "pwned").exists()


def test_unknown_source():
    with pytest.raises(DDStudyError, match="unknown source 'svhn'"):
        load_source("svhn")


def test_take_per_class_keeps_dataset_order(fashion_options):
    split = load_source("fashion-mnist", fashion_options).train
    kept = take_per_class(split, 3)
    assert np.bincount(kept.labels).tolist() == [3] * 10
    first_zero = np.flatnonzero(split.labels == 0)[:3]
    np.testing.assert_array_equal(kept.images[kept.labels == 0], split.images[first_zero])
