"""N networks of one architecture trained as one: parameters stacked on a leading axis, one vmapped pass.

The evaluation protocol trains ``num_eval`` (20) fresh networks on the same tiny synthetic set; one after another,
each step is a small batch (IPC × classes images) that leaves a GPU mostly idle. Stacked, the 20 steps are one
(``torch.func.stack_module_state`` + ``functional_call`` + ``vmap``: convolutions become grouped convolutions).
Each network keeps what makes it an independent run: its own initialisation, its own data order and its own
augmentation draws (one generator per network, consumed in the order of the sequential path), and its own loss
(the summed per-network means give each network exactly its own gradient). SGD with momentum and weight decay is
elementwise, so one optimiser over the stacked tensors updates each slice as a separate optimiser would.

Measured: on GPUs the lever (see docs/performance.md); on 2 CPU cores 2.6× *slower* than 20 networks in sequence
(grouped convolutions are slow there) — hence ``vectorize`` is off unless params turn it on. Networks with
BatchNorm are trained in sequence (running statistics under ``vmap`` need per-network buffers updated in place).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from ddstudy.accel import ORACLE, Accel
from ddstudy.lazy import lazy
from ddstudy.sgd import Sgd
from ddstudy.training import Augment, Weigh

torch = lazy("torch")
F = lazy("torch.nn.functional")
nn = lazy("torch.nn")
func = lazy("torch.func")


class StackedNetworks:
    def __init__(self, nets: Sequence[nn.Module]):
        self.count = len(nets)
        self.template = copy.deepcopy(nets[0]).to("meta")
        params, self.buffers = func.stack_module_state(list(nets))
        self.params = {name: value.detach().clone().requires_grad_(True) for name, value in params.items()}

        def forward(params, buffers, x):
            return func.functional_call(self.template, (params, buffers), (x,))

        self._forward = func.vmap(forward)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [N, B, C, H, W] (one batch per network) → logits [N, B, K]."""
        return self._forward(self.params, self.buffers, x)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def train(self, mode: bool = True) -> None:
        self.template.train(mode)

    def network(self, index: int, like: nn.Module) -> nn.Module:
        """Network ``index`` as a module (``like`` receives its weights; it must be of the same architecture)."""
        state = {name: value[index].detach() for name, value in {**self.params, **self.buffers}.items()}
        like.load_state_dict(state)
        return like


def train_epoch_stacked(
    stack: StackedNetworks,
    optimizer: Sgd,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    orders: Sequence[torch.Generator],
    device: torch.device,
    augments: Sequence[Augment] | None = None,
    accel: Accel = ORACLE,
    weigh: Weigh | None = None,
) -> tuple[list[float], list[float]]:
    """:func:`ddstudy.training.train_epoch` for N networks at once: network i draws its order from ``orders[i]``
    and its augmentation from ``augments[i]``; ``weigh``: per-sample loss weights of each network's batch (as the
    sequential path); returns per-network (mean losses, accuracies)."""
    stack.train()
    count, n = stack.count, len(labels)
    permutations = [torch.randperm(n, generator=order) for order in orders]
    total_loss = torch.zeros(count, dtype=torch.float64, device=device)
    total_correct = torch.zeros(count, dtype=torch.int64, device=device)
    for start in range(0, n, batch_size):
        xs, ys, ws = [], [], []
        for i, permutation in enumerate(permutations):
            index = permutation[start : start + batch_size]
            x = images[index.to(images.device)].to(device)
            xs.append(augments[i](x) if augments is not None else x)
            ys.append(labels[index.to(labels.device)].to(device))
            if weigh is not None:
                ws.append(weigh(index).to(device=device, dtype=torch.float32))
        x, y = torch.stack(xs), torch.stack(ys)
        batch = y.shape[1]
        with accel.autocast(device):
            output = stack(x)
            losses = F.cross_entropy(output.flatten(0, 1), y.flatten(), reduction="none").view(count, batch)
            if weigh is None:
                losses = losses.mean(1)
            else:
                w = torch.stack(ws)
                losses = (w * losses).sum(1) / w.sum(1)
        optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        optimizer.step()
        total_loss += losses.detach().double() * batch
        total_correct += (output.detach().argmax(-1) == y).sum(1)
    return (total_loss / n).tolist(), (total_correct.double() / n).tolist()
