"""Gradient-matching distance of DC (Zhao et al., ICLR 2021, Eq. 10) and the outer/inner loop table.

Mirrors ``distance_wb``, ``match_loss`` and ``get_loops`` of VICO-UoE/DatasetCondensation ``utils.py``.
"""

from __future__ import annotations

from ddstudy.errors import DDStudyError
from ddstudy.lazy import lazy

torch = lazy("torch")

# IPC → (outer_loop, inner_loop), the reference's "empirically good" values.
LOOPS: dict[int, tuple[int, int]] = {1: (1, 1), 10: (10, 50), 20: (20, 25), 30: (30, 20), 40: (40, 15), 50: (50, 10)}
# Above IPC 50: FairDD's and COBRA's ``get_loops`` (zqhang/FairDD, mhmoslemi/COBRA ``utils.py``: ``ipc > 50`` →
# (100, 10)), which their IPC-100 DC results use; DatasetCondensation's own table stops at 50.
LOOPS_ABOVE_50 = (100, 10)


def get_loops(ipc: int) -> tuple[int, int]:
    """The reference table (and FairDD/COBRA's rule above IPC 50); any other IPC must set ``outer_loop``/
    ``inner_loop`` explicitly (no ``exit()``)."""
    if ipc > max(LOOPS):
        return LOOPS_ABOVE_50
    try:
        return LOOPS[ipc]
    except KeyError:
        raise DDStudyError(
            f"DC/DSA loop sizes are defined for IPC {sorted(LOOPS)} and above 50 only (reference get_loops); "
            f"set outer_loop and inner_loop for IPC {ipc}"
        ) from None


def layer_distance(grad_real: torch.Tensor, grad_syn: torch.Tensor) -> torch.Tensor:
    """Σ over output channels of (1 − cos) between real and synthetic gradients of one layer ('ours').

    Conv weights are compared per output channel (out × in·h·w), linear weights per output row; 1-d tensors
    (biases, norm parameters) are skipped, exactly as the reference returns 0 for them.
    """
    shape = grad_real.shape
    if len(shape) == 1:
        return torch.zeros((), device=grad_real.device)
    if len(shape) in (3, 4):
        grad_real, grad_syn = grad_real.reshape(shape[0], -1), grad_syn.reshape(shape[0], -1)
    dots = (grad_real * grad_syn).sum(dim=-1)
    norms = grad_real.norm(dim=-1) * grad_syn.norm(dim=-1) + 1e-6
    return (1 - dots / norms).sum()


def _flat(grads: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([g.reshape(-1) for g in grads])


def match_loss(grads_syn: list[torch.Tensor], grads_real: list[torch.Tensor], metric: str = "ours") -> torch.Tensor:
    if metric == "ours":
        return sum((layer_distance(r, s) for r, s in zip(grads_real, grads_syn, strict=True)), torch.zeros(()))
    if metric == "mse":
        return ((_flat(grads_syn) - _flat(grads_real)) ** 2).sum()
    if metric == "cos":
        real, syn = _flat(grads_real), _flat(grads_syn)
        return 1 - (real * syn).sum() / (real.norm() * syn.norm() + 1e-6)
    raise DDStudyError(f"unknown gradient distance '{metric}'; choose ours, mse or cos")
