"""MTT — matching training trajectories (Cazenavette et al., CVPR 2022, "Dataset Distillation by Matching Training
Trajectories"; reference GeorgeCazenavette/mtt-distillation ``distill.py``).

One iteration, as the reference: draw an expert trajectory and a start epoch t < ``max_start_epoch``; start a
student at the expert's parameters θ*_t; take ``syn_steps`` SGD steps on minibatches of the synthetic images
(``batch_syn``, each augmented with DSA, hard labels) with the learnable step size α (``syn_lr``), keeping the graph;
the loss is the normalised parameter distance (paper Eq. 2)

    L = ‖θ̂_{t+N} − θ*_{t+M}‖² / ‖θ*_t − θ*_{t+M}‖²        (N = syn_steps, M = expert_epochs)

(both sums divided by the parameter count first, as the code does). The images take an SGD step (``lr_img``,
momentum 0.5) and α one of its own (``lr_lr``, momentum 0.5). The evaluation trains with the learned α as its
learning rate (``args.lr_net = syn_lr.item()``; :class:`ddstudy.evaluate.protocol.EvalConfig`).

Expert trajectories are the zoo's per-epoch checkpoints of ``expert_zoo``/``model``/init ``first_expert +
k`` — trained with MTT's buffer recipe (``buffer.py``: SGD lr 0.01 without momentum or weight decay, DSA
augmentation, every epoch kept; params ``zoo.models[].train``) — with epoch 0 the network's initial weights,
rebuilt from the init's seed exactly as the zoo built them. Deviations (docs/deviations.md): experts and start
epochs come from a seeded generator per iteration (the reference shuffles its buffer files and cycles); no ZCA
whitening; checkpoints are read from disk per iteration (the reference holds buffer files in memory).

Bias mitigation (``debias``, issue 15): MTT sees real data only through its experts, so a mode acts there — the
experts of ``<arch>/debias-<mode>/`` train with the mode's weighted cross-entropy (:mod:`ddstudy.debias`: FairDD's
equal share per attribute group of each sampled batch, the KDE or the oracle weights) on the same initial weights,
batches and augmentations as the plain experts; the matching itself is unchanged, and the cell keeps the plain
cell's seeds (same expert, start epoch and student batches per iteration). docs/deviations.md F5.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import ClassVar

from ddstudy.augment import DEFAULT_STRATEGY, diff_augment
from ddstudy.distill.loop import DistillContext
from ddstudy.distill.settings import BACKWARD, DistillingConfig, MethodSpec
from ddstudy.errors import DDStudyError
from ddstudy.io import load_tensors, read_json
from ddstudy.knobs import knob
from ddstudy.lazy import lazy
from ddstudy.models import build_model
from ddstudy.sgd import Sgd
from ddstudy.zoo.store import zoo_block

torch = lazy("torch")
F = lazy("torch.nn.functional")
func = lazy("torch.func")

# Per-IPC settings of the paper's hyper-parameter table for CIFAR-10 (the README shows it as an image):
# IPC → (syn_steps, expert_epochs, max_start_epoch, lr_img, lr_lr). Other IPCs: the argparse defaults below.
PER_IPC = {
    1: (50, 2, 2, 1000.0, 1e-07),
    10: (30, 2, 20, 100000.0, 1e-05),
    50: (30, 2, 40, 1000.0, 1e-05),
}
ARGPARSE = (20, 3, 25, 1000.0, 1e-05)
TABLE_KNOBS = ("syn_steps", "expert_epochs", "max_start_epoch", "lr_img", "lr_lr")


@dataclass(frozen=True)
class MTTConfig(DistillingConfig):
    """MTT's knobs: ``distill.py``'s argparse defaults (5000 iterations, noise init, batch_syn = every image, DSA),
    the per-IPC values of the paper's table where unset, 100 experts as ``buffer.py`` trains."""

    METHOD: ClassVar[str] = "mtt"
    LOWEST: ClassVar[dict[str, int]] = {
        **DistillingConfig.LOWEST, "syn_steps": 1, "expert_epochs": 1, "max_start_epoch": 1, "experts": 1,
        "first_expert": 0, "batch_syn": 1,
    }  # fmt: skip

    iterations: int = knob(5000, "updates of the synthetic images")
    lr_img: float | None = knob(None, "learning rate of the synthetic images (unset: the paper's table by IPC)")
    syn_steps: int | None = knob(None, "student steps on the synthetic set per iteration (unset: table by IPC)")
    expert_epochs: int | None = knob(None, "expert epochs the student should cover (unset: table by IPC)")
    max_start_epoch: int | None = knob(None, "start epochs are drawn from 0..this−1 (unset: table by IPC)")
    lr_lr: float | None = knob(None, "learning rate of the learnable step size (unset: table by IPC)")
    lr_teacher: float = knob(0.01, "initial learnable step size (the experts' learning rate)")
    batch_syn: int | None = knob(None, "synthetic images per student step (unset: all of them)")
    dsa_strategy: str = knob(DEFAULT_STRATEGY, "DSA augmentation of each student batch ('none': off)")
    expert_zoo: str = knob("", "zoo dataset of the expert trajectories (empty: the dataset being distilled)")
    experts: int = knob(100, "expert trajectories: zoo inits first_expert … first_expert+experts−1")
    first_expert: int = knob(0, "zoo init index of the first expert")

    def resolved(self, name: str):
        """A table knob's value: explicit, else the paper's table for this IPC, else the argparse default."""
        value = getattr(self, name)
        if value is not None:
            return value
        return PER_IPC.get(self.ipc, ARGPARSE)[TABLE_KNOBS.index(name)]

    @property
    def epochs_needed(self) -> int:
        """The last expert epoch an iteration can read: start ≤ max_start_epoch − 1, target start + expert_epochs."""
        return self.resolved("max_start_epoch") - 1 + self.resolved("expert_epochs")

    def expert_inits(self) -> range:
        return range(self.first_expert, self.first_expert + self.experts)

    @property
    def image_lr(self) -> float:
        return self.resolved("lr_img")

    def to_dict(self) -> dict:
        return super().to_dict() | {name: self.resolved(name) for name in TABLE_KNOBS}


def trajectory_loss(
    forward,
    start: torch.Tensor,
    target: torch.Tensor,
    images: torch.Tensor,
    labels: torch.Tensor,
    syn_lr: torch.Tensor,
    batches: list[torch.Tensor],
    augment=None,
) -> torch.Tensor:
    """MTT's loss for one start point: ``len(batches)`` differentiable SGD steps θ ← θ − α ∇θ CE(forward(θ, x_b), y_b)
    from ``start`` (flat parameters), then ‖θ̂ − target‖² / ‖start − target‖² (each over the parameter count)."""
    params = start.clone().requires_grad_(True)
    current = params
    for step, index in enumerate(batches):
        x = images[index]
        if augment is not None:
            x = augment(x, step)
        loss = F.cross_entropy(forward(current, x), labels[index])
        grad = torch.autograd.grad(loss, current, create_graph=True)[0]
        current = current - syn_lr * grad
    count = start.numel()
    reached = F.mse_loss(current, target, reduction="sum") / count
    span = F.mse_loss(start, target, reduction="sum") / count
    return reached / span


class TrajectoryMatching:
    """The method's state: the learnable step size, its optimiser, and a small cache of expert checkpoints."""

    def __init__(self) -> None:
        self.syn_lr: torch.Tensor | None = None
        self.optimizer_lr: Sgd | None = None
        self._cache: OrderedDict = OrderedDict()

    # -- set-up -----------------------------------------------------------------------------------------------
    def prepare(self, ctx: DistillContext) -> None:
        config: MTTConfig = ctx.config
        self.block = zoo_block(config.expert_zoo or ctx.dataset, config.model, config.debias)
        self.zoo = ctx.zoo_root / self.block
        missing = [
            f"init{i}/epoch{e}"
            for i in config.expert_inits()
            for e in range(1, config.epochs_needed + 1)
            if not (self.zoo / f"init{i}" / f"epoch{e}.json").is_file()
        ]
        if missing:
            last = config.first_expert + config.experts - 1
            raise DDStudyError(
                f"MTT needs expert checkpoints {self.zoo}/{missing[0]} (and {len(missing) - 1} more): train the zoo "
                f"block with MTT's buffer recipe (inits {config.first_expert}..{last}, every epoch up to "
                f"{config.epochs_needed}) or lower experts / max_start_epoch"
                + (f", debias: {config.debias}" if config.debias != "none" else "")
            )
        self.weighting = None
        for i in config.expert_inits():
            recorded = read_json(self.zoo / f"init{i}" / "epoch1.json")
            trained = recorded["config"].get("debias", "none")
            if trained != config.debias:
                raise DDStudyError(
                    f"{self.zoo}/init{i} was trained with debias '{trained}', not '{config.debias}'; retrain the block"
                )
            self.weighting = recorded.get("weighting")
        channels, size = ctx.image_shape[0], ctx.image_shape[1]
        self.template = build_model(config.model, channels, ctx.num_classes, size, seed=0).to(ctx.device)
        self.names = [name for name, _ in self.template.named_parameters()]
        self.shapes = [p.shape for _, p in self.template.named_parameters()]
        self.buffers = dict(self.template.named_buffers())
        self.syn_lr = torch.tensor(config.lr_teacher, device=ctx.device).requires_grad_(True)
        self.optimizer_lr = Sgd([self.syn_lr], lr=config.resolved("lr_lr"), momentum=0.5)

    def _flat(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([tensors[name].reshape(-1) for name in self.names]).to(self.template.parameters().__next__())

    def expert_params(self, ctx: DistillContext, init: int, epoch: int) -> torch.Tensor:
        """Flat parameters of expert ``init`` after ``epoch`` epochs (0: its initial weights, from its seed)."""
        key = (init, epoch)
        if key not in self._cache:
            if epoch == 0:
                from ddstudy.zoo.train import ZooJob  # the zoo's own seed rule (same init → same weights)

                folder = self.zoo / f"init{init}"
                meta = read_json(folder / "epoch1.json")
                channels, size = meta["image_shape"][0], meta["image_shape"][1]
                job = ZooJob(meta["dataset"], meta["arch"], init, meta["seed"])
                net = build_model(meta["arch"], channels, meta["num_classes"], size, job.init_seed)
                tensors = dict(net.named_parameters())
            else:
                folder = self.zoo / f"init{init}"
                meta = read_json(folder / f"epoch{epoch}.json")
                tensors = load_tensors(folder / f"epoch{epoch}.safetensors", meta["weights_sha256"])
            self._cache[key] = self._flat({k: v.detach() for k, v in tensors.items()})
            while len(self._cache) > 8:
                self._cache.popitem(last=False)
        return self._cache[key]

    def forward(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        params, offset = {}, 0
        for name, shape in zip(self.names, self.shapes, strict=True):
            size = shape.numel()
            params[name] = flat[offset : offset + size].view(shape)
            offset += size
        return func.functional_call(self.template, (params, self.buffers), (x,))

    # -- one iteration ----------------------------------------------------------------------------------------
    def step(self, ctx: DistillContext, iteration: int) -> float:
        config: MTTConfig = ctx.config
        draws = ctx.generator("expert", iteration)
        init = config.first_expert + int(torch.randint(config.experts, (1,), generator=draws))
        start_epoch = int(torch.randint(config.resolved("max_start_epoch"), (1,), generator=draws))
        start = self.expert_params(ctx, init, start_epoch)
        target = self.expert_params(ctx, init, start_epoch + config.resolved("expert_epochs"))
        n = len(ctx.images)
        batch_syn = config.batch_syn or n
        order = ctx.generator("student-batches", iteration)
        batches: list[torch.Tensor] = []
        chunks: list[torch.Tensor] = []
        for _ in range(config.resolved("syn_steps")):
            if not chunks:  # the reference pops from the end of a fresh split of a permutation
                chunks = list(torch.split(torch.randperm(n, generator=order), batch_syn))
            batches.append(chunks.pop().to(ctx.device))
        augment = None
        if config.dsa:
            augment = lambda x, step: diff_augment(  # noqa: E731
                x, config.dsa_strategy, ctx.generator("dsa", iteration, step), siamese=False
            )
        self.template.train()
        with ctx.accel.autocast(ctx.device):
            loss = trajectory_loss(self.forward, start, target, ctx.images, ctx.labels, self.syn_lr, batches, augment)
        loss = ctx.add_extra_loss(loss.float(), iteration)
        ctx.optimizer.zero_grad()
        self.optimizer_lr.zero_grad()
        loss.backward()
        ctx.optimizer.step()
        self.optimizer_lr.step()
        return float(loss.detach())

    # -- resume and record ------------------------------------------------------------------------------------
    def state(self, ctx: DistillContext) -> dict[str, torch.Tensor]:
        momentum = self.optimizer_lr.state[self.syn_lr].get("momentum_buffer")
        return {"syn_lr": self.syn_lr.detach().reshape(1)} | (
            {"syn_lr_momentum": momentum.reshape(1)} if momentum is not None else {}
        )

    def load_state(self, ctx: DistillContext, tensors: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            self.syn_lr.copy_(tensors["syn_lr"].reshape(()))
        if "syn_lr_momentum" in tensors:
            self.optimizer_lr.state[self.syn_lr]["momentum_buffer"] = tensors["syn_lr_momentum"].reshape(())

    def meta(self, ctx: DistillContext) -> dict:
        config: MTTConfig = ctx.config
        return {
            "syn_lr": float(self.syn_lr.detach()),
            "experts": f"{self.block}/init{config.first_expert}..{config.first_expert + config.experts - 1}",
        } | ({"experts_weighting": self.weighting} if self.weighting else {})


def trajectory_matching_cost(config: MTTConfig, per_class: int, classes: int, forward: float) -> tuple[float, int]:
    """Per iteration ``syn_steps`` student steps on ``batch_syn`` images, each forward + backward kept for the
    meta-gradient (≈ another backward through the unrolled steps)."""
    batch = config.batch_syn or classes * config.ipc
    return config.iterations * config.resolved("syn_steps") * batch * (1 + 2 * BACKWARD) * forward, config.iterations


MTT = MethodSpec(
    "mtt", "distils", MTTConfig, TrajectoryMatching, "MTT", "tab:red", "X", DEFAULT_STRATEGY,
    eval_lr_from="syn_lr", checkpoint_state=("syn_lr", "syn_lr_momentum"), cost=trajectory_matching_cost,
    uses_zoo=True, debias="experts",
)  # fmt: skip
