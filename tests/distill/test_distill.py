"""DC/DSA/DM, baselines and the evaluation protocol on tiny data."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from ddstudy.augment import AUGMENT_FAMILIES, diff_augment
from ddstudy.distill.baselines import herding_order
from ddstudy.distill.matching import get_loops, layer_distance, match_loss
from ddstudy.distill.run import distill_cell, load_synthetic
from ddstudy.errors import DDStudyError
from ddstudy.evaluate.protocol import EvalConfig, evaluate_synthetic, write_metrics
from ddstudy.timing import Segments
from tests.method_support import quick_config

FAST = {"model": "ConvNetW32", "batch_real": 16, "batch_train": 16}


@pytest.fixture()
def dataset(colour_variant):
    return colour_variant


# ------------------------------------------------------------------------------------------------ DC distance
def test_layer_distance_by_hand():
    real = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    syn = torch.tensor([[1.0, 1.0], [0.0, -3.0]])
    # row 0: cos = 1/√2; row 1: cos = −1 → (1 − 0.7071) + (1 + 1) = 2.2929 (up to the 1e-6 in the denominator)
    assert float(layer_distance(real, syn)) == pytest.approx(2 - 1 / np.sqrt(2) + 1, abs=1e-5)
    conv_real, conv_syn = torch.ones(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    conv_syn[1] = -1
    assert float(layer_distance(conv_real, conv_syn)) == pytest.approx(2.0, abs=1e-5)  # per output channel
    assert float(layer_distance(torch.ones(3), -torch.ones(3))) == 0.0  # biases / norm parameters skipped


def test_match_loss_variants():
    real = [torch.tensor([[1.0, 0.0]]), torch.tensor([5.0])]
    syn = [torch.tensor([[0.0, 1.0]]), torch.tensor([1.0])]
    assert float(match_loss(syn, real, "ours")) == pytest.approx(1.0, abs=1e-5)
    assert float(match_loss(syn, real, "mse")) == pytest.approx(1 + 1 + 16)
    assert float(match_loss(syn, real, "cos")) == pytest.approx(1 - 5 / (np.sqrt(26) * np.sqrt(2)), abs=1e-5)
    with pytest.raises(DDStudyError, match="unknown gradient distance"):
        match_loss(syn, real, "l1")


def test_get_loops_table():
    assert [get_loops(i) for i in (1, 10, 20, 30, 40, 50)] == [(1, 1), (10, 50), (20, 25), (30, 20), (40, 15), (50, 10)]
    with pytest.raises(DDStudyError, match="set outer_loop and inner_loop for IPC 7"):
        get_loops(7)
    assert quick_config("dc", 7, outer_loop=3, inner_loop=2).loops == (3, 2)
    with pytest.raises(DDStudyError, match="IPC 7"):
        quick_config("dsa", 7)
    assert quick_config("dm", 7).ipc == 7  # DM has no loops


# ------------------------------------------------------------------------------------------------ DSA
@pytest.mark.parametrize("family", list(AUGMENT_FAMILIES))
def test_dsa_siamese_same_transform_and_differentiable(family):
    torch.manual_seed(0)
    base = torch.randn(1, 3, 28, 28)
    real = base.repeat(5, 1, 1, 1)
    syn = base.clone().requires_grad_(True)
    out_real = diff_augment(real, family, torch.Generator().manual_seed(7), siamese=True)
    out_syn = diff_augment(syn, family, torch.Generator().manual_seed(7), siamese=True)
    for i in range(5):  # one draw for the whole batch: every real image gets the synthetic image's transform
        torch.testing.assert_close(out_real[i], out_syn[0])
    out_syn.sum().backward()
    assert syn.grad is not None and torch.isfinite(syn.grad).all()


def test_dsa_per_image_draws_differ_and_depend_on_seed():
    x = torch.randn(1, 3, 28, 28).repeat(16, 1, 1, 1)
    out = diff_augment(x, "scale", torch.Generator().manual_seed(1), siamese=False)
    assert not torch.allclose(out[0], out[1])
    again = diff_augment(x, "scale", torch.Generator().manual_seed(1), siamese=False)
    assert torch.equal(out, again)
    with pytest.raises(DDStudyError, match="unknown DSA augmentation 'blur'"):
        diff_augment(x, "crop_blur", torch.Generator(), siamese=True)


# ------------------------------------------------------------------------------------------------ methods
def test_dm_loss_falls_and_images_change(dataset, tmp_path):
    config = quick_config("dm", 2, iterations=8, lr_img=1.0, **FAST)
    meta = distill_cell(dataset, config, tmp_path / "dm", "cpu")
    curve = meta["loss"]["curve"]
    assert np.mean(curve[-3:]) < np.mean(curve[:3])
    images, labels, _ = load_synthetic(tmp_path / "dm")
    early = distill_cell(dataset, quick_config("dm", 2, iterations=1, **FAST), tmp_path / "dm1", "cpu")
    start, _, _ = load_synthetic(tmp_path / "dm1")
    assert early["iterations_done"] == 1 and not torch.allclose(images, start)
    with pytest.raises(DDStudyError, match="dm needs iterations ≥ 1, got 0"):
        quick_config("dm", 2, iterations=0)
    assert labels.tolist() == sorted(labels.tolist()) and images.shape == (20, 3, 28, 28)
    assert (tmp_path / "dm" / "grid.png").stat().st_size > 5000


@pytest.mark.parametrize("method", ["dc", "dsa"])
def test_gradient_matching_runs_and_is_reproducible(dataset, tmp_path, method):
    config = quick_config(method, 1, iterations=2, **FAST)
    a = distill_cell(dataset, config, tmp_path / "a", "cpu")
    b = distill_cell(dataset, config, tmp_path / "b", "cpu")
    assert a["synthetic_sha256"] == b["synthetic_sha256"] and a["loss"]["curve"] == b["loss"]["curve"]
    for name in ("synthetic.npz", "meta.json", "grid.png"):  # same seed, same bytes: DVC hashes agree across runs
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    other = distill_cell(dataset, quick_config(method, 1, iterations=2, seed=3, **FAST), tmp_path / "c", "cpu")
    assert other["synthetic_sha256"] != a["synthetic_sha256"]


def test_dc_with_inner_loop_and_batchnorm(dataset, tmp_path):
    config = quick_config("dc", 2, iterations=1, outer_loop=2, inner_loop=1, model="ConvNetBN", batch_real=8)
    meta = distill_cell(dataset, config, tmp_path / "bn", "cpu")
    assert meta["config"]["outer_loop"] == 2 and np.isfinite(meta["loss"]["last"])


def distil_until_killed(dataset, config, out, at_iteration: int, **kwargs) -> None:
    """Run ``distill_cell`` and kill it (KeyboardInterrupt) after update ``at_iteration`` + 1, as a crash would."""
    from ddstudy.distill import run as run_module

    original = run_module.run_distillation

    def killed(*args, **kwargs):
        def stop(iteration, loss):
            if iteration == at_iteration:
                raise KeyboardInterrupt("simulated kill")

        return original(*args, **kwargs, on_iteration=stop)

    run_module.run_distillation = killed
    try:
        with pytest.raises(KeyboardInterrupt):
            distill_cell(dataset, config, out, "cpu", **kwargs)
    finally:
        run_module.run_distillation = original


def test_resumed_distillation_equals_uninterrupted(dataset, tmp_path):
    config = quick_config("dsa", 1, iterations=5, checkpoint_every=2, **FAST)
    straight = distill_cell(dataset, config, tmp_path / "straight", "cpu")
    distil_until_killed(dataset, config, tmp_path / "resumed", at_iteration=2)  # the last checkpoint holds 2
    assert not (tmp_path / "resumed").exists()
    state = json.loads((tmp_path / ".resumed.partial" / "ckpt" / "state.json").read_text())
    assert state["iteration"] == 2
    # The fingerprint holds the device kind and the execution path: resuming needs both to match.
    fingerprint = state["fingerprint"]
    assert fingerprint["device_type"] == "cpu" and fingerprint["accel"]["precision"] == "fp32"
    assert [(s["from"], s["to"]) for s in state["segments"]] == [(0, 2)]  # the timing of the work kept
    resumed = distill_cell(dataset, config, tmp_path / "resumed", "cpu", timing=tmp_path / "bench" / "t.json")
    assert resumed["resumed_from"] == 2
    assert resumed["synthetic_sha256"] == straight["synthetic_sha256"]
    assert resumed["loss"]["curve"] == straight["loss"]["curve"]
    assert not (tmp_path / ".resumed.partial").exists()
    # The timing record sums both segments (each from its process's start) and lives outside the artifact.
    timing = json.loads((tmp_path / "bench" / "t.json").read_text())
    segments = timing["segments"]
    assert [(s["from"], s["to"]) for s in segments] == [(0, 2), (2, 5)] and timing["complete"]
    assert timing["unit"] == "iterations" and timing["done"] == 5
    assert timing["wall_s"] == pytest.approx(sum(s["wall_s"] for s in segments)) and segments[0]["wall_s"] > 0
    assert timing["cpu_s"] == pytest.approx(sum(s["cpu_s"] for s in segments))
    assert sorted(p.name for p in (tmp_path / "resumed").iterdir()) == ["grid.png", "meta.json", "synthetic.npz"]


def test_a_checkpoint_of_another_execution_path_is_not_resumed(dataset, tmp_path):
    from ddstudy.accel import Accel

    config = quick_config("dm", 1, iterations=3, checkpoint_every=1, **FAST)
    distil_until_killed(dataset, config, tmp_path / "s", at_iteration=1)
    bf16 = distill_cell(dataset, config, tmp_path / "s", "cpu", accel=Accel(precision="bf16"))
    assert bf16["resumed_from"] is None and bf16["accel"]["precision"] == "bf16"


def test_nan_loss_names_the_iteration(dataset, tmp_path):
    config = quick_config("dm", 1, iterations=3, lr_img=1e30, **FAST)
    with pytest.raises(DDStudyError, match="at iteration [0-9]+; lower lr_img"):
        distill_cell(dataset, config, tmp_path / "nan", "cpu")
    assert not (tmp_path / "nan").exists()


# ------------------------------------------------------------------------------------------------ baselines
def test_herding_picks_the_expected_samples():
    features = torch.tensor([[0.0, 0.0], [10.0, 0.0], [-10.0, 0.0], [1.0, 0.0], [0.0, 5.0], [0.0, -5.0]])
    # mean μ = (1/6, 0). Step 1: f0 is nearest μ. Step 2: (f0 + f3)/2 = (0.5, 0) beats every other pair.
    # Step 3: (f0 + f3 + f4)/3 = (1/3, 5/3) ties with f5 and wins by index (the ±10 outliers are farther).
    # Step 4: adding f5 brings the running mean to (0.25, 0), next to μ.
    assert herding_order(features, 4) == [0, 3, 4, 5]
    assert len(set(herding_order(features, 6))) == 6


def test_baselines_select_real_samples(dataset, tmp_path):
    from ddstudy.data.store import load_variant

    train = load_variant(dataset).train
    for method in ("random", "herding"):
        meta = distill_cell(dataset, quick_config(method, 3, model="ConvNetW32"), tmp_path / method, "cpu")
        images, labels, _ = load_synthetic(tmp_path / method)
        indices = np.load(tmp_path / method / "synthetic.npz", allow_pickle=False)["indices"]
        assert meta["num_images"] == 30 and np.bincount(labels.numpy()).tolist() == [3] * 10
        assert (train.labels[indices] == labels.numpy()).all()
    full = distill_cell(dataset, quick_config("full", 1), tmp_path / "full", "cpu")
    images, labels, meta = load_synthetic(tmp_path / "full", dataset)
    assert full["num_images"] == len(train.labels) == len(images)
    with pytest.raises(DDStudyError, match="IPC 31 is larger than class"):
        distill_cell(dataset, quick_config("random", 31), tmp_path / "big", "cpu")
    with pytest.raises(DDStudyError, match="larger than class"):
        distill_cell(dataset, quick_config("dm", 31, **FAST, iterations=1), tmp_path / "big", "cpu")


# ------------------------------------------------------------------------------------------------ evaluation
def test_separable_set_is_learnt_and_noise_is_chance(dataset, tmp_path):
    distill_cell(dataset, quick_config("random", 10), tmp_path / "real", "cpu")
    images, labels, meta = load_synthetic(tmp_path / "real")
    config = EvalConfig(num_eval=2, epochs=30, batch_size=64)
    good = evaluate_synthetic(images, labels, meta, dataset, "ConvNetW32", config)
    assert good["acc_mean"] > 0.9 and good["n_runs"] == 2 and len(good["accs"]) == 2
    assert good["acc_aligned_mean"] is not None and good["acc_conflicting_mean"] is not None
    assert good["train_aligned_fraction"] == pytest.approx(0.8)
    assert good["eval_config"]["epochs"] == 30 and good["eval_config"]["augment"] == "none"
    write_metrics(tmp_path / "a.json", good)  # same seed, same bytes (timings go to the log only)
    write_metrics(tmp_path / "b.json", evaluate_synthetic(images, labels, meta, dataset, "ConvNetW32", config))
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    noise = torch.randn_like(images)
    chance = evaluate_synthetic(noise, labels, meta, dataset, "ConvNetW32", EvalConfig(num_eval=2, epochs=30))
    assert chance["acc_mean"] < 0.3


def test_a_long_training_shows_its_epochs_with_rate_and_eta(dataset, tmp_path, monkeypatch, caplog):
    """Between its networks' lines an evaluation logs its training's progress at the tenths of its epochs, at most
    every EPOCH_LINE_S (a run on the whole training set takes minutes per network); a quick one logs none."""
    import ddstudy.evaluate.protocol as protocol

    distill_cell(dataset, quick_config("random", 2), tmp_path / "real", "cpu")
    images, labels, meta = load_synthetic(tmp_path / "real")
    config = EvalConfig(num_eval=1, epochs=19, batch_size=16)
    with caplog.at_level("INFO", logger="ddstudy.evaluate.protocol"):
        evaluate_synthetic(images, labels, meta, dataset, "ConvNetW32", config)
    assert "network: epoch" not in caplog.text  # well under a minute
    caplog.clear()
    monkeypatch.setattr(protocol, "EPOCH_LINE_S", 0.0)
    with caplog.at_level("INFO", logger="ddstudy.evaluate.protocol"):
        evaluate_synthetic(images, labels, meta, dataset, "ConvNetW32", config)
    lines = [r.getMessage() for r in caplog.records if "network: epoch" in r.getMessage()]
    assert [line.split(",")[0] for line in lines] == [f"network: epoch {e}/20" for e in range(2, 20, 2)]
    assert all("epochs/s, ETA" in line for line in lines)


def test_killed_evaluation_resumes_after_its_last_finished_run(dataset, tmp_path, monkeypatch):
    """A killed evaluation keeps its finished networks: the rerun trains only the rest, and the record is the
    uninterrupted run's bytes."""
    import ddstudy.evaluate.protocol as protocol

    distill_cell(dataset, quick_config("random", 2), tmp_path / "real", "cpu")
    images, labels, meta = load_synthetic(tmp_path / "real")
    config = EvalConfig(num_eval=3, epochs=2, batch_size=16)
    write_metrics(tmp_path / "whole.json", evaluate_synthetic(images, labels, meta, dataset, "ConvNetW32", config))

    real_run, calls = protocol.train_and_test, []

    def killed_in_third_run(*args, **kwargs):
        calls.append(args[5])  # the run seed
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_run(*args, **kwargs)

    monkeypatch.setattr(protocol, "train_and_test", killed_in_third_run)
    keep = tmp_path / ".runs.partial"
    with pytest.raises(KeyboardInterrupt):
        evaluate_synthetic(images, labels, meta, dataset, "ConvNetW32", config, resume_dir=keep)
    assert len(json.loads((keep / "runs.json").read_text())["runs"]) == 2
    calls.clear()
    monkeypatch.setattr(protocol, "train_and_test", lambda *a, **k: calls.append(a[5]) or real_run(*a, **k))
    assert [(s["from"], s["to"]) for s in json.loads((keep / "runs.json").read_text())["segments"]] == [(0, 2)]
    segments = Segments("runs")
    resumed = evaluate_synthetic(
        images, labels, meta, dataset, "ConvNetW32", config, resume_dir=keep, segments=segments
    )
    assert len(calls) == 1  # only the third network trained again
    timing = segments.record(3)
    assert [(s["from"], s["to"]) for s in timing["segments"]] == [(0, 2), (2, 3)] and timing["complete"]
    write_metrics(tmp_path / "resumed.json", resumed)
    assert (tmp_path / "resumed.json").read_bytes() == (tmp_path / "whole.json").read_bytes()
    # another setting never continues from these runs
    calls.clear()
    evaluate_synthetic(images, labels, meta, dataset, "ConvNetW32", replace(config, epochs=1), resume_dir=keep)
    assert len(calls) == 3


def test_eval_epochs_follow_the_reference_rule():
    assert EvalConfig().resolved("dc").epochs == 300 and EvalConfig().resolved("dc").augment == "none"
    assert EvalConfig().resolved("dsa").epochs == 1000 and EvalConfig().resolved("dm").epochs == 1000
    assert EvalConfig().resolved("random").augment == "none"
    assert EvalConfig(epochs=5).resolved("dm").epochs == 5


def test_bad_method_and_ipc():
    with pytest.raises(DDStudyError, match="unknown method 'kip'"):
        quick_config("kip", 1)
    with pytest.raises(DDStudyError, match="IPC must be ≥ 1"):
        quick_config("dm", 0)
    with pytest.raises(DDStudyError, match="unknown model"):
        quick_config("dm", 1, model="ConvNett")


def test_dm_batched_pass_gives_the_same_result_without_batchnorm(dataset, tmp_path, monkeypatch):
    from dataclasses import replace

    from ddstudy.distill import registry
    from ddstudy.distill.dm import DistributionMatching

    config = quick_config("dm", 2, iterations=2, **FAST)
    per_class = distill_cell(dataset, config, tmp_path / "a", "cpu")
    batched_spec = replace(registry.METHODS["dm"], make=lambda: DistributionMatching(batched=True))
    monkeypatch.setitem(registry.METHODS, "dm", batched_spec)
    batched = distill_cell(dataset, config, tmp_path / "b", "cpu")
    assert per_class["loss"]["curve"] == pytest.approx(batched["loss"]["curve"], rel=1e-4)


def test_image_grid_tiles_each_class_on_its_row():
    """The synthetic-set figure: row r holds class r's images in set order, blanks stay white, gaps separate them."""
    from ddstudy.distill.image_grid import tile

    pixels = np.zeros((5, 2, 2, 3), dtype=np.float32)
    for i in range(5):
        pixels[i] = i / 10  # image i is uniformly i/10
    labels = np.array([1, 0, 1, 0, 1])
    canvas = tile(pixels, labels, classes=[0, 1], columns=3, gap=1)
    assert canvas.shape == (2 * 3 - 1, 3 * 3 - 1, 3)
    assert np.allclose(canvas[0:2, 0:2], 0.1) and np.allclose(canvas[0:2, 3:5], 0.3)  # class 0: images 1, 3
    assert np.allclose(canvas[0:2, 6:8], 1.0)  # class 0 has two images: the third slot is blank (white)
    assert (
        np.allclose(canvas[3:5, 0:2], 0.0) and np.allclose(canvas[3:5, 3:5], 0.2) and np.allclose(canvas[3:5, 6:8], 0.4)
    )
    assert np.allclose(canvas[2, :], 1.0) and np.allclose(canvas[:, 2], 1.0)  # the gaps
