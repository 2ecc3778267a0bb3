"""CLoM — Contrastive Loss of pre-trained Models (Lu et al., arXiv 2310.03295; "Dataset Distillation with
Pre-trained Models: A Contrastive Approach"), pluggable into every distillation method.

    L_CLoM = Σ_B (Σ_ij D ⊙ M) / (Σ_ij D),   M = onehot(y_real) · onehot(y_syn)ᵀ          (paper, Eq. 1)

Mirrors yaolu-zjut/DDInterpreter ``utils_clom/CLoM.py`` and where it is called (after ``match_loss`` in each outer
step of DC/DSA, after the mean-embedding loss of DM):

* every call samples one architecture of the pool and one of its PTMs (``random.sample`` / ``randint`` in the
  reference; a seeded generator here) and returns α_arch · loss;
* ``ce`` (in-domain PTMs, same label space): the reference computes α · CE(PTM(x_syn), y_syn) on the whole
  synthetic set — the default. ``ce_form: paper`` uses the paper's formula instead, with D[i,j] = −log p(y_i | x_syn_j)
  over a real batch (docs/deviations.md, C1);
* ``cos`` (out-of-domain PTMs or any embedding model): D[i,j] = 1 − cos(F(x_real_i), F(x_syn_j)) with F = ``embed``
  over a random real batch of ``batch_size`` (drawn with replacement, as the reference) against all synthetic
  images; α · Σ(M ⊙ D) / Σ(D).

PTMs are frozen (no gradient reaches them), run in eval mode, and work on CPU and CUDA (the reference hard-codes
``.cuda()``). With α = 0 the loss is not even computed, so the result equals the method without CLoM bit for bit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ddstudy.accel import ORACLE, Accel
from ddstudy.errors import DDStudyError
from ddstudy.knobs import check_ranges, knob
from ddstudy.lazy import lazy
from ddstudy.models import check_model_name
from ddstudy.zoo.store import load_ptm

torch = lazy("torch")
F = lazy("torch.nn.functional")
nn = lazy("torch.nn")

DISTANCES = ("ce", "cos")


@dataclass(frozen=True)
class ClomConfig:
    """Which PTMs guide the distillation, and how strongly (one α for all archs, or one per arch)."""

    distance: str = knob("ce", "ce: in-domain PTMs (same labels); cos: out-of-domain / embeddings", DISTANCES)
    zoo_source: str = knob("", "dataset variant the PTMs were trained on (the domain)")
    archs: tuple[str, ...] = knob(("ConvNet",), "architecture pool (reference ConvNet)")
    inits: int = knob(1, "PTMs per architecture: init indices 0..inits-1 (reference 1)")
    epoch: int = knob(150, "training epoch of the checkpoints (reference 150)")
    alphas: tuple[float, ...] = knob((1000.0,), "one α ≥ 0, or one per architecture", minimum=0)
    batch_size: int = knob(8196, "real batch of the cos distance (reference README examples)")
    samples_per_step: int = knob(1, "PTMs sampled per call (reference 1: one forward of one PTM per step)")
    ce_form: str = knob("reference", "reference: α·CE(PTM(x_syn), y_syn); paper: Eq. 1", ("reference", "paper"))
    renormalize: bool = knob(False, "feed PTMs their own input normalisation (reference: off)")

    def __post_init__(self) -> None:
        check_ranges(self, "CLoM: ")
        if self.distance not in DISTANCES:
            raise DDStudyError(f"unknown CLoM distance '{self.distance}'; choose ce (in-domain) or cos (out-of-domain)")
        if not self.archs:
            raise DDStudyError("the CLoM model pool is empty; list at least one architecture")
        for arch in self.archs:
            check_model_name(arch)
        if len(self.alphas) not in (1, len(self.archs)):
            raise DDStudyError(
                f"CLoM needs one α or one per architecture: got {len(self.alphas)} α for {len(self.archs)} archs"
            )
        if self.inits < 1 or self.epoch < 1 or self.batch_size < 1 or self.samples_per_step < 1:
            raise DDStudyError("CLoM inits, epoch, batch_size and samples_per_step must be ≥ 1")
        if self.ce_form not in ("reference", "paper"):
            raise DDStudyError(f"ce_form must be 'reference' or 'paper', got '{self.ce_form}'")
        if not self.zoo_source:
            raise DDStudyError("CLoM needs zoo_source: the dataset variant its PTMs were trained on")

    def alpha(self, arch: str) -> float:
        return self.alphas[0] if len(self.alphas) == 1 else self.alphas[self.archs.index(arch)]

    @property
    def active(self) -> bool:
        return any(a != 0 for a in self.alphas)

    def slug(self) -> str:
        """Canonical suffix of a CLoM cell name."""
        alphas = "-".join(f"{a:g}" for a in self.alphas)
        extra = "" if self.ce_form == "reference" or self.distance != "ce" else "-paper"
        return (
            f"clom-{self.distance}{extra}-{self.zoo_source}-{'+'.join(self.archs)}-i{self.inits}-e{self.epoch}"
            f"-a{alphas}"
        )

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LoadedPTM:
    arch: str
    init: int
    model: nn.Module
    normalization: tuple[torch.Tensor, torch.Tensor]  # the PTM's own (mean, std), shaped [1, C, 1, 1]


class Clom:
    """The CLoM loss for one distillation run (callable as the loop's ``extra_loss``) over a pool of loaded PTMs
    (``pool[arch][init]``); :meth:`from_zoo` loads the pool a config names from the zoo."""

    def __init__(
        self,
        config: ClomConfig,
        pool: dict[str, list[LoadedPTM]],
        num_classes: int,
        target_normalization: tuple[torch.Tensor, torch.Tensor],
        accel: Accel = ORACLE,
    ):
        self.config = config
        self.num_classes = num_classes
        self.target = target_normalization  # (mean, std) of the distilled dataset, shaped [1, C, 1, 1]
        self.accel = accel
        # PTMs are frozen: their passes are first-order (gradients reach the synthetic images only), so the compiled
        # view serves them on the fast path.
        self.pool = {
            arch: [LoadedPTM(p.arch, p.init, accel.net(p.model), p.normalization) for p in ptms]
            for arch, ptms in pool.items()
        }
        self._iteration, self._calls = -1, 0

    @classmethod
    def from_zoo(
        cls,
        config: ClomConfig,
        zoo_root: str | Path,
        num_classes: int,
        image_shape: tuple[int, int, int],
        target_normalization,
        device: torch.device,
        accel: Accel = ORACLE,
    ) -> Clom:
        def as_tensors(normalization) -> tuple[torch.Tensor, torch.Tensor]:
            return (
                torch.tensor(normalization["mean"], device=device).view(1, -1, 1, 1),
                torch.tensor(normalization["std"], device=device).view(1, -1, 1, 1),
            )

        pool: dict[str, list[LoadedPTM]] = {}
        for arch in config.archs:
            pool[arch] = []
            for init in range(config.inits):
                model, meta = load_ptm(zoo_root, config.zoo_source, arch, init, config.epoch, device)
                if list(meta["image_shape"]) != list(image_shape):
                    raise DDStudyError(
                        f"PTM {config.zoo_source}/{arch}/init{init} takes images {meta['image_shape']}, the distilled "
                        f"dataset has {list(image_shape)}; choose a zoo source of the same shape"
                    )
                if config.distance == "ce" and meta["num_classes"] != num_classes:
                    raise DDStudyError(
                        f"CLoM ce needs PTMs with the dataset's label space: {config.zoo_source} has "
                        f"{meta['num_classes']} classes, the dataset {num_classes}; use distance cos for "
                        "out-of-domain PTMs"
                    )
                pool[arch].append(LoadedPTM(arch, init, model, as_tensors(meta["normalization"])))
        return cls(config, pool, num_classes, as_tensors(target_normalization.to_dict()), accel)

    def _inputs(self, ptm: LoadedPTM, images: torch.Tensor) -> torch.Tensor:
        if not self.config.renormalize:
            return images  # reference: images in the distilled dataset's normalisation
        pixels = images * self.target[1] + self.target[0]
        return (pixels - ptm.normalization[0]) / ptm.normalization[1]

    def sample(self, generator: torch.Generator) -> LoadedPTM:
        arch = self.config.archs[int(torch.randint(len(self.config.archs), (1,), generator=generator))]
        return self.pool[arch][int(torch.randint(self.config.inits, (1,), generator=generator))]

    def loss_with(
        self, ptm: LoadedPTM, images: torch.Tensor, labels: torch.Tensor, real: tuple[torch.Tensor, torch.Tensor] | None
    ) -> torch.Tensor:
        """α_arch · CLoM of one PTM (``real`` = (images, labels) for cos and the paper's CE form)."""
        alpha = self.config.alpha(ptm.arch)
        syn_onehot = F.one_hot(labels, self.num_classes).float()
        if self.config.distance == "ce" and self.config.ce_form == "reference":
            with self.accel.autocast(images.device):
                logits = ptm.model(self._inputs(ptm, images)).float()
            return alpha * F.cross_entropy(logits, labels)
        real_images, real_labels = real
        mask = F.one_hot(real_labels, self.num_classes).float() @ syn_onehot.t()  # M[i, j] = [y_real_i == y_syn_j]
        if self.config.distance == "ce":  # paper: D[i, j] = −log p(y_real_i | x_syn_j)
            with self.accel.autocast(images.device):
                logits = ptm.model(self._inputs(ptm, images)).float()
            log_probs = F.log_softmax(logits, dim=1)  # [n_syn, K]
            distance = -log_probs[:, real_labels].t()  # [n_real, n_syn]
        else:
            with self.accel.autocast(images.device):
                syn = F.normalize(ptm.model.embed(self._inputs(ptm, images)).float(), dim=-1)
                real_features = F.normalize(ptm.model.embed(self._inputs(ptm, real_images)).float(), dim=-1)
            distance = 1 - real_features @ syn.t()  # [n_real, n_syn]
        return alpha * (mask * distance).sum() / distance.sum()

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, iteration: int, ctx) -> torch.Tensor:
        """The loop's extra-loss hook. Sampling is seeded by (seed, cell, iteration, call within the iteration), so
        a resumed run samples what an uninterrupted one does (DC/DSA call it once per outer step)."""
        calls = self._calls + 1 if iteration == self._iteration else 0
        self._iteration, self._calls = iteration, calls
        g = ctx.generator("clom", iteration, calls)
        total = torch.zeros((), device=images.device)
        for _ in range(self.config.samples_per_step):
            ptm = self.sample(g)
            real = None
            if self.config.distance == "cos" or self.config.ce_form == "paper":
                index = torch.randint(len(ctx.pool.labels), (self.config.batch_size,), generator=g)
                index = index.to(ctx.pool.images.device)
                real = (ctx.pool.images[index], ctx.pool.labels[index])
            total = total + self.loss_with(ptm, images, labels, real)
        return total / self.config.samples_per_step
