"""Fast paths compute what the oracle (eager fp32, the reference computation) computes.

fp32 compiled against eager: the same matching loss to 1e-5 relative and the same synthetic images after 3
iterations to 1e-4 for DM, DC and DSA; evaluation networks reach the accuracy they reach eagerly; bf16 stays within
its documented tolerance (docs/performance.md). Compiling takes seconds per graph here, so these tests use one
small network and few iterations. ``DDSTUDY_TEST_DEVICE=cuda`` runs them on a GPU (``make gpu-check``), where fp32
is IEEE fp32 too (TF32 off: docs/deviations.md P7), so the same tolerances apply.
"""

import functools
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from ddstudy.accel import FUNCTORCH_SETTINGS, ORACLE, Accel, compile_available, compile_cache_dir, compiled_graphs
from ddstudy.data.store import load_variant
from ddstudy.data.tensors import Normalization, to_tensors
from ddstudy.distill.run import distill_cell, load_synthetic
from ddstudy.errors import DDStudyError
from ddstudy.evaluate.protocol import EvalConfig, evaluate_synthetic
from ddstudy.models import build_model
from tests.method_support import quick_config

FAST = {"model": "ConvNetW32", "batch_real": 16, "batch_train": 16}
COMPILED = Accel(compile=True)
BF16 = Accel(precision="bf16")

DEVICE = os.environ.get("DDSTUDY_TEST_DEVICE", "cpu")  # the GPU check sets cuda
REPO = Path(__file__).parents[1]
needs_compile = pytest.mark.skipif(not compile_available(torch.device(DEVICE)), reason="torch.compile unavailable")


@pytest.fixture()
def dataset(colour_variant):
    return colour_variant


def test_accel_settings():
    assert ORACLE.oracle and not COMPILED.oracle and not BF16.oracle
    assert COMPILED.describe() == "compiled fp32" and BF16.describe() == "eager bf16"
    with pytest.raises(DDStudyError, match="unknown precision 'fp16'"):
        Accel(precision="fp16")
    net = build_model("ConvNetW32", 1, 10, 28, seed=0)
    assert ORACLE.net(net) is net  # the oracle is the module itself


@needs_compile
@pytest.mark.parametrize("method", ["dm", "dc", "dsa", "idc"])
def test_compiled_distillation_equals_oracle(dataset, tmp_path, method):
    # IDC: 2 matching steps per network, 16 real images per network update (its compiled real side and update)
    config = quick_config(method, 2 if method == "dm" else 1, iterations=3, inner_loop=2, n_data=16, **FAST)
    eager = distill_cell(dataset, config, tmp_path / "eager", DEVICE)
    compiled = distill_cell(dataset, config, tmp_path / "compiled", DEVICE, accel=COMPILED)
    assert compiled["accel"] == {"compile": True, "precision": "fp32", "vectorize": False}
    assert eager["accel"]["compile"] is False
    # IDC's squared-difference distance on raw gradients and its network updates between matches carry the compiled
    # kernels' float reorderings further (measured: 1e-4 relative on the loss after 3 networks); the others 1e-5
    rtol, atol = (1e-3, 1e-3) if method == "idc" else (1e-5, 1e-4)
    np.testing.assert_allclose(compiled["loss"]["curve"], eager["loss"]["curve"], rtol=rtol)
    a, _, _ = load_synthetic(tmp_path / "eager")
    b, _, _ = load_synthetic(tmp_path / "compiled")
    np.testing.assert_allclose(b.numpy(), a.numpy(), atol=atol, rtol=0)


@needs_compile
def test_a_compiled_forward_gives_several_gradients_after_a_plain_backward_of_its_graph():
    """A debias mode takes several real gradients from one compiled forward (retain_graph: FairDD's per-group terms,
    COBRA's group mean, the weighted terms). A plain training step of the same graph first compiles its backward —
    with donated buffers, by torch's default, which then refuses retain_graph (the repro grid's DC cobra cell stopped
    at its first iteration, its graph's backward taken from the cache). The compiled path donates none, and the
    gradients are the eager ones."""
    import torch.nn.functional as F

    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    F.cross_entropy(COMPILED.net(build_model("ConvNetW32", 3, 10, 32, seed=1))(x), y).backward()
    net = build_model("ConvNetW32", 3, 10, 32, seed=2)
    out, params = COMPILED.net(net)(x), list(net.parameters())
    first = torch.autograd.grad(F.cross_entropy(out[:8], y[:8]), params, retain_graph=True)
    second = torch.autograd.grad(F.cross_entropy(out[8:], y[8:]), params)
    eager = net(x)
    expected = [
        torch.autograd.grad(F.cross_entropy(eager[s], y[s]), params, retain_graph=True)
        for s in (slice(0, 8), slice(8, 16))
    ]
    for got, want in zip([first, second], expected, strict=True):
        for a, b in zip(got, want, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@needs_compile
@pytest.mark.parametrize("debias", ["fairdd", "cobra"])
def test_compiled_gradient_matching_with_a_debias_mode_equals_oracle(dataset, tmp_path, debias):
    """DC with a debias mode (several real gradients per class) compiled computes what the eager oracle does."""
    config = quick_config("dc", 1, iterations=2, debias=debias, **FAST)
    eager = distill_cell(dataset, config, tmp_path / "eager", DEVICE)
    compiled = distill_cell(dataset, config, tmp_path / "compiled", DEVICE, accel=COMPILED)
    np.testing.assert_allclose(compiled["loss"]["curve"], eager["loss"]["curve"], rtol=1e-5)


def test_the_compile_cache_is_ours_whoever_imported_dynamo_first(tmp_path, monkeypatch):
    """Importing torch._dynamo (torchvision does) writes Inductor's default folder into TORCHINDUCTOR_CACHE_DIR; that
    is not the user's choice and must not replace ours. A folder the user chose is used, inside it the folder of our
    compile settings; DDSTUDY_COMPILE_CACHE wins; asking again gives the same folder."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    ours = "functorch-" + "-".join(f"{k}={v}" for k, v in sorted(FUNCTORCH_SETTINGS.items()))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DDSTUDY_COMPILE_CACHE", raising=False)
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", default_cache_dir())
    assert compile_cache_dir() == tmp_path / "home/.cache/ddstudy/torch-compile" / ours
    assert compile_cache_dir() == tmp_path / "home/.cache/ddstudy/torch-compile" / ours
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "users"))
    assert compile_cache_dir() == tmp_path / "users" / ours
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "users" / ours)
    assert compile_cache_dir() == tmp_path / "users" / ours
    monkeypatch.setenv("DDSTUDY_COMPILE_CACHE", str(tmp_path / "chosen"))
    assert compile_cache_dir() == tmp_path / "chosen" / ours


ANOTHER_TORCH_PROGRAM = """
import torch, torch.nn.functional as F
from ddstudy.models import build_model
net = build_model("ConvNetW32", 3, 10, 32, seed=1)
x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
F.cross_entropy(torch.compile(net.forward)(x), y).backward()  # torch's defaults: a backward with donated buffers
"""

SEVERAL_GRADIENTS_COMPILED = """
import torchvision  # imports torch._dynamo first, as a job's data loaders do
import json, torch, torch.nn.functional as F
from ddstudy.accel import Accel
from ddstudy.models import build_model
torch.manual_seed(0)
x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
net = build_model("ConvNetW32", 3, 10, 32, seed=2)
params = list(net.parameters())
def grads(out):
    first = torch.autograd.grad(F.cross_entropy(out[:8], y[:8]), params, retain_graph=True)
    return [float(g.norm()) for g in first + torch.autograd.grad(F.cross_entropy(out[8:], y[8:]), params)]
print(json.dumps([grads(net(x)), grads(Accel(compile=True).net(net)(x))]))
"""


@needs_compile
def test_kernels_another_program_cached_are_not_served_to_ours(tmp_path):
    """The failure this guards against, end to end: another torch program (or ddstudy before its compile settings)
    caches the network's backward with donated buffers in the user's Inductor folder; a ddstudy job later takes
    two real gradients from one compiled forward (FairDD, COBRA) with that folder set. Inductor's cache key does not
    cover donation, so served that backward the second gradient read overwritten activations: DC fairdd/cobra's
    first loss came out 5 % off the eager one, silently (found inside the test suite, whose workers import
    torchvision before ddstudy.accel). Each step in a fresh process, as jobs run."""
    import json
    import subprocess
    import sys

    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "users"))
    env.pop("DDSTUDY_COMPILE_CACHE", None)
    run = functools.partial(subprocess.run, capture_output=True, text=True, timeout=600, env=env, cwd=REPO)
    first = run([sys.executable, "-c", ANOTHER_TORCH_PROGRAM])
    assert first.returncode == 0, first.stderr[-2000:]
    second = run([sys.executable, "-c", SEVERAL_GRADIENTS_COMPILED])
    assert second.returncode == 0, second.stderr[-2000:]
    eager, compiled = json.loads(second.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(compiled, eager, rtol=1e-4, atol=1e-5)  # a norm layer leaves some biases ~1e-7


@needs_compile
def test_fresh_networks_reuse_the_compiled_graph():
    """Parameters are graph inputs: the fresh network of every iteration runs the same graph (no recompile)."""
    x = torch.randn(8, 1, 28, 28)
    first = COMPILED.net(build_model("ConvNetW32", 1, 10, 28, seed=1))
    with torch.no_grad():
        first.embed(x)
        before = compiled_graphs()
        for seed in range(2, 6):
            COMPILED.net(build_model("ConvNetW32", 1, 10, 28, seed=seed)).embed(x)
    assert compiled_graphs() == before


@pytest.mark.parametrize("method", ["dm", "dc"])
def test_bf16_distillation_within_tolerance(dataset, tmp_path, method):
    """bf16 (autocast): the matching loss within 1 % relative at every iteration and the synthetic images within
    3 % relative (Frobenius norm) of fp32 after 3 iterations — the tolerance docs/performance.md states."""
    config = quick_config(method, 2 if method == "dm" else 1, iterations=3, **FAST)
    fp32 = distill_cell(dataset, config, tmp_path / "fp32", DEVICE)
    bf16 = distill_cell(dataset, config, tmp_path / "bf16", DEVICE, accel=BF16)
    assert bf16["accel"]["precision"] == "bf16"
    np.testing.assert_allclose(bf16["loss"]["curve"], fp32["loss"]["curve"], rtol=0.01)
    a, _, _ = load_synthetic(tmp_path / "fp32")
    b, _, _ = load_synthetic(tmp_path / "bf16")
    assert float((a - b).norm() / a.norm()) < 0.03
    assert not torch.equal(a, b)  # bf16 really ran


@needs_compile
def test_compiled_evaluation_matches_eager(dataset, tmp_path):
    """Each evaluation network reaches (to float tolerance) the accuracy it reaches on the eager path."""
    distill_cell(dataset, quick_config("random", 10), tmp_path / "set", DEVICE)
    images, labels, meta = load_synthetic(tmp_path / "set")
    config = EvalConfig(num_eval=2, epochs=6)
    eager = evaluate_synthetic(images, labels, meta, dataset, "ConvNetW32", config, DEVICE)
    compiled = evaluate_synthetic(images, labels, meta, dataset, "ConvNetW32", config, DEVICE, accel=COMPILED)
    np.testing.assert_allclose(compiled["accs"], eager["accs"], atol=0.02)
    assert compiled["accel"]["compile"] is True


@pytest.mark.parametrize("augment", ["none", "color_crop_cutout_flip_scale_rotate"])
def test_stacked_evaluation_gives_each_network_its_own_run(dataset, tmp_path, augment):
    """Vectorised evaluation (all networks in one vmapped pass): each network keeps its own initialisation, data
    order and augmentation draws, so it ends where it ends when trained alone — same train loss to float tolerance
    (grouped convolutions sum in another order), same test accuracy to one test sample in a hundred."""
    distill_cell(dataset, quick_config("random", 3), tmp_path / "set", DEVICE)
    images, labels, meta = load_synthetic(tmp_path / "set")
    config = EvalConfig(num_eval=3, epochs=4, batch_size=16, augment=augment)
    alone = evaluate_synthetic(images, labels, meta, dataset, "ConvNetW32", config, DEVICE)
    together = evaluate_synthetic(
        images, labels, meta, dataset, "ConvNetW32", config, DEVICE, accel=Accel(vectorize=True)
    )
    assert together["accel"]["vectorize"] is True and together["n_runs"] == 3
    np.testing.assert_allclose(together["accs"], alone["accs"], atol=0.01)
    assert together["train_acc_mean"] == pytest.approx(alone["train_acc_mean"], abs=0.02)
    assert len(set(together["accs"])) > 1 or len(set(alone["accs"])) == 1  # the runs differ as they do alone


def test_stacked_evaluation_falls_back_for_batchnorm(dataset, tmp_path):
    distill_cell(dataset, quick_config("random", 2), tmp_path / "set", DEVICE)
    images, labels, meta = load_synthetic(tmp_path / "set")
    config = EvalConfig(num_eval=2, epochs=1, batch_size=16)
    alone = evaluate_synthetic(images, labels, meta, dataset, "ConvNetBN", config, DEVICE)
    together = evaluate_synthetic(
        images, labels, meta, dataset, "ConvNetBN", config, DEVICE, accel=Accel(vectorize=True)
    )
    assert together["accs"] == alone["accs"]  # BatchNorm networks train one after another: the same computation


@pytest.mark.parametrize(("method", "model"), [("dc", "ConvNetW32"), ("dsa", "ConvNetW32"), ("dc", "ConvNetBN")])
def test_classes_batched_gradient_matching_equals_per_class(dataset, tmp_path, method, model):
    """DC/DSA with all classes in one vmapped pass per side (the GPU path) computes the per-class loop's loss and
    synthetic images (1e-5 relative, 1e-4 after 3 iterations), BatchNorm networks included."""
    from ddstudy.distill.dc import GradientMatching
    from ddstudy.distill.loop import run_distillation
    from ddstudy.distill.real import RealPool

    variant = load_variant(dataset)
    split = to_tensors(variant.train, Normalization.of(variant.train.images))
    pool = RealPool(split, 10, torch.device(DEVICE))
    config = quick_config(method, 2, iterations=3, outer_loop=2, inner_loop=1, **{**FAST, "model": model})
    results = {}
    for batched in (False, True):
        results[batched] = run_distillation(
            GradientMatching(batched=batched), config, "cell", pool, (3, 28, 28), torch.device(DEVICE),
            tmp_path / f"ckpt-{batched}", {},
        )  # fmt: skip
    np.testing.assert_allclose(results[True].loss_curve, results[False].loss_curve, rtol=1e-5)
    np.testing.assert_allclose(
        results[True].images.cpu().numpy(), results[False].images.cpu().numpy(), atol=1e-4, rtol=0
    )


@pytest.fixture()
def tf32_flags():
    """PyTorch's process-wide TF32 switches (cuDNN, matmul), set to its CUDA defaults and put back after the test."""
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = cudnn.allow_tf32, matmul.allow_tf32
    yield cudnn, matmul
    cudnn.allow_tf32, matmul.allow_tf32 = saved


def test_fp32_on_a_gpu_is_fp32_not_tf32(tf32_flags):
    # PyTorch's default on CUDA: cuDNN convolutions in TF32 (the GPU check of 2026-12-04 met it as 1e-4 drifts)
    cudnn, matmul = tf32_flags
    cudnn.allow_tf32 = True
    ORACLE.resolved(torch.device("cpu"))
    assert cudnn.allow_tf32 is True  # nothing changes off CUDA
    for accel in (ORACLE, BF16):  # every stage's networks pass through Accel.resolved
        cudnn.allow_tf32 = matmul.allow_tf32 = True
        accel.resolved(torch.device("cuda"))
        # read through the old switches (they raise where new- and old-API settings were mixed)
        assert (cudnn.allow_tf32, matmul.allow_tf32) == (False, False)
        assert (cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision) != ("tf32", "tf32")
