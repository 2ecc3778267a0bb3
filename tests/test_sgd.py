"""``ddstudy.sgd.Sgd`` performs ``torch.optim.SGD``'s update bit for bit (CPU: the single-tensor path; CUDA: the
foreach path torch picks there), and eager jobs no longer import ``torch._dynamo`` through the optimiser.
``DDSTUDY_TEST_DEVICE=cuda`` runs the comparison on a GPU (``make gpu-check``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from ddstudy.sgd import Sgd

DEVICE = os.environ.get("DDSTUDY_TEST_DEVICE", "cpu")


def _params(seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(8, 3, 3, 3), (8,), (10, 32), ()]
    return [torch.randn(s, generator=g).to(DEVICE).requires_grad_(True) for s in shapes]


@pytest.mark.parametrize(
    "lr,momentum,weight_decay", [(0.01, 0.9, 5e-4), (0.1, 0.5, 0.0), (0.01, 0.0, 0.0), (0.05, 0.0, 5e-4)]
)
def test_sgd_equals_torch_sgd_bit_for_bit(lr, momentum, weight_decay):
    ours, theirs = _params(0), _params(0)
    opt_ours = Sgd(ours, lr=lr, momentum=momentum, weight_decay=weight_decay)
    opt_theirs = torch.optim.SGD(theirs, lr=lr, momentum=momentum, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(1)
    for step in range(6):
        grads = [torch.randn(p.shape, generator=g).to(DEVICE) for p in ours]
        for params, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad(set_to_none=True)
            for p, grad in zip(params, grads, strict=True):
                if not (step == 2 and p.ndim == 0):  # a parameter without a gradient this step is left alone
                    p.grad = grad.clone()
            opt.step()
        if step == 3:  # the schedule changes the rate in place, as the zoo's does
            opt_ours.param_groups[0]["lr"] = opt_theirs.param_groups[0]["lr"] = lr * 0.1
        for a, b in zip(ours, theirs, strict=True):
            assert torch.equal(a, b), f"step {step}: parameters differ"
    for a, b in zip(ours, theirs, strict=True):
        buf_a, buf_b = opt_ours.state[a].get("momentum_buffer"), opt_theirs.state[b].get("momentum_buffer")
        assert (buf_a is None) == (buf_b is None) == (momentum == 0)
        if buf_a is not None:
            assert torch.equal(buf_a, buf_b)


def test_zero_grad_and_refusals():
    params = _params(0)
    opt = Sgd(params, lr=0.1, momentum=0.9)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in params)
    opt.zero_grad()
    assert all(p.grad is None for p in params)
    opt.step()  # no gradients: nothing moves, no state
    assert not opt.state
    with pytest.raises(ValueError, match="empty"):
        Sgd([], lr=0.1)
    with pytest.raises(ValueError, match="≥ 0"):
        Sgd(params, lr=-1.0)


def test_an_eager_evaluation_does_not_import_dynamo():
    """The point of the class: an eager training run (what most jobs are) never pays torch._dynamo's import."""
    code = (
        "import sys, torch\n"
        "from ddstudy.evaluate.protocol import EvalConfig, sgd_schedule\n"
        "from ddstudy.models import build_model\n"
        "net = build_model('ConvNetW32', 1, 10, 28, seed=0)\n"
        "for epoch, opt in sgd_schedule(EvalConfig(epochs=2, lr=0.01), list(net.parameters())):\n"
        "    opt.zero_grad(); net(torch.randn(4, 1, 28, 28)).sum().backward(); opt.step()\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
