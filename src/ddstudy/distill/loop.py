"""The one outer loop every distillation method shares: init, iterate, checkpoint, resume, NaN guard.

A method supplies ``step(ctx, iteration) -> float`` (one update of the synthetic images, returning the matching
loss); the loop owns everything else. Randomness per iteration comes from named seeds
(``derive_seed(seed, cell, purpose, iteration, ...)``), so a run resumed from a checkpoint computes exactly what an
uninterrupted one does: the fresh network of iteration i, its real batches and augmentations do not depend on
how the run got to i.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ddstudy.accel import ORACLE, Accel
from ddstudy.checkpoint import ResumeState
from ddstudy.distill.real import RealPool
from ddstudy.distill.settings import DistillingConfig
from ddstudy.errors import DDStudyError
from ddstudy.lazy import lazy
from ddstudy.models import build_model
from ddstudy.seeding import derive_seed, generator
from ddstudy.sgd import Sgd
from ddstudy.timing import Segments

torch = lazy("torch")
nn = lazy("torch.nn")

log = logging.getLogger(__name__)

# An optional extra loss on the synthetic set (CLoM plugs in here): (images, labels, iteration, ctx) → scalar.
ExtraLoss = Callable[["torch.Tensor", "torch.Tensor", int, "DistillContext"], "torch.Tensor"]


@dataclass
class DistillContext:
    config: DistillingConfig
    cell: str  # canonical cell name, part of every derived seed
    pool: RealPool
    images: torch.Tensor  # synthetic images (leaf, requires grad), [K·ipc, C, H, W]
    labels: torch.Tensor  # [K·ipc], class-major: 0…0, 1…1, …
    optimizer: Sgd
    device: torch.device
    num_classes: int
    image_shape: tuple[int, int, int]
    extra_loss: ExtraLoss | None = None
    extra_log: list[float] = field(default_factory=list)
    accel: Accel = ORACLE  # compiled / bf16 paths for the network passes that allow them
    zoo_root: Path | None = None  # where methods that read zoo checkpoints find them (MTT's experts)
    real_indices: list = field(default_factory=list)  # training-set indices of the step's real batches, per class

    @property
    def dataset(self) -> str:
        """The dataset variant being distilled (the cell name's first part)."""
        return self.cell.split("/")[0]

    @property
    def fast_paths(self) -> bool:
        """Whether a method may take its fast paths (class batching on GPUs): not for the oracle."""
        return not self.accel.oracle

    def seed(self, *words: object) -> int:
        return derive_seed(self.config.seed, self.cell, *words)

    def generator(self, *words: object) -> torch.Generator:
        return generator(self.config.seed, self.cell, *words)

    def fresh_network(self, iteration: int) -> nn.Module:
        """The randomly initialised network of an iteration (the reference draws one per iteration)."""
        channels, size = self.image_shape[0], self.image_shape[1]
        return build_model(self.config.model, channels, self.num_classes, size, self.seed("net", iteration)).to(
            self.device
        )

    def class_slice(self, c: int) -> slice:
        return slice(c * self.config.ipc, (c + 1) * self.config.ipc)

    def add_extra_loss(self, loss: torch.Tensor, iteration: int) -> torch.Tensor:
        if self.extra_loss is None:
            return loss
        extra = self.extra_loss(self.images, self.labels, iteration, self)
        self.extra_log.append(float(extra.detach()))
        return loss + extra


class Method(Protocol):
    """A distilling method's implementation. Besides ``step`` it may define ``prepare(ctx)`` (set up what it needs
    before the first step, e.g. MTT's expert trajectories and learnable step size), ``state(ctx)`` /
    ``load_state(ctx, tensors)`` (the extra tensors its resume state carries) and ``meta(ctx)`` (what the
    synthetic set's meta records, e.g. MTT's learned step size)."""

    def step(self, ctx: DistillContext, iteration: int) -> float: ...


def init_synthetic(config: DistillingConfig, pool: RealPool, shape: tuple[int, int, int], cell: str) -> torch.Tensor:
    """Gaussian noise, or random real images of each class (reference ``--init noise|real``)."""
    n = pool.num_classes * config.ipc
    images = torch.randn((n, *shape), generator=generator(config.seed, cell, "init-noise"))
    if config.init == "real":
        pool.check_ipc(config.ipc)
        for c in range(pool.num_classes):
            chosen = pool.sample(c, config.ipc, generator(config.seed, cell, "init-real", c))
            images[c * config.ipc : (c + 1) * config.ipc] = chosen.cpu()
    return images


def new_context(
    config: DistillingConfig,
    cell: str,
    pool: RealPool,
    shape: tuple[int, int, int],
    device: torch.device,
    extra_loss: ExtraLoss | None = None,
    accel: Accel = ORACLE,
) -> DistillContext:
    """A fresh run's state: initial synthetic images (reference init), their labels and SGD optimiser."""
    labels = torch.arange(pool.num_classes, device=device).repeat_interleave(config.ipc)
    images = init_synthetic(config, pool, shape, cell).to(device).requires_grad_(True)
    optimizer = Sgd([images], lr=config.image_lr, momentum=config.momentum_img)
    return DistillContext(
        config, cell, pool, images, labels, optimizer, device, pool.num_classes, shape, extra_loss, accel=accel
    )


@dataclass
class DistillResult:
    images: torch.Tensor
    labels: torch.Tensor
    iterations_done: int
    loss_curve: list[float]
    extra_curve: list[float]
    resumed_from: int | None
    method_meta: dict = field(default_factory=dict)  # the method's own record (MTT: the learned step size)


def run_distillation(
    method: Method,
    config: DistillingConfig,
    cell: str,
    pool: RealPool,
    shape: tuple[int, int, int],
    device: torch.device,
    checkpoint_dir: Path,
    dataset_sha256: dict,
    extra_loss: ExtraLoss | None = None,
    extra_fingerprint: dict | None = None,
    on_iteration: Callable[[int, float], None] | None = None,
    accel: Accel = ORACLE,
    zoo_root: Path | None = None,
    state_keys: tuple[str, ...] = (),
    segments: Segments | None = None,
    label: str | None = None,
) -> DistillResult:
    """Run ``config.iterations`` updates of the synthetic set, resuming from ``checkpoint_dir`` when it matches.

    ``cell`` names the seeds (a debias or CLoM variant passes its plain cell's: the same networks and batches);
    ``label`` the set in logs and errors (default ``cell``).

    The resume fingerprint holds the device kind and the ``accel`` settings: a checkpoint written by another kind of
    device or another execution path is not continued (the result would not be the uninterrupted run's bytes).
    ``segments``: this job's timing (:mod:`ddstudy.timing`), carried in the resume state (outside its fingerprint:
    a state saved without it still resumes)."""
    ctx = new_context(config, cell, pool, shape, device, extra_loss, accel)
    label = label or cell
    images, optimizer = ctx.images, ctx.optimizer
    ctx.zoo_root = Path(zoo_root) if zoo_root is not None else None
    if hasattr(method, "prepare"):
        method.prepare(ctx)

    resume = ResumeState(
        checkpoint_dir,
        "state",
        {
            "config": config.to_dict(),
            "cell": cell,
            "dataset": dataset_sha256,
            "extra": extra_fingerprint,
            "device_type": device.type,
            "accel": accel.to_dict(),
        },
    )
    segments = segments or Segments("iterations")
    losses: list[float] = []
    start, resumed_from = 0, None
    saved = resume.load()
    if saved is not None:
        state, tensors = saved
        with torch.no_grad():
            images.copy_(tensors["images"].to(device))
        if "momentum" in tensors:
            optimizer.state[images]["momentum_buffer"] = tensors["momentum"].to(device)
        if hasattr(method, "load_state"):
            method.load_state(ctx, {k: v.to(device) for k, v in tensors.items() if k not in ("images", "momentum")})
        losses, ctx.extra_log = state["losses"], state["extra"]
        start = resumed_from = state["iteration"]
        segments.resumed(state.get("segments"), start)
        log.info("%s: resuming at iteration %d/%d", label, start, config.iterations)

    started = time.perf_counter()
    for iteration in range(start, config.iterations):
        loss = method.step(ctx, iteration)
        if not math.isfinite(loss):
            raise DDStudyError(
                f"{label}: the matching loss became {loss} at iteration {iteration}; lower lr_img or check the data"
            )
        losses.append(loss)
        done = iteration + 1
        if done % config.checkpoint_every == 0 or done == config.iterations:
            momentum = optimizer.state[images].get("momentum_buffer")
            tensors = {"images": images.detach()} | ({"momentum": momentum} if momentum is not None else {})
            if hasattr(method, "state"):
                extra = method.state(ctx)
                undeclared = sorted(set(extra) - set(state_keys))
                if undeclared:  # the registry entry says what a checkpoint of the method holds
                    raise DDStudyError(f"{label}: the method's resume state has undeclared tensors {undeclared}")
                tensors |= extra
            resume.save(tensors, iteration=done, losses=losses, extra=ctx.extra_log, segments=segments.upto(done))
        if on_iteration:
            on_iteration(iteration, loss)
        if done % max(1, config.iterations // 20) == 0 or done == config.iterations:
            elapsed = time.perf_counter() - started
            rate = (done - start) / elapsed if elapsed else 0.0
            log.info(
                "%s: iteration %d/%d loss %.4f (%.2f it/s, ETA %.0f s)",
                label,
                done,
                config.iterations,
                loss,
                rate,
                (config.iterations - done) / rate if rate else 0.0,
            )
    return DistillResult(
        images.detach().cpu(),
        ctx.labels.cpu(),
        config.iterations,
        losses,
        ctx.extra_log,
        resumed_from,
        method.meta(ctx) if hasattr(method, "meta") else {},
    )
