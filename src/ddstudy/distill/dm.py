"""DM (distribution matching; Zhao & Bilen, WACV 2023, Eq. 4): match the mean embedding of each class.

One iteration mirrors VICO-UoE/DatasetCondensation ``main_DM.py``: a fresh randomly initialised network with
frozen parameters (``debias: cobra`` first trains it on the synthetic set, COBRA's warm-start); for each class,
‖mean ψ(A(T_c)) − mean ψ(A(S_c))‖² with the same DSA transform A on both sides; the per-class losses are summed
and the synthetic images take one SGD step. For BatchNorm networks ('BN'
in the model name) all classes go through the network in one batch, as the reference does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ddstudy.augment import DEFAULT_STRATEGY, diff_augment
from ddstudy.debias import cobra_warmup_epochs, debias_mode
from ddstudy.distill.loop import DistillContext
from ddstudy.distill.settings import BACKWARD, MethodSpec, RealBatchConfig
from ddstudy.errors import DDStudyError
from ddstudy.knobs import knob
from ddstudy.lazy import lazy

torch = lazy("torch")


@dataclass(frozen=True)
class DMConfig(RealBatchConfig):
    """DM's knobs; defaults of the reference ``main_DM.py``: 20,000 iterations, lr_img 1.0, real init, DSA."""

    METHOD: ClassVar[str] = "dm"
    iterations: int = knob(20000, "updates of the synthetic images")
    lr_img: float = knob(1.0, "learning rate of the synthetic images (SGD)")
    init: str = knob("real", "initial synthetic images: Gaussian noise or random real images", ("noise", "real"))
    dsa_strategy: str = knob(DEFAULT_STRATEGY, "DSA augmentation of both sides ('none': off)")
    warmup_epochs: int | None = knob(
        None,
        "debias cobra: epochs the embedding network trains on the current synthetic set before each iteration "
        "(unset: COBRA's 10, 50 at IPC 50, 100 at IPC 100)",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.warmup_epochs is not None:
            if not debias_mode(self.debias).warms_up:
                raise DDStudyError(
                    f"dm: warmup_epochs is read only with debias cobra (here: {self.debias}); drop it or set "
                    "debias: cobra"
                )
            if self.warmup_epochs < 0:
                raise DDStudyError(f"dm: warmup_epochs must be ≥ 0, got {self.warmup_epochs}")

    @property
    def embedding_warmup(self) -> int:
        """Epochs of the embedding network's warm-up per iteration: 0 unless the mode warms up (COBRA)."""
        if not debias_mode(self.debias).warms_up:
            return 0
        return self.warmup_epochs if self.warmup_epochs is not None else cobra_warmup_epochs(self.ipc)

    def to_dict(self) -> dict:
        """The warm-up is recorded (resolved) where it acts; elsewhere it is left out, so the records and resume
        fingerprints of DM without COBRA are what they were before the knob existed."""
        settings = super().to_dict()
        settings.pop("warmup_epochs")
        return settings | ({"warmup_epochs": self.embedding_warmup} if debias_mode(self.debias).warms_up else {})


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
        debias, pool = debias_mode(config.debias), ctx.pool
        debias.warm_up(
            net, ctx.images, ctx.labels, config.embedding_warmup, ctx.seed("warm-up", iteration),
            config.dsa_strategy if config.dsa else "none", ctx.device,
        )  # fmt: skip
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

        def class_term(embed_real: torch.Tensor, mean_syn: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
            """‖stat(ψ(T_c)) − mean ψ(S_c)‖², stat the plain mean, or summed over the debias mode's targets (its
            terms' means, or COBRA's barycenter of them, at COBRA's L1 distance)."""
            terms = debias.real_terms(index, pool.attrs, pool.weights)
            if terms is None:
                return debias.mean_distance(embed_real.mean(0), mean_syn)
            loss = torch.zeros((), device=embed_real.device)
            for target in debias.real_target([term.mean(embed_real) for term in terms]):
                loss = loss + debias.mean_distance(target, mean_syn)
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
    """Per iteration and class: a forward of the real batch, forward + backward of the synthetic images, and with
    COBRA's warm-up ``embedding_warmup`` training passes over the synthetic images first."""
    real = min(config.batch_real, per_class)
    warmup = config.embedding_warmup * config.ipc * (1 + BACKWARD)
    return config.iterations * classes * (real + config.ipc * (1 + BACKWARD) + warmup) * forward, config.iterations


DM = MethodSpec(
    "dm", "distils", DMConfig, DistributionMatching, "DM", "tab:green", "s", DEFAULT_STRATEGY,
    cost=distribution_matching_cost, debias="real batches",
)  # fmt: skip
