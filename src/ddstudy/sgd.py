"""Stochastic gradient descent with momentum and weight decay — ``torch.optim.SGD``'s update, written out.

Why not ``torch.optim.SGD`` itself: every public method of a torch optimizer is wrapped by
``torch._compile._disable_dynamo``, whose first call imports ``torch._dynamo`` — 2.5 CPU-seconds on this machine,
paid by every eager job (a distillation, an evaluation, a zoo model; the demo runs ~100 of them) although none of
them compiles anything. This class performs the same arithmetic in the same order, so results are bit-identical
(``tests/test_sgd.py`` checks it against ``torch.optim.SGD`` step by step, on CPU and, where present, CUDA):

* CPU: torch's ``_single_tensor_sgd`` — per parameter ``g = grad + wd·p``; ``buf = g`` (a copy) on the first step,
  else ``buf = momentum·buf + g``; ``p -= lr·buf``.
* CUDA (all parameters on it): torch's default ``_multi_tensor_sgd`` — the same steps with ``torch._foreach_*``.

Only what the references use is supported: no dampening, no Nesterov, no maximise. The interface is the part of
``torch.optim.Optimizer`` the project touches: ``param_groups`` (one group; the zoo's schedule writes its ``lr``),
``state[param]["momentum_buffer"]`` (resume checkpoints), ``zero_grad`` and ``step``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from ddstudy.lazy import lazy

torch = lazy("torch")


class Sgd:
    """``torch.optim.SGD(params, lr, momentum, weight_decay)`` with ``dampening=0``, ``nesterov=False``."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        params = list(params)
        if not params:
            raise ValueError("Sgd got an empty parameter list")
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"Sgd: lr {lr}, momentum {momentum}, weight decay {weight_decay} must be ≥ 0")
        self.param_groups = [{"params": params, "lr": lr, "momentum": momentum, "weight_decay": weight_decay}]
        self.state: defaultdict[torch.Tensor, dict] = defaultdict(dict)

    @property
    def params(self) -> list[torch.Tensor]:
        return self.param_groups[0]["params"]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.detach_().requires_grad_(False).zero_()

    def step(self) -> None:
        with torch.no_grad():  # a block, not a decorator: the decorator would import torch with this module
            self._step()

    def _step(self) -> None:
        group = self.param_groups[0]
        lr, momentum, weight_decay = group["lr"], group["momentum"], group["weight_decay"]
        params = [p for p in self.params if p.grad is not None]
        if not params:
            return
        grads = [p.grad for p in params]
        if all(p.device.type == "cuda" for p in params):
            self._step_foreach(params, grads, lr, momentum, weight_decay)
            return
        for p, grad in zip(params, grads, strict=True):
            if weight_decay != 0:
                grad = grad.add(p, alpha=weight_decay)
            if momentum != 0:
                buf = self.state[p].get("momentum_buffer")
                if buf is None:
                    buf = self.state[p]["momentum_buffer"] = grad.detach().clone()
                else:
                    buf.mul_(momentum).add_(grad)
                grad = buf
            p.add_(grad, alpha=-lr)

    def _step_foreach(self, params, grads, lr: float, momentum: float, weight_decay: float) -> None:
        """torch's ``_multi_tensor_sgd`` (its default on CUDA); params of one dtype and device, as ours are."""
        if weight_decay != 0:
            grads = torch._foreach_add(grads, params, alpha=weight_decay)
        if momentum != 0:
            bufs = [self.state[p].get("momentum_buffer") for p in params]
            if any(b is None for b in bufs):
                for i, p in enumerate(params):
                    if bufs[i] is None:
                        bufs[i] = self.state[p]["momentum_buffer"] = grads[i].detach().clone()
                    else:
                        bufs[i].mul_(momentum).add_(grads[i])
            else:
                torch._foreach_mul_(bufs, momentum)
                torch._foreach_add_(bufs, grads, alpha=1.0)
            grads = bufs
        torch._foreach_add_(params, grads, alpha=-lr)
