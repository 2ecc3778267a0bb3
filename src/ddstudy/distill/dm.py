"""DM (distribution matching; Zhao & Bilen, WACV 2023, Eq. 4): match the mean embedding of each class.

One iteration mirrors VICO-UoE/DatasetCondensation ``main_DM.py``: a fresh randomly initialised network with
frozen parameters; for each class, ‖mean ψ(A(T_c)) − mean ψ(A(S_c))‖² with the same DSA transform A on both
sides; the per-class losses are summed and the synthetic images take one SGD step. For BatchNorm networks ('BN'
in the model name) all classes go through the network in one batch, as the reference does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ddstudy.augment import DEFAULT_STRATEGY, diff_augment
from ddstudy.debias import debias_mode
from ddstudy.distill.loop import DistillContext
from ddstudy.distill.settings import BACKWARD, MethodSpec, RealBatchConfig
from ddstudy.knobs import knob


@dataclass(frozen=True)
class DMConfig(RealBatchConfig):
    """DM's knobs; defaults of the reference ``main_DM.py``: 20,000 iterations, lr_img 1.0, real init, DSA."""

    METHOD: ClassVar[str] = "dm"
    iterations: int = knob(20000, "updates of the synthetic images")
    lr_img: float = knob(1.0, "learning rate of the synthetic images (SGD)")
    init: str = knob("real", "initial synthetic images: Gaussian noise or random real images", ("noise", "real"))
    dsa_strategy: str = knob(DEFAULT_STRATEGY, "DSA augmentation of both sides ('none': off)")


class DistributionMatching:
    """``batched=None`` follows the reference (one pass for all classes only for 'BN' models) on the oracle path;
    the fast path also batches on GPUs, where one large forward beats ten (on 2 CPU cores it does not: see
    docs/performance.md). True/False force it. Without BatchNorm both give the same loss; only speed differs.

    Fast path (``ctx.accel``): the real side — 10 × ``batch_real`` images, nearly all of the cost — is forward-only,
    so it runs through the compiled network without autograd; the synthetic side keeps its graph (eager)."""

    def __init__(self, batched: bool | None = None):
        self.batched = batched

    def step(self, ctx: DistillContext, iteration: int) -> float:
        config = ctx.config
        net = ctx.fresh_network(iteration)
        net.train()
        for parameter in net.parameters():
            parameter.requires_grad_(False)
        fast = ctx.accel.net(net)
        reals, syns, indices = [], [], []
        for c in range(ctx.num_classes):
            real, index = ctx.pool.sample_with_index(c, config.batch_real, ctx.generator("real", iteration, c))
            indices.append(index)
            syn = ctx.images[ctx.class_slice(c)]
            if config.dsa:
                seed = ctx.seed("dsa", iteration, c)
                real = diff_augment(real, config.dsa_strategy, torch.Generator().manual_seed(seed), siamese=True)
                syn = diff_augment(syn, config.dsa_strategy, torch.Generator().manual_seed(seed), siamese=True)
            reals.append(real)
            syns.append(syn)
        loss = torch.zeros((), device=ctx.device)
        batched = self.batched
        if batched is None:
            batched = "BN" in config.model or (ctx.fast_paths and ctx.device.type == "cuda")
        debias, pool = debias_mode(config.debias), ctx.pool

        def class_term(embed_real: torch.Tensor, mean_syn: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
            """‖stat(ψ(T_c)) − mean ψ(S_c)‖², stat the plain mean, or summed over the debias mode's terms."""
            terms = debias.real_terms(index, pool.attrs, pool.weights)
            if terms is None:
                return ((embed_real.mean(0) - mean_syn) ** 2).sum()
            loss = torch.zeros((), device=embed_real.device)
            for term in terms:
                loss = loss + ((term.mean(embed_real) - mean_syn) ** 2).sum()
            return loss

        with ctx.accel.autocast(ctx.device):
            if not batched:
                for real, syn, index in zip(reals, syns, indices, strict=True):
                    with torch.no_grad():
                        embed_real = fast.embed(real).float()
                    loss = loss + class_term(embed_real, net.embed(syn).float().mean(0), index)
            else:
                sizes_real, sizes_syn = [len(r) for r in reals], [len(s) for s in syns]
                with torch.no_grad():
                    embed_real = fast.embed(torch.cat(reals)).float().split(sizes_real)
                embed_syn = net.embed(torch.cat(syns)).float().split(sizes_syn)
                for er, es, index in zip(embed_real, embed_syn, indices, strict=True):
                    loss = loss + class_term(er, es.mean(0), index)
        loss = ctx.add_extra_loss(loss, iteration)
        ctx.optimizer.zero_grad()
        loss.backward()
        ctx.optimizer.step()
        return float(loss.detach()) / ctx.num_classes


def distribution_matching_cost(config: DMConfig, per_class: int, classes: int, forward: float) -> tuple[float, int]:
    """Per iteration and class: a forward of the real batch, forward + backward of the synthetic images."""
    real = min(config.batch_real, per_class)
    return config.iterations * classes * (real + config.ipc * (1 + BACKWARD)) * forward, config.iterations


DM = MethodSpec(
    "dm", "distils", DMConfig, DistributionMatching, "DM", "tab:green", "s", DEFAULT_STRATEGY,
    cost=distribution_matching_cost, debias="real batches",
)  # fmt: skip
