"""Atomic writes and pickle-free array files."""

import numpy as np
import pytest

from ddstudy.errors import DDStudyError
from ddstudy.io import atomic_file, load_npz, save_npz, write_json


def test_atomic_file_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), atomic_file(target) as handle:
        handle.write(b"half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_file_keeps_the_old_version_on_failure(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_file(target, "w") as handle:
        handle.write("{broken")
        raise RuntimeError("killed")
    assert target.read_text().strip().startswith("{") and '"v": 1' in target.read_text()


def test_npz_roundtrip_is_byte_stable(tmp_path):
    arrays = {"images": np.arange(24, dtype=np.uint8).reshape(1, 2, 3, 4), "labels": np.array([3], dtype=np.int64)}
    first = save_npz(tmp_path / "a.npz", arrays)
    second = save_npz(tmp_path / "b.npz", arrays)
    assert first == second
    loaded = load_npz(tmp_path / "a.npz", {"images": ("uint8", 4), "labels": ("int64", 1)})
    np.testing.assert_array_equal(loaded["images"], arrays["images"])


def test_object_arrays_are_never_written_or_read(tmp_path):
    with pytest.raises(DDStudyError, match="pickling"):
        save_npz(tmp_path / "x.npz", {"bad": np.array([{"a": 1}], dtype=object)})
    np.savez(tmp_path / "pickled.npz", bad=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DDStudyError, match="corrupt or not an npz"):
        load_npz(tmp_path / "pickled.npz")


def test_contract_violations(tmp_path):
    save_npz(tmp_path / "x.npz", {"images": np.zeros((2, 2), dtype=np.float32)})
    with pytest.raises(DDStudyError, match="expected uint8"):
        load_npz(tmp_path / "x.npz", {"images": ("uint8", 4)})
    with pytest.raises(DDStudyError, match="missing array 'labels'"):
        load_npz(tmp_path / "x.npz", {"labels": ("int64", 1)})


def test_prune_stale_keeps_only_listed_files(tmp_path):
    import matplotlib

    from ddstudy.io import prune_stale

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ddstudy.io import save_figure

    for name in ("a-by-ratio.png", "b-by-ratio.png"):
        save_figure(plt.figure(figsize=(1, 1)), tmp_path / name)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "c-by-ratio.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # a PNG ddstudy did not draw: never deleted
    removed = prune_stale(tmp_path, "*-by-ratio.png", [tmp_path / "a-by-ratio.png"])
    assert [p.name for p in removed] == ["b-by-ratio.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-by-ratio.png", "c-by-ratio.png", "notes.txt"]


@pytest.mark.parametrize(("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_artifact_modes_follow_the_umask(tmp_path, umask, file_mode, dir_mode):
    """Shared file systems: artifacts are as readable as plain open()/mkdir() would make them (tempfile's 0600/0700
    would hide them from colleagues and from Slurm jobs of another account)."""
    import os
    import stat

    from ddstudy.io import atomic_directory, save_npz, write_json

    previous = os.umask(umask)
    try:
        write_json(tmp_path / "m.json", {"a": 1})
        save_npz(tmp_path / "a.npz", {"x": np.arange(3)})
        with atomic_directory(tmp_path / "variant") as folder:
            (folder / "meta.json").write_text("{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "m.json").stat().st_mode) == file_mode
    assert stat.S_IMODE((tmp_path / "a.npz").stat().st_mode) == file_mode
    assert stat.S_IMODE((tmp_path / "variant").stat().st_mode) == dir_mode
