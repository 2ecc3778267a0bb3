"""One training engine for the places that train fresh networks on a fixed set: the zoo (PTMs and MTT's experts,
:mod:`ddstudy.zoo.train`) and the evaluation protocol (the reference's ``evaluate_synset``,
:mod:`ddstudy.evaluate.protocol`). A base module: it imports no stage.

Networks of one architecture train either **together** — one vmapped pass for all (:mod:`ddstudy.stacked`, the GPU
lever, ``accel.vectorize``) — or **one after another**. Which one is decided here, once (:func:`together`): only
when asked, for more than one network, and without BatchNorm (running statistics cannot be shared under vmap).
Either way each network keeps what makes it an independent run — its initialisation, data order, augmentation
draws, loss and SGD state — so the results of the two backends agree up to floating-point summation order
(tests/test_accel.py, tests/zoo/test_zoo.py).

A :class:`Trainer` is what the callers see of either backend: the parameters (their optimiser and learning-rate
schedule stay with them — the zoo's MultiStepLR keeps momentum, the evaluation re-creates its optimiser at the
decay, as each reference does), one epoch, each trained network with the view that scores it, and the tensors of a
resume state.
"""

from __future__ import annotations

from collections.abc import Sequence

from ddstudy.accel import Accel
from ddstudy.lazy import lazy
from ddstudy.models import has_batchnorm
from ddstudy.sgd import Sgd
from ddstudy.stacked import StackedNetworks, train_epoch_stacked
from ddstudy.training import Augment, Weigh, train_epoch

torch = lazy("torch")
nn = lazy("torch.nn")


def together(count: int, net: nn.Module, accel: Accel) -> bool:
    """Whether ``count`` networks like ``net`` train as one stacked network (else one after another)."""
    return accel.vectorize and count > 1 and not has_batchnorm(net)


class Trainer:
    """One network (eager or compiled, ``accel``), or several stacked — see :func:`together`."""

    def __init__(self, nets: Sequence[nn.Module], accel: Accel):
        self.nets, self.accel = list(nets), accel
        if len(self.nets) > 1 and not together(len(self.nets), self.nets[0], accel):
            raise ValueError("these networks cannot be stacked; train them one after another")
        self.stack = StackedNetworks(self.nets) if len(self.nets) > 1 else None
        self._fast = accel.net(self.nets[0]) if self.stack is None else None  # one compiled view, reused

    @property
    def count(self) -> int:
        return len(self.nets)

    def parameters(self) -> list[torch.Tensor]:
        return self.stack.parameters() if self.stack is not None else list(self.nets[0].parameters())

    def epoch(
        self,
        optimizer: Sgd,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        orders: Sequence[torch.Generator],
        device: torch.device,
        augments: Sequence[Augment] | None = None,
        weigh: Weigh | None = None,
    ) -> tuple[list[float], list[float]]:
        """One pass over the set for every network (network i in the order of ``orders[i]``, augmented by
        ``augments[i]``); per-network (mean losses, accuracies)."""
        if self.stack is not None:
            return train_epoch_stacked(
                self.stack, optimizer, images, labels, batch_size, orders, device, augments, self.accel, weigh
            )
        augment = augments[0] if augments is not None else None
        loss, acc = train_epoch(
            self._fast, optimizer, images, labels, batch_size, orders[0], device, augment, self.accel, weigh
        )
        return [loss], [acc]

    def network(self, index: int) -> nn.Module:
        """Trained network ``index`` (its own module, for a checkpoint)."""
        return self.stack.network(index, self.nets[index]) if self.stack is not None else self.nets[0]

    def scorer(self, index: int) -> nn.Module:
        """Network ``index`` as it is scored: through the execution path it trained with."""
        return self.accel.net(self.network(index)) if self.stack is not None else self._fast

    def state(self) -> dict[str, torch.Tensor]:
        """The weights a resume state carries (the optimiser's momentum is the caller's)."""
        if self.stack is not None:
            return {f"stack.{k}": v for k, v in self.stack.params.items()}
        return {f"model.{k}": v for k, v in self.nets[0].state_dict().items()}

    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        if self.stack is not None:
            with torch.no_grad():
                for name, value in self.stack.params.items():
                    value.copy_(tensors[f"stack.{name}"])
        else:
            self.nets[0].load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
