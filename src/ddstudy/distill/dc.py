"""DC (gradient matching; Zhao, Mopuri & Bilen, ICLR 2021) and DSA (+ Siamese augmentation; Zhao & Bilen, 2021).

One iteration mirrors VICO-UoE/DatasetCondensation ``main.py``: a fresh randomly initialised network; for each
of ``outer_loop`` steps, match per class the gradient of the loss on a real batch and on the class's synthetic
images (Eq. 10: Σ_c D(∇θ L(S_c), ∇θ L(T_c))), update the synthetic images, then (except after the last step) train
the network for ``inner_loop`` epochs on the synthetic set (lr_net, no momentum). BatchNorm statistics are frozen
from a real batch of 16 per class first, as the reference does. For DSA the real and the synthetic batch of a class
get the same augmentation (one seed per iteration, outer step and class), and the inner loop trains with
per-image augmentation.

Fast path (``ctx.accel``): the real-gradient side (a forward and backward over ``batch_real`` images per class, most
of the cost) and the inner loop run through the compiled network; only the synthetic side keeps ``create_graph``
(a double backward, eager). With ``bf16`` both forwards run under autocast; gradients and the matching stay fp32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ddstudy.augment import DEFAULT_STRATEGY, diff_augment
from ddstudy.debias import debias_mode
from ddstudy.distill.loop import DistillContext
from ddstudy.distill.matching import get_loops, match_loss
from ddstudy.distill.settings import BACKWARD, DOUBLE_BACKWARD, MethodSpec, RealBatchConfig
from ddstudy.knobs import knob
from ddstudy.lazy import lazy
from ddstudy.models import has_batchnorm
from ddstudy.sgd import Sgd
from ddstudy.training import train_epoch

torch = lazy("torch")
F = lazy("torch.nn.functional")
nn = lazy("torch.nn")
func = lazy("torch.func")

BN_SAMPLES_PER_CLASS = 16  # reference BNSizePC


@dataclass(frozen=True)
class DCConfig(RealBatchConfig):
    """DC's knobs; defaults of the reference ``main.py`` (ConvNet, 1000 iterations, lr_img 0.1, lr_net 0.01, noise
    init, batch_real = batch_train = 256, distance 'ours', loops from ``get_loops(ipc)``)."""

    METHOD: ClassVar[str] = "dc"
    LOWEST: ClassVar[dict[str, int]] = {**RealBatchConfig.LOWEST, "batch_train": 1, "outer_loop": 1, "inner_loop": 0}

    lr_net: float = knob(0.01, "learning rate of the network in the inner loop")
    batch_train: int = knob(256, "batch of the inner loop's network training")
    dis_metric: str = knob("ours", "gradient distance", ("ours", "mse", "cos"))
    dsa_strategy: str = knob("none", "DSA augmentation of both sides ('none': DC)")
    outer_loop: int | None = knob(None, "outer steps per iteration (unset: the reference table by IPC)")
    inner_loop: int | None = knob(None, "inner-loop epochs per outer step (unset: the reference table by IPC)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.outer_loop is None or self.inner_loop is None:
            get_loops(self.ipc)  # a clear error for an IPC without a table entry

    @property
    def loops(self) -> tuple[int, int]:
        """(outer_loop, inner_loop): explicit values, else the reference table."""
        if self.outer_loop is not None and self.inner_loop is not None:
            return self.outer_loop, self.inner_loop
        return get_loops(self.ipc)

    def to_dict(self) -> dict:
        data = super().to_dict()
        data["outer_loop"], data["inner_loop"] = self.loops
        return data


@dataclass(frozen=True)
class DSAConfig(DCConfig):
    """DSA = DC with the same differentiable Siamese augmentation on the real and synthetic batch of a class."""

    METHOD: ClassVar[str] = "dsa"
    dsa_strategy: str = knob(DEFAULT_STRATEGY, "DSA augmentation of both sides")


def freeze_batchnorm(ctx: DistillContext, net: nn.Module, iteration: int, outer: int) -> None:
    """Set BN running statistics from real data, then keep them fixed (synthetic batches are too small)."""
    g = ctx.generator("bn", iteration, outer)
    real = torch.cat([ctx.pool.sample(c, BN_SAMPLES_PER_CLASS, g) for c in range(ctx.num_classes)])
    net.train()
    with torch.no_grad():
        net(real)
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def class_batches(ctx: DistillContext, iteration: int, outer: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(real batch, synthetic images) of every class for one outer step, with DSA's shared augmentation applied;
    the real batches' training-set indices are kept in ``ctx.real_indices`` (for a debias mode)."""
    config = ctx.config
    batches, ctx.real_indices = [], []
    for c in range(ctx.num_classes):
        real, index = ctx.pool.sample_with_index(c, config.batch_real, ctx.generator("real", iteration, outer, c))
        ctx.real_indices.append(index)
        syn = ctx.images[ctx.class_slice(c)]
        if config.dsa:
            seed = ctx.seed("dsa", iteration, outer, c)
            real = diff_augment(real, config.dsa_strategy, torch.Generator().manual_seed(seed), siamese=True)
            syn = diff_augment(syn, config.dsa_strategy, torch.Generator().manual_seed(seed), siamese=True)
        batches.append((real, syn))
    return batches


def real_gradients(
    ctx: DistillContext, fast: nn.Module, parameters, real: torch.Tensor, c: int, fast_path: bool | None = None
) -> list[list]:
    """The real side's gradient(s) of class ``c``: one list for the class (the reference), or one per term of the
    debias mode (:meth:`ddstudy.debias.DebiasMode.real_terms`: FairDD's per-colour
    ``criterion(output_real[color == col], ...)``, the weighted cross-entropy Σ w CE / Σ w of ``kde``/``oracle``),
    or with ``cobra`` one: the layer-wise mean of the per-group gradients (COBRA ``compute_real_grad_cobra``).

    The reference takes the G group gradients from one forward of the whole batch, each a backward through all of
    it. On the fast paths (``fast_path``; default: not on the oracle) two exact rewrites take the cost down to one
    forward and one backward of the batch, at float-rounding distance (tested; docs/deviations.md C5, F8):
    COBRA's mean of the group gradients is the gradient of the mean group loss (the gradient is linear); FairDD's
    group gradients each come from a forward of the group's own images when no layer mixes the images of a batch
    (no BatchNorm: the papers' ConvNet normalises each image on its own)."""
    target = torch.full((len(real),), c, device=ctx.device)
    debias = debias_mode(ctx.config.debias)
    terms = debias.real_terms(ctx.real_indices[c], ctx.pool.attrs, ctx.pool.weights)
    if terms is None:
        with ctx.accel.autocast(ctx.device):
            loss_real = F.cross_entropy(fast(real), target)
        return [[g.detach() for g in torch.autograd.grad(loss_real, parameters)]]
    fast_path = ctx.fast_paths if fast_path is None else fast_path
    masked = all(term.mask is not None for term in terms)
    if fast_path and masked and not debias.barycenter and images_independent(fast):
        grads = []
        for term in terms:
            with ctx.accel.autocast(ctx.device):
                output = fast(real[term.mask])
            loss_term = term.cross_entropy(output, target, own_images=True)
            grads.append([g.detach() for g in torch.autograd.grad(loss_term, parameters)])
        return debias.real_target(grads)
    with ctx.accel.autocast(ctx.device):
        output = fast(real)
    if fast_path and debias.barycenter:
        mean_loss = sum(term.cross_entropy(output, target) for term in terms) / len(terms)
        return [[g.detach() for g in torch.autograd.grad(mean_loss, parameters)]]
    grads = []
    for k, term in enumerate(terms):
        loss_term = term.cross_entropy(output, target)
        retain = k < len(terms) - 1
        grads.append([g.detach() for g in torch.autograd.grad(loss_term, parameters, retain_graph=retain)])
    return debias.real_target(grads)


def images_independent(net: nn.Module) -> bool:
    """Whether each image's output is independent of the others in its batch (no BatchNorm in training mode)."""
    module = getattr(net, "module", net)  # a compiled view's module
    return not any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in module.modules())


def matching_per_class(ctx: DistillContext, net: nn.Module, fast: nn.Module, batches) -> torch.Tensor:
    """Σ_c D(∇θ L(S_c), ∇θ L(T_c)), one class after another (the reference loop; the oracle); with ``fairdd`` one
    term per attribute group of the class's real batch, against the same synthetic gradient."""
    parameters = list(net.parameters())
    loss = torch.zeros((), device=ctx.device)
    for c, (real, syn) in enumerate(batches):
        target_syn = torch.full((len(syn),), c, device=ctx.device)
        real_grads = real_gradients(ctx, fast, parameters, real, c)
        with ctx.accel.autocast(ctx.device):
            loss_syn = F.cross_entropy(net(syn), target_syn)
        grads_syn = torch.autograd.grad(loss_syn, parameters, create_graph=True)
        for grads_real in real_grads:
            loss = loss + match_loss(grads_syn, grads_real, ctx.config.dis_metric)
    return loss


def matching_batched(ctx: DistillContext, net: nn.Module, batches) -> torch.Tensor:
    """The same sum with the classes batched: per-class parameter gradients of all classes from one vmapped pass
    (``torch.func.vmap(grad(...))``) on each side — one large batch instead of 2 × classes small ones, which a GPU
    needs to be busy. The synthetic side stays differentiable w.r.t. the synthetic images (as ``create_graph``)."""
    params = dict(net.named_parameters())
    buffers = dict(net.named_buffers())
    names = list(params)

    def class_loss(weights, x, y):
        with ctx.accel.autocast(ctx.device):
            return F.cross_entropy(func.functional_call(net, (weights, buffers), (x,)), y)

    per_class = func.vmap(func.grad(class_loss), in_dims=(None, 0, 0))
    targets = torch.arange(ctx.num_classes, device=ctx.device)
    real = torch.stack([r for r, _ in batches])
    syn = torch.stack([s for _, s in batches])
    grads_real = per_class(params, real, targets[:, None].expand(-1, real.shape[1]))
    grads_syn = per_class(params, syn, targets[:, None].expand(-1, syn.shape[1]))
    loss = torch.zeros((), device=ctx.device)
    for c in range(ctx.num_classes):
        real_c = [grads_real[name][c].detach() for name in names]
        loss = loss + match_loss([grads_syn[name][c] for name in names], real_c, ctx.config.dis_metric)
    return loss


class GradientMatching:
    """DC when ``config.dsa_strategy == 'none'``, DSA otherwise.

    ``batched=None``: classes one after another on the oracle path and on the CPU, batched (:func:`matching_batched`)
    on the fast path on GPUs; True/False force it. Both compute the same loss (tests/test_accel.py)."""

    def __init__(self, batched: bool | None = None):
        self.batched = batched

    def step(self, ctx: DistillContext, iteration: int) -> float:
        config = ctx.config
        outer_loop, inner_loop = config.loops
        net = ctx.fresh_network(iteration)
        net.train()
        optimizer_net = Sgd(net.parameters(), lr=config.lr_net)
        fast = ctx.accel.net(net)  # first-order passes: real gradients and the inner loop
        batched = self.batched
        if batched is None:
            batched = ctx.fast_paths and ctx.device.type == "cuda"
        total = 0.0
        for outer in range(outer_loop):
            if has_batchnorm(net):
                freeze_batchnorm(ctx, net, iteration, outer)
            batches = class_batches(ctx, iteration, outer)
            same_sizes = len({len(r) for r, _ in batches}) == 1  # a class smaller than batch_real: per class
            if batched and same_sizes and debias_mode(config.debias).plain:
                loss = matching_batched(ctx, net, batches)
            else:
                loss = matching_per_class(ctx, net, fast, batches)
            loss = ctx.add_extra_loss(loss, iteration)
            ctx.optimizer.zero_grad()
            loss.backward()
            ctx.optimizer.step()
            total += float(loss.detach())
            if outer == outer_loop - 1:
                break
            images, labels = ctx.images.detach().clone(), ctx.labels
            augment = None
            if config.dsa:
                g = ctx.generator("inner-aug", iteration, outer)
                augment = lambda x, g=g: diff_augment(x, config.dsa_strategy, g, siamese=False)  # noqa: E731
            for inner in range(inner_loop):
                order = ctx.generator("inner-order", iteration, outer, inner)
                train_epoch(
                    fast, optimizer_net, images, labels, config.batch_train, order, ctx.device, augment, ctx.accel
                )
        return total / (ctx.num_classes * outer_loop)


def gradient_matching_cost(config: DCConfig, per_class: int, classes: int, forward: float) -> tuple[float, int]:
    """FLOPs of a run (per class a real forward + backward, the synthetic side's double backward; the inner loop's
    training epochs) and its outer steps (each adds an extra loss such as CLoM once)."""
    outer, inner = config.loops
    syn, real = config.ipc, min(config.batch_real, per_class)
    matching = classes * (real * (1 + BACKWARD) + syn * (1 + BACKWARD + DOUBLE_BACKWARD)) * forward
    inner_epochs = (outer - 1) * inner * classes * syn * (1 + BACKWARD) * forward
    return config.iterations * (outer * matching + inner_epochs), config.iterations * outer


DC = MethodSpec(
    "dc", "distils", DCConfig, GradientMatching, "DC", "tab:blue", "o", cost=gradient_matching_cost,
    debias="real batches",
)  # fmt: skip
DSA = MethodSpec(
    "dsa", "distils", DSAConfig, GradientMatching, "DSA", "tab:orange", "^", DEFAULT_STRATEGY,
    cost=gradient_matching_cost, debias="real batches",
)  # fmt: skip
