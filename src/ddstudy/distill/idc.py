"""IDC (Kim et al., ICML 2022, *Dataset Condensation via Efficient Synthetic-Data Parameterization*).

Mirrors snu-mllab/Efficient-Dataset-Condensation ``condense.py`` (``Synthesizer``, ``matchloss``, ``condense``) with
its ``--reproduce`` settings for CIFAR-10 (``misc/reproduce.py``) as defaults:

* **multi-formation** — each stored image holds ``factor²`` training images: ``decode_zoom`` cuts it into a
  ``factor × factor`` grid of crops and upsamples each (bilinear) to the full size. The stored tensor is the
  condensed one (``ipc`` per class); training and evaluation see the decoded ``ipc · factor²`` per class.
  Initialisation ``mix``: the ``factor²`` crops of a stored image are real images of the class, downsampled
  (``F.interpolate``, nearest) into the tiles.
* **one outer iteration** — a fresh network (``fix_iter`` 1); ``inner_loop`` times: for every class a real batch
  (``batch_real``) and the class's decoded synthetic images (at most ``batch_syn_max``) are augmented together with
  one draw (``DiffAug(batch=True)``: flip, colour, one of the rest, cutout), the layer-wise distance of their
  gradients (convolution weights only unless ``match_bias`` / ``match_fc``; ``metric``) is minimised by one SGD
  step of the stored images; then the network trains on ``n_data`` real images (batches of ``batch_real``,
  per-image augmentation without cutout, CutMix with probability ``mix_p``; SGD ``lr_net``/0.9/5e-4).
* **pixel space** — the reference keeps the images in [0, 1], normalises inside the augmentation and clamps to
  [0, 1] at each outer iteration; its image learning rate is ``lr_img · ipc/10 · (size/32)²`` (``tune_lr_img``).
  Our synthetic sets live in the normalised space of the variant: the same SGD is taken there by scaling each
  channel's gradient by 1/σ_c² (the update of ``x_n = (x − μ)/σ`` is then exactly the pixel-space update over σ),
  and the clamp is to ((0 − μ)/σ, (1 − μ)/σ).

Debias (``fairdd``, ``kde``, ``oracle``, ``cobra``; FairDD's and COBRA's code both have IDC variants) acts on the
real side of each class's match as in DC (:func:`ddstudy.distill.dc.real_gradients`). CLoM is refused by
declaration: its loss is defined on the stored set once per outer step, IDC steps per class on decoded images.
Deviations: docs/deviations.md (I1–I5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ddstudy.augment import AUGMENT_FAMILIES, DEFAULT_STRATEGY, DSAParams, check_strategy
from ddstudy.distill.dc import real_gradients
from ddstudy.distill.loop import DistillContext
from ddstudy.distill.settings import BACKWARD, DOUBLE_BACKWARD, MethodSpec, RealBatchConfig
from ddstudy.errors import DDStudyError
from ddstudy.knobs import knob
from ddstudy.lazy import lazy
from ddstudy.sgd import Sgd

torch = lazy("torch")
F = lazy("torch.nn.functional")


@dataclass(frozen=True)
class IDCConfig(RealBatchConfig):
    """IDC's knobs: the reference's ``--reproduce`` settings for CIFAR-10 (Fashion-MNIST/MNIST there: metric l1,
    lr_img 1e-4, n_data 500 — set them in params)."""

    METHOD: ClassVar[str] = "idc"
    LOWEST: ClassVar[dict[str, int]] = {
        **RealBatchConfig.LOWEST, "factor": 1, "inner_loop": 1, "batch_syn_max": 1, "n_data": 0, "net_epoch": 0,
    }  # fmt: skip

    iterations: int = knob(2000, "outer iterations, each with a fresh network (reference niter·100 // inner_loop)")
    lr_img: float = knob(5e-3, "stored images' learning rate in pixel units, × ipc/10 · (size/32)² (tune_lr_img)")
    init: str = knob("mix", "initial stored images: noise, real, or mix (real images in the factor² tiles)",
                     ("noise", "real", "mix"))  # fmt: skip
    batch_real: int = knob(64, "real images per class per match, and the network update's batch")
    factor: int = knob(2, "multi-formation factor: factor² images decoded from each stored one (1: IDC-I)")
    inner_loop: int = knob(100, "matching steps per network (every class, then the network's update)")
    metric: str = knob("mse", "layer-wise gradient distance", ("mse", "l1", "l1_mean", "cos"))
    match_bias: bool = knob(False, "also match the gradients of biases and normalisation layers")
    match_fc: bool = knob(False, "also match the gradient of the linear classifier")
    batch_syn_max: int = knob(128, "decoded synthetic images per class per match (a random subset above)")
    augment: str = knob("color_crop_cutout", "matching augmentation, one draw for the real and synthetic batch")
    n_data: int = knob(2000, "real images the network trains on after each matching step")
    net_epoch: int = knob(1, "such network updates after each matching step")
    lr_net: float = knob(0.01, "network learning rate (SGD, momentum 0.9, weight decay 5e-4)")
    mixup_net: str = knob("cut", "CutMix in the network update (cutout left out of its augmentation)",
                          ("cut", "vanilla"))  # fmt: skip
    mix_p: float = knob(0.5, "probability of CutMix per batch", minimum=0.0, maximum=1.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_strategy(self.augment)

    def tuned_lr(self, image_size: int) -> float:
        """``tune_lr_img``: the base rate × ipc/10 × (size/32)² (the reference's base size is 32, 28 for MNIST)."""
        return self.lr_img * (self.ipc / 10) * (image_size / 32) ** 2


NET_MOMENTUM, NET_WEIGHT_DECAY = 0.9, 5e-4  # reference argparse --momentum, --weight-decay


def decode_zoom(images: torch.Tensor, factor: int, pad_value: torch.Tensor | float = 0.5) -> torch.Tensor:
    """``Synthesizer.decode_zoom``: [N,C,H,W] → [factor²·N,C,H,W], crop (i, j) of every image in the order
    (i, j) = (0, 0), (0, 1), …, each upsampled bilinearly (``align_corners=False``) to H×W. An image whose side
    is not divisible by ``factor`` is padded at the bottom/right with ``pad_value`` first (0.5 in pixel units)."""
    if factor <= 1:
        return images
    size = images.shape[-1]
    remained = size % factor
    if remained:
        pad = factor - remained
        padded = torch.empty((*images.shape[:2], size + pad, size + pad), dtype=images.dtype, device=images.device)
        padded[...] = torch.as_tensor(pad_value, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
        padded[..., :size, :size] = images
        images = padded
    crop = math.ceil(size / factor)
    tiles = [
        images[:, :, i * crop : (i + 1) * crop, j * crop : (j + 1) * crop] for i in range(factor) for j in range(factor)
    ]
    return F.interpolate(torch.cat(tiles), size=(size, size), mode="bilinear", align_corners=False)


def decode_set(images: torch.Tensor, labels: torch.Tensor, config: dict, normalization: dict | None = None):
    """The training images of a stored IDC set (the evaluation decodes with this): per class, its stored images
    decoded (``Synthesizer.loader``), labels repeated. ``normalization``: the set's, for the pad value 0.5."""
    factor = int(config.get("factor", 1))
    if factor <= 1 or len(images) == 0:
        return images, labels
    pad = _pixel_to_normalised(0.5, normalization, images.shape[1])
    decoded, targets = [], []
    for c in torch.unique(labels, sorted=True):
        own = images[labels == c]
        decoded.append(decode_zoom(own, factor, pad))
        targets.append(torch.full((len(own) * factor**2,), int(c), dtype=labels.dtype))
    return torch.cat(decoded), torch.cat(targets)


def _pixel_to_normalised(value: float, normalization: dict | None, channels: int) -> torch.Tensor:
    if not normalization:
        return torch.full((channels,), value)
    mean, std = torch.tensor(normalization["mean"]), torch.tensor(normalization["std"])
    return (value - mean) / std


def idc_augment(x: torch.Tensor, strategy: str, generator: torch.Generator, siamese: bool) -> torch.Tensor:
    """``DiffAug``: flip (if listed) and colour always, one of the other listed families, cutout (if listed) last;
    ``siamese``: one draw for the whole batch (``batch=True``), else one per image."""
    if check_strategy(strategy) == "none":
        return x
    families = strategy.split("_")
    rest = [f for f in families if f not in ("flip", "color", "cutout")]
    chosen = [f for f in ("flip", "color") if f in families]
    if rest:
        chosen.append(rest[int(torch.randint(0, len(rest), (1,), generator=generator))])
    if "cutout" in families:
        chosen.append("cutout")
    params = DSAParams()
    for family in chosen:
        for transform in AUGMENT_FAMILIES[family]:
            x = transform(x, params, generator, siamese)
    return x.contiguous()


def gradient_distance(grads_syn, grads_real, config: IDCConfig) -> torch.Tensor:
    """``matchloss`` (grad): Σ over matched layers of ``dist(g_real, g_syn, metric)``; 1-d gradients (biases,
    normalisation) only with ``match_bias``, 2-d (the classifier) only with ``match_fc``."""
    total = None
    for g_syn, g_real in zip(grads_syn, grads_real, strict=True):
        if g_real.dim() == 1 and not config.match_bias or g_real.dim() == 2 and not config.match_fc:
            continue
        if config.metric == "mse":
            d = (g_real - g_syn).pow(2).sum()
        elif config.metric == "l1":
            d = (g_real - g_syn).abs().sum()
        elif config.metric == "l1_mean":
            d = (g_real - g_syn).abs().reshape(len(g_real), -1).mean(-1).sum()
        else:  # cos
            a, b = g_real.reshape(len(g_real), -1), g_syn.reshape(len(g_syn), -1)
            d = torch.sum(1 - torch.sum(a * b, dim=-1) / (a.norm(dim=-1) * b.norm(dim=-1) + 1e-6))
        total = d if total is None else total + d
    if total is None:
        raise DDStudyError("idc: no layer left to match; the network has no convolution (set match_fc)")
    return total


def cutmix(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
    """``rand_bbox`` + ``random_indices``: a box of area share 1 − λ (λ ~ Beta(1, 1) = U(0, 1)) pasted from a
    shuffled batch; returns (mixed images, y, y of the pasted images, the unpasted share)."""
    lam = float(torch.rand((), generator=generator))
    index = torch.randperm(len(y), generator=generator).to(y.device)
    width, height = x.shape[2], x.shape[3]
    cut = math.sqrt(1.0 - lam)
    cut_w, cut_h = int(width * cut), int(height * cut)
    cx = int(torch.randint(width, (), generator=generator))
    cy = int(torch.randint(height, (), generator=generator))
    x1, x2 = min(max(cx - cut_w // 2, 0), width), min(max(cx + cut_w // 2, 0), width)
    y1, y2 = min(max(cy - cut_h // 2, 0), height), min(max(cy + cut_h // 2, 0), height)
    x = x.clone()
    x[:, :, x1:x2, y1:y2] = x[index, :, x1:x2, y1:y2]
    kept = 1 - ((x2 - x1) * (y2 - y1) / (width * height))
    return x, y, y[index], kept


class Idc:
    """The IDC loop through the shared outer loop: one ``step`` is one reference outer iteration."""

    def prepare(self, ctx: DistillContext) -> None:
        config: IDCConfig = ctx.config
        normalization = ctx.pool.normalization
        if normalization is None:
            raise DDStudyError("idc needs the variant's normalisation on the real pool (pixel-space clamp and lr)")
        size = ctx.image_shape[-1]
        mean = torch.tensor(normalization.mean, device=ctx.device).view(1, -1, 1, 1)
        std = torch.tensor(normalization.std, device=ctx.device).view(1, -1, 1, 1)
        self.low, self.high = (0 - mean) / std, (1 - mean) / std
        self.pad = ((0.5 - mean) / std).flatten()
        ctx.optimizer.param_groups[0]["lr"] = config.tuned_lr(size)
        inverse_variance = 1.0 / std.pow(2)
        ctx.images.register_hook(lambda g: g * inverse_variance)  # pixel-space SGD in normalised units
        with torch.no_grad():
            if config.init == "noise":  # Synthesizer: clamp(randn / 4 + 0.5, 0, 1) in pixels
                noise = torch.randn(ctx.images.shape, generator=ctx.generator("idc-init")).to(ctx.device)
                ctx.images.copy_(((noise / 4 + 0.5).clamp(0, 1) - mean) / std)
            elif config.init == "mix":
                ctx.images.copy_(self._mixed(ctx, config, size))
            # "real": the shared loop's real-image init (the reference's 'random')

    def _mixed(self, ctx: DistillContext, config: IDCConfig, size: int) -> torch.Tensor:
        """``Synthesizer.init('mix')``: per class ipc·factor² real images, the k-th ipc of them downsampled
        (nearest) into tile k of the stored images (tiles of s+1 rows/columns first when size % factor ≠ 0)."""
        images = ctx.images.detach().clone()
        s, remained, n = size // config.factor, size % config.factor, config.ipc
        for c in range(ctx.num_classes):
            real = ctx.pool.sample(c, n * config.factor**2, ctx.generator("idc-init-mix", c))
            if len(real) < n * config.factor**2:
                raise DDStudyError(f"idc init mix needs {n * config.factor**2} images of class {c}; lower ipc")
            k, h_loc = 0, 0
            for i in range(config.factor):
                h = s + 1 if i < remained else s
                w_loc = 0
                for j in range(config.factor):
                    w = s + 1 if j < remained else s
                    part = F.interpolate(real[k * n : (k + 1) * n], size=(h, w))
                    images[n * c : n * (c + 1), :, h_loc : h_loc + h, w_loc : w_loc + w] = part
                    w_loc, k = w_loc + w, k + 1
                h_loc += h
        return images

    def step(self, ctx: DistillContext, iteration: int) -> float:
        config: IDCConfig = ctx.config
        net = ctx.fresh_network(iteration)
        net.train()
        optimizer_net = Sgd(net.parameters(), lr=config.lr_net, momentum=NET_MOMENTUM, weight_decay=NET_WEIGHT_DECAY)
        fast = ctx.accel.net(net)
        parameters = list(net.parameters())
        with torch.no_grad():
            ctx.images.copy_(torch.maximum(torch.minimum(ctx.images, self.high), self.low))
        total = 0.0
        for inner in range(config.inner_loop):
            ctx.real_indices = [None] * ctx.num_classes
            for c in range(ctx.num_classes):
                loss = self._class_loss(ctx, config, net, fast, parameters, iteration, inner, c)
                ctx.optimizer.zero_grad()
                loss.backward()
                ctx.optimizer.step()
                total += float(loss.detach())
            for epoch in range(config.net_epoch):
                self._train_network(ctx, config, fast, optimizer_net, iteration, inner, epoch)
        return total / (ctx.num_classes * config.inner_loop)

    def _class_loss(self, ctx, config: IDCConfig, net, fast, parameters, iteration, inner, c) -> torch.Tensor:
        real, index = ctx.pool.sample_with_index(c, config.batch_real, ctx.generator("real", iteration, inner, c))
        ctx.real_indices[c] = index
        syn = decode_zoom(ctx.images[ctx.class_slice(c)], config.factor, self.pad)
        if len(syn) > config.batch_syn_max:  # Synthesizer.subsample
            keep = torch.randperm(len(syn), generator=ctx.generator("syn-subsample", iteration, inner, c))
            syn = syn[keep[: config.batch_syn_max].to(syn.device)]
        both = idc_augment(
            torch.cat([real, syn]), config.augment, ctx.generator("aug", iteration, inner, c), siamese=True
        )
        real, syn = both[: len(real)], both[len(real) :]
        grads_real = real_gradients(ctx, fast, parameters, real, c)
        target = torch.full((len(syn),), c, device=ctx.device)
        with ctx.accel.autocast(ctx.device):
            loss_syn = F.cross_entropy(net(syn), target)
        grads_syn = torch.autograd.grad(loss_syn, parameters, create_graph=True)
        loss = gradient_distance(grads_syn, grads_real[0], config)
        for more in grads_real[1:]:  # FairDD: one term per group of the class's real batch
            loss = loss + gradient_distance(grads_syn, more, config)
        return loss

    def _train_network(self, ctx, config: IDCConfig, fast, optimizer, iteration, inner, epoch) -> None:
        """``train_epoch(..., n_data=n_data, aug=aug_rand, mixup=mixup_net)`` on real batches of ``batch_real``
        drawn from the whole training set until ``n_data`` images were seen."""
        if config.n_data <= 0:
            return
        g = ctx.generator("net-update", iteration, inner, epoch)
        strategy = config.augment
        if config.mixup_net == "cut":  # remove_aug(aug_type, 'cutout')
            strategy = "_".join(f for f in strategy.split("_") if f != "cutout") or "none"
        order = torch.randperm(len(ctx.pool.labels), generator=g)
        seen = 0
        fast.train()
        for start in range(0, len(order), config.batch_real):
            index = order[start : start + config.batch_real].to(ctx.pool.images.device)
            x, y = ctx.pool.images[index], ctx.pool.labels[index]
            with torch.no_grad():
                x = idc_augment(x, strategy, g, siamese=False)
            mixed = config.mixup_net == "cut" and float(torch.rand((), generator=g)) < config.mix_p
            with ctx.accel.autocast(ctx.device):
                if mixed:
                    x, y_a, y_b, kept = cutmix(x, y, g)
                    output = fast(x)
                    loss = F.cross_entropy(output, y_a) * kept + F.cross_entropy(output, y_b) * (1.0 - kept)
                else:
                    loss = F.cross_entropy(fast(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += len(y)
            if seen >= config.n_data:
                break

    def meta(self, ctx: DistillContext) -> dict:
        config: IDCConfig = ctx.config
        return {
            "decoded_per_class": config.ipc * config.factor**2,
            "lr_img_tuned": ctx.optimizer.param_groups[0]["lr"],
        }


def idc_cost(config: IDCConfig, per_class: int, classes: int, forward: float) -> tuple[float, int]:
    """FLOPs: per matching step and class a real forward + backward and the decoded synthetic side's double
    backward; after each step the network's update on ``n_data`` real images."""
    decoded = min(config.ipc * config.factor**2, config.batch_syn_max)
    real = min(config.batch_real, per_class)
    matching = classes * (real * (1 + BACKWARD) + decoded * (1 + BACKWARD + DOUBLE_BACKWARD)) * forward
    network = config.net_epoch * config.n_data * (1 + BACKWARD) * forward
    return config.iterations * config.inner_loop * (matching + network), config.iterations


# Evaluation with DSA augmentation, as the reference's test.py trains on the decoded set (args.dsa).
IDC = MethodSpec(
    "idc", "distils", IDCConfig, Idc, "IDC", "tab:cyan", "h", DEFAULT_STRATEGY, cost=idc_cost,
    debias="real batches", takes_clom=False, decode=decode_set,
)  # fmt: skip
