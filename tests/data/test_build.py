"""Building variants: the storage contract, reproducibility, atomicity, and tamper detection."""

import json

import numpy as np
import pytest

from ddstudy.data.build import VariantSpec, build_variant
from ddstudy.data.store import load_variant
from ddstudy.errors import DDStudyError
from ddstudy.io import sha256_file


@pytest.fixture(scope="module")
def built(tmp_path_factory, fashion_options):
    out = tmp_path_factory.mktemp("built")
    specs = {
        "color": VariantSpec("fashion-mnist", "color", 0.8, 2),
        "corruption": VariantSpec("fashion-mnist", "corruption", 0.5, 3, test_attrs="uniform"),
        "none": VariantSpec("fashion-mnist"),
    }
    for key, spec in specs.items():
        build_variant(spec, out / key, fashion_options)
    return out


def test_storage_contract(built):
    for key, channels in (("color", 3), ("corruption", 3), ("none", 1)):
        variant = load_variant(built / key)
        for split, n in ((variant.train, 300), (variant.test, 120)):
            assert split.images.dtype == np.uint8 and split.images.shape == (n, channels, 28, 28)
            assert split.labels.dtype == np.int64 and split.attrs.dtype == np.int64
        meta = json.loads((built / key / "meta.json").read_text())
        for field in ("source", "bias", "ratio", "severity", "seed", "test_attrs", "counts", "sha256"):
            assert field in meta
        for name, digest in meta["sha256"].items():
            assert sha256_file(built / key / name) == digest
    assert sorted(p.name for p in (built / "color").iterdir()) == ["meta.json", "test.npz", "train.npz"]


def test_counts_and_test_modes(built):
    color = load_variant(built / "color")
    assert color.meta["counts"]["train"]["aligned"] == 240  # 0.8 × 30 per class
    assert color.meta["counts"]["test"]["aligned"] == 0  # conflicting (reference)
    assert not color.test.aligned.any()
    corruption = load_variant(built / "corruption")
    assert corruption.meta["counts"]["test"]["aligned"] == 12  # uniform: 1/10 of 12 per class, ±1 per class
    assert corruption.meta["corruption_level"] == 4
    clean = load_variant(built / "none")
    assert (clean.train.attrs == -1).all() and "aligned" not in clean.meta["counts"]["train"]


def test_same_seed_same_bytes_other_seed_differs(tmp_path, fashion_options, built):
    for key, spec in (
        ("color", VariantSpec("fashion-mnist", "color", 0.8, 2)),
        ("corruption", VariantSpec("fashion-mnist", "corruption", 0.5, 3, test_attrs="uniform")),
    ):
        again = build_variant(spec, tmp_path / f"{key}-again", fashion_options)
        first = json.loads((built / key / "meta.json").read_text())
        assert again["sha256"] == first["sha256"]
        assert (tmp_path / f"{key}-again" / "meta.json").read_bytes() == (built / key / "meta.json").read_bytes()
        other = build_variant(VariantSpec(**{**spec.__dict__, "seed": 7}), tmp_path / f"{key}-seed7", fashion_options)
        assert other["sha256"]["train.npz"] != first["sha256"]["train.npz"]


def test_interrupted_build_leaves_nothing(tmp_path, fashion_options, monkeypatch):
    from ddstudy.data import colour

    def explode(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(colour, "colorize", explode)
    with pytest.raises(RuntimeError):
        build_variant(VariantSpec("fashion-mnist", "color", 0.5, 1), tmp_path / "v", fashion_options)
    assert list(tmp_path.iterdir()) == []


def test_rebuild_replaces_whole_folder(tmp_path, fashion_options):
    target = tmp_path / "v"
    build_variant(VariantSpec("fashion-mnist", "color", 0.5, 1), target, fashion_options)
    (target / "stale.txt").write_text("old")
    build_variant(VariantSpec("fashion-mnist", "color", 0.5, 1), target, fashion_options)
    assert not (target / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["v"]


def test_tampered_or_corrupt_npz_is_refused(tmp_path, built):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built / "color", copy)
    data = bytearray((copy / "train.npz").read_bytes())
    data[-100] ^= 0xFF
    (copy / "train.npz").write_bytes(bytes(data))
    with pytest.raises(DDStudyError, match="sha256 differs"):
        load_variant(copy)
    (copy / "test.npz").write_bytes(b"garbage")
    with pytest.raises(DDStudyError, match="corrupt or not an npz"):
        load_variant(copy, verify=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"bias": "color", "ratio": 1.5, "severity": 1}, "outside \\[0, 1\\]"),
        ({"bias": "color", "ratio": 0.5, "severity": 0}, "severity 0"),
        ({"bias": "corruption", "ratio": 0.5, "severity": 5}, "severity 5"),
        ({"bias": "colour", "ratio": 0.5, "severity": 1}, "unknown bias 'colour'"),
        ({"bias": "none", "ratio": 0.5}, "takes no --ratio"),
        ({"bias": "color", "ratio": 0.5, "severity": 1, "test_attrs": "all"}, "test-attrs"),
        ({"bias": "color", "ratio": 0.5, "severity": 1, "train_per_class": 0}, "positive"),
    ],
)
def test_bad_specs(kwargs, message):
    with pytest.raises(DDStudyError, match=message):
        VariantSpec("fashion-mnist", **kwargs)


def test_colour_bias_on_rgb_source_is_refused(tmp_path, cifar_root, monkeypatch):
    from ddstudy.data.sources import SourceOptions
    from tests.data.test_sources import _official_md5s

    _official_md5s(cifar_root, monkeypatch)
    with pytest.raises(DDStudyError, match="needs a grey source"):
        build_variant(VariantSpec("cifar10", "color", 0.5, 1), tmp_path / "x", SourceOptions(root=cifar_root))
    assert not (tmp_path / "x").exists()


def test_canonical_names():
    assert VariantSpec("mnist", "color", 0.95, 1).name == "mnist-color-r0.95-s1"
    assert VariantSpec("cifar10", "corruption", 0.0, 4).name == "cifar10-corruption-r0-s4"
    assert VariantSpec("cifar10").name == "cifar10-clean"
    named = VariantSpec("mnist", "color", 1.0, 2, seed=3, test_attrs="uniform", train_per_class=10).name
    assert named == "mnist-color-r1-s2-n10-all-tuniform-seed3"
