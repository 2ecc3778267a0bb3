"""Contract tests over every registry entry: a method, a bias kind or a debias mode added with one registry line is
held to what every other entry is held to, without anyone remembering to write its test.

* every method: a tiny run writes a loadable set; a distilling method killed mid-run and resumed equals the
  uninterrupted run (bytes and loss curve); a selection is the same bytes when run again;
* every bias kind: a tiny variant with bias attributes, the aligned share its ratio asks for, and a sample figure
  whose pixels show the images (not a blank canvas);
* every debias mode: a real-batch method on a tiny biased set changes the synthetic set with every non-plain mode
  (tests/distill/test_debias.py runs the same contract with the KDE artifact; here without a weights file).
"""

from __future__ import annotations

import numpy as np
import pytest

from ddstudy.data.build import VariantSpec, build_variant
from ddstudy.data.registry import BIAS_KINDS
from ddstudy.debias import DEBIAS
from ddstudy.distill.registry import METHODS
from ddstudy.distill.run import distill_cell, load_synthetic
from tests.distill.test_distill import distil_until_killed
from tests.method_support import quick_config

TINY = {
    "model": "ConvNetW32", "batch_real": 8, "batch_train": 8, "iterations": 4, "checkpoint_every": 2,
    "inner_loop": 2, "n_data": 16,  # IDC: matching steps per network, real images per network update
}  # fmt: skip


@pytest.fixture(scope="module")
def experts(colour_variant, tmp_path_factory):
    """Expert trajectories for the methods that read the zoo (MTT's buffer recipe, every epoch kept)."""
    from ddstudy.data.store import load_variant
    from ddstudy.zoo.train import ZooJob, train_zoo_models
    from tests.distill.test_mtt import BUFFER

    name = load_variant(colour_variant, verify=False).meta["name"]
    root = tmp_path_factory.mktemp("zoo")
    jobs = [ZooJob(name, "ConvNetW32", init) for init in (5, 6)]
    train_zoo_models(jobs, colour_variant, [root / name / "ConvNetW32" / f"init{i}" for i in (5, 6)], BUFFER)
    return root


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_runs_and_resumes_to_the_same_bytes(method, colour_variant, experts, tmp_path):
    from tests.distill.test_mtt import SMALL

    spec = METHODS[method]
    settings = TINY | (SMALL if spec.uses_zoo else {})  # an expert-reading method: the buffer's epochs
    config = quick_config(method, 2 if spec.uses_zoo else 1, **settings)
    zoo = {"zoo_root": experts} if spec.uses_zoo else {}
    straight = distill_cell(colour_variant, config, tmp_path / "straight", "cpu", **zoo)
    images, labels, meta = load_synthetic(tmp_path / "straight", colour_variant)
    # a parameterised set (IDC) stores fewer images than training sees: decoded_per_class per class
    trained = straight["num_images"] * straight["extra"].get("decoded_per_class", config.ipc) // config.ipc
    assert meta["method"] == method and len(images) == len(labels) == trained
    assert np.isfinite(images.numpy()).all()
    if not spec.distils:
        again = distill_cell(colour_variant, config, tmp_path / "again", "cpu", **zoo)
        assert again["synthetic_sha256"] == straight["synthetic_sha256"]
        return
    distil_until_killed(colour_variant, config, tmp_path / "resumed", at_iteration=2, **zoo)
    resumed = distill_cell(colour_variant, config, tmp_path / "resumed", "cpu", **zoo)
    assert resumed["resumed_from"] == 2
    assert resumed["synthetic_sha256"] == straight["synthetic_sha256"]
    assert resumed["loss"]["curve"] == straight["loss"]["curve"]


@pytest.mark.parametrize("kind", list(BIAS_KINDS))
def test_every_bias_kind_builds_a_variant_with_attributes_and_a_sample_figure(
    kind, fashion_options, cifar_root, monkeypatch, tmp_path
):
    import matplotlib.image

    from ddstudy.data.sources import SourceOptions
    from ddstudy.data.store import load_variant
    from ddstudy.report.samples import plot_variant_samples
    from tests.data.test_sources import _official_md5s

    if BIAS_KINDS[kind].source_channels == 3:  # greys colour images: the toy CIFAR-10 in torchvision's format
        _official_md5s(cifar_root, monkeypatch)
        source, options = "cifar10", SourceOptions(root=cifar_root)
    else:
        source, options = "fashion-mnist", fashion_options
    spec = VariantSpec(source, kind, 0.8, 1, test_attrs="uniform")
    meta = build_variant(spec, tmp_path / spec.name, options)
    variant = load_variant(tmp_path / spec.name)
    attrs, aligned = variant.train.attrs, variant.train.aligned
    assert (attrs >= 0).all() and meta["bias"] == kind
    assert abs(aligned.mean() - 0.8) <= 0.05  # the aligned share the ratio asks for (±rounding)
    assert meta["counts"]["train"]["aligned_fraction"] == pytest.approx(aligned.mean())
    png = plot_variant_samples(variant, tmp_path / "samples.png")
    pixels = matplotlib.image.imread(png)[..., :3]
    assert pixels.std() > 0.05  # images drawn, not a blank canvas
    assert len(np.unique(pixels.reshape(-1, 3).round(2), axis=0)) > 50  # colours and greys of the samples


WITHOUT_ARTIFACT = [name for name, mode in DEBIAS.items() if not mode.plain and not mode.reads_weights_file]


@pytest.mark.parametrize("mode", WITHOUT_ARTIFACT)
@pytest.mark.parametrize("method", [name for name, spec in METHODS.items() if spec.debias == "real batches"])
def test_every_debias_mode_changes_a_real_batch_method_on_a_biased_set(mode, method, colour_variant, tmp_path):
    plain = distill_cell(colour_variant, quick_config(method, 1, **TINY), tmp_path / "plain", "cpu")
    mitigated = distill_cell(colour_variant, quick_config(method, 1, **TINY, debias=mode), tmp_path / mode, "cpu")
    assert mitigated["extra"]["debias"]["mode"] == mode
    assert mitigated["synthetic_sha256"] != plain["synthetic_sha256"]
