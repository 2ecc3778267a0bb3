"""Bias mitigation modes (``debias``) as strategies: one class per mode, one registry line each. A base module
(it imports no stage): distillation (the real side of a matching step) and zoo training (MTT's experts) both
call it, through three seams —

* **pool weights** (:meth:`DebiasMode.dataset_weights`): one weight per training sample, fixed for the run
  (``kde``: the artifact; ``oracle``: from the true attributes), or None when the weights depend on the batch —
  with what a meta records about the mode;
* **per-class statistic** (:meth:`DebiasMode.real_terms`): what the real batch of a class contributes to a
  matching loss — None for the plain statistic (the reference methods), else a list of :class:`RealTerm` s, each
  a subset or a weighting of the batch; a method turns each term into its own statistic (DM: the embedding mean,
  :meth:`RealTerm.mean`; DC/DSA: the cross-entropy whose gradient is matched, :meth:`RealTerm.cross_entropy`) and
  sums the matching terms;
* **batch weights** (:meth:`DebiasMode.batch_weighting`): for a loss summed over a sampled batch (training a
  network), training-set indices → the batch's weights, used as Σ w·CE / Σ w.

The modes:

* ``none`` — every sample counts the same.
* ``fairdd`` — FairDD's synchronized matching (Zhou et al., NeurIPS 2025; code zqhang/FairDD ``main_DM.py`` /
  ``main_DC.py``): the real batch of class c is split by the attribute groups present in it and every group
  contributes its own term against the *same* synthetic images — DM: Σ_g ‖mean ψ(T_c,g) − mean ψ(S_c)‖²;
  DC/DSA: Σ_g D(∇θ L(S_c), ∇θ L(T_c,g)) — summed, as the code does. A loss summed over samples (an expert's
  cross-entropy) takes the batch's group-balanced weights instead (:func:`group_balanced_weights`).
* ``kde`` — Cui, Wang, Xiong & Hsieh (ICML 2024, arXiv 2406.06609): weight ∝ (kernel density of the sample's
  embedding within its class)^−β (:func:`kde_weights`; the artifact per variant and embedding is made in the zoo
  stage, :mod:`ddstudy.zoo.kde`); the class statistic becomes the weighted one (DM: Σ w ψ / Σ w; DC/DSA: the
  weighted cross-entropy). Deviations F1–F3 in docs/deviations.md.
* ``oracle`` — group-balanced weights of the whole training set from the true attributes: the upper bound
  ``kde`` aims at without attribute labels.
* ``cobra`` — COBRA (Moslemi et al., ICML 2026, arXiv 2605.00185; code mhmoslemi/COBRA ``train_dm.py`` /
  ``train_dc.py``): the real target of class c is the *uniform barycenter* of its attribute groups present in the
  sampled batch, matched once — DM: ‖mean_g mean ψ(T_c,g) − mean ψ(S_c)‖₁ with the embedding network first
  trained K epochs on the current synthetic set; DC/DSA: D(∇θ L(S_c), mean_g ∇θ L(T_c,g)). MTT has no real batch
  to take a barycenter of and COBRA's code has no MTT variant: refused (``acts_on``).

Adding a mode = one :class:`DebiasMode` subclass + one line in :data:`DEBIAS`; the CLI choices, the params
schema's enum, the report's order and styles come from here. torch is imported where a function needs it, so
the study model and the report read this registry without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ddstudy.errors import DDStudyError
from ddstudy.io import load_npz, read_json, sha256_file
from ddstudy.knobs import knob

if TYPE_CHECKING:
    import torch

    from ddstudy.data.meta import DatasetMeta


@dataclass(frozen=True)
class KdeConfig:
    """The KDE weights' embedding (a zoo PTM of the same dataset variant) and kernel."""

    arch: str = knob("ConvNet", "architecture of the embedding PTM (zoo of the dataset being distilled)")
    init: int = knob(0, "init index of the embedding PTM")
    epoch: int = knob(150, "checkpoint epoch of the embedding PTM")
    bandwidth: float | None = knob(None, "Gaussian kernel bandwidth (unset: per class, the median pairwise distance)")
    beta: float = knob(1.0, "weights ∝ density^−β (1: inverse density)")

    def __post_init__(self) -> None:
        if self.bandwidth is not None and self.bandwidth <= 0:
            raise DDStudyError(f"KDE bandwidth must be > 0, got {self.bandwidth}")
        if self.beta < 0:
            raise DDStudyError(f"KDE β must be ≥ 0, got {self.beta}")

    def slug(self) -> str:
        """The weights artifact's name: ``kde-<arch>-i<init>-e<epoch>-b<β>[-h<bandwidth>]``."""
        text = f"kde-{self.arch}-i{self.init}-e{self.epoch}-b{self.beta:g}"
        return text + (f"-h{self.bandwidth:g}" if self.bandwidth is not None else "")

    def kernel_tag(self) -> str:
        """What a ``kde`` set's name adds after ``_kde`` for a kernel other than the default (``-h<bandwidth>``,
        ``-b<β>``; "" for the median bandwidth and β = 1): cells of two bandwidths sit side by side in one grid. The
        embedding (arch, init, epoch) is not in it — one embedding per grid block."""
        default = KdeConfig.__dataclass_fields__
        parts = [f"h{self.bandwidth:g}"] if self.bandwidth != default["bandwidth"].default else []
        parts += [f"b{self.beta:g}"] if self.beta != default["beta"].default else []
        return "".join(f"-{part}" for part in parts)

    @classmethod
    def of_record(cls, record: dict | None) -> KdeConfig | None:
        """The KDE setting a synthetic set's or a metrics record's ``debias`` entry names (None without one)."""
        return cls(**record["kde"]) if record and record.get("kde") else None


# ---------------------------------------------------------------------------------------------- weight formulas
def group_balanced_weights(labels: torch.Tensor, attrs: torch.Tensor) -> torch.Tensor:
    """Sample i of class c and attribute a gets n_c / (G_c · n_{c,a}) (float64): every attribute group present in
    class c carries total weight n_c / G_c, so the class keeps its mass and its weights average 1. Over the whole
    training set these are the ``oracle`` weights; over a sampled batch, FairDD's equal share per group present."""
    import torch

    labels, attrs = labels.long(), attrs.long()
    if len(labels) == 0:
        return torch.zeros(0, dtype=torch.float64, device=labels.device)
    span = int(attrs.max()) + 2  # attributes are ≥ −1 (−1: none)
    groups, group_of, group_size = torch.unique(labels * span + attrs + 1, return_inverse=True, return_counts=True)
    _, class_of_group, groups_per_class = torch.unique(groups // span, return_inverse=True, return_counts=True)
    class_size = torch.zeros(len(groups_per_class), dtype=torch.long, device=labels.device)
    class_size.index_add_(0, class_of_group, group_size)
    per_group = class_size[class_of_group].double() / (groups_per_class[class_of_group] * group_size).double()
    return per_group[group_of]


def oracle_weights(labels: np.ndarray, attrs: np.ndarray) -> np.ndarray:
    """The ``oracle`` weights of a training set (:func:`group_balanced_weights` over all of it), as numpy."""
    import torch

    return group_balanced_weights(torch.as_tensor(labels), torch.as_tensor(attrs)).numpy()


def kde_weights(
    features: np.ndarray, labels: np.ndarray, num_classes: int, bandwidth: float | None = None, beta: float = 1.0
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """(weights, densities, bandwidth per class). Per class, the Gaussian-kernel density of each sample among its
    class, p_i = mean_j exp(−‖z_i − z_j‖² / 2h²) (j over the class, i included), then w_i ∝ p_i^−β, scaled so the
    class's weights average 1. ``bandwidth`` None: h = the median pairwise distance within the class."""
    features = np.asarray(features, dtype=np.float64)
    weights = np.zeros(len(labels), dtype=np.float64)
    density = np.zeros(len(labels), dtype=np.float64)
    widths = []
    for c in range(num_classes):
        index = np.flatnonzero(labels == c)
        z = features[index]
        squared = np.maximum((z * z).sum(1)[:, None] + (z * z).sum(1)[None, :] - 2 * z @ z.T, 0.0)
        if bandwidth is None:
            upper = np.sqrt(squared[np.triu_indices(len(z), k=1)])
            h = float(np.median(upper)) if len(upper) and np.median(upper) > 0 else 1.0
        else:
            h = float(bandwidth)
        widths.append(h)
        p = np.exp(-squared / (2 * h * h)).mean(1)
        w = p**-beta
        density[index] = p
        weights[index] = w / w.mean()
    return weights, density, widths


def load_kde_weights(path: str | Path, dataset_sha256: dict) -> tuple[np.ndarray, dict]:
    """(weights, record) of a weights artifact made for this dataset variant (checked by hash)."""
    check_weights_flag("kde", path)
    path = Path(path).with_suffix(".npz")
    record_path = path.with_suffix(".json")
    record = read_json(record_path) if record_path.is_file() else None
    if not isinstance(record, dict) or record.get("mode") != "kde" or "weights_sha256" not in record:
        raise DDStudyError(
            f"{path} is not a KDE weights artifact (its {record_path.name} is missing or is no KDE record); make "
            "it with `ddstudy debias weights`"
        )
    if record.get("dataset_sha256") != dataset_sha256:
        raise DDStudyError(f"{path}: weights of another dataset variant (sha256 differs); recompute them")
    if sha256_file(path) != record["weights_sha256"]:
        raise DDStudyError(f"{path}: sha256 differs from its JSON; recompute the weights")
    return load_npz(path, {"weights": ("float64", 1), "density": ("float64", 1)})["weights"], record


# ------------------------------------------------------------------------------------------------- the strategies
@dataclass(frozen=True)
class RealTerm:
    """One term of a class's real side: a subset of the sampled batch (``mask``) or a weighting of all of it
    (``weights``, Σ w·x / Σ w). The methods call :meth:`mean` (DM) or :meth:`cross_entropy` (DC/DSA)."""

    mask: torch.Tensor | None = None
    weights: torch.Tensor | None = None

    def mean(self, embeddings: torch.Tensor) -> torch.Tensor:
        """The term's mean embedding (DM's class statistic)."""
        if self.mask is not None:
            return embeddings[self.mask].mean(0)
        w = self.weights.to(embeddings.dtype)
        return (w[:, None] * embeddings).sum(0) / w.sum()

    def cross_entropy(self, logits: torch.Tensor, target: torch.Tensor, own_images: bool = False) -> torch.Tensor:
        """The term's cross-entropy (DC/DSA match its gradient); ``logits`` as the network gave them, of the whole
        batch, or with ``own_images`` of a masked term's images only (``batch[mask]``, its group's own forward)."""
        import torch.nn.functional as F

        from ddstudy.training import batch_loss

        if self.mask is not None:
            return F.cross_entropy((logits if own_images else logits[self.mask]).float(), target[self.mask])
        return batch_loss(logits.float(), target, self.weights.float())


class DebiasMode:
    """A bias mitigation mode: where it acts and what it needs (class attributes), its three seams (methods).
    The defaults are the plain reference behaviour."""

    name: ClassVar[str]
    plain: ClassVar[bool] = False  # real_terms is always None (a method may take its unweighted fast paths)
    needs_attributes: ClassVar[bool] = True  # refused on a clean set (no bias attribute to mitigate)
    reads_weights_file: ClassVar[bool] = False  # --sample-weights (an artifact made beforehand)
    style: ClassVar[tuple[str, str | None]] = ("-", None)  # the report's line style and marker
    # Where the mode can act (a method's MethodSpec.debias): "real batches" (DC/DSA/DM), "experts" (MTT).
    acts_on: ClassVar[frozenset[str]] = frozenset({"real batches", "experts"})
    # How a class's terms meet the synthetic statistic: False — one match per term, summed (FairDD); True — the
    # terms' statistics averaged into one target, matched once (COBRA's barycenter).
    barycenter: ClassVar[bool] = False
    # DM: the embedding network trains on the current synthetic set before each iteration (COBRA).
    warms_up: ClassVar[bool] = False

    def dataset_weights(
        self, labels: np.ndarray, attrs: np.ndarray, meta: DatasetMeta, weights_path
    ) -> tuple[np.ndarray | None, dict | None]:
        """(per-sample weights of the training set fixed for the run — None when the mode needs none —, what a
        synthetic set's or a network's meta records about the mode — None for ``none``)."""
        return None, {"mode": self.name}

    def real_terms(self, index: torch.Tensor, attrs: torch.Tensor, weights: torch.Tensor | None):
        """The real batch of one class (``index`` into the training set; ``attrs``, ``weights`` of the pool) as
        :class:`RealTerm` s, or None for the plain statistic."""
        return None

    def batch_weighting(
        self, labels: torch.Tensor, attrs: torch.Tensor, weights: np.ndarray | None
    ) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """Training-set indices of a batch → its loss weights (None: the plain mean)."""
        return None

    def warm_up(self, net, images, labels, epochs: int, seed: int, strategy: str, device) -> None:
        """DM's embedding network before an iteration's matching (COBRA trains it on the synthetic set first);
        nothing by default — the reference's network is freshly initialised and never trained."""

    def mean_distance(self, real: torch.Tensor, syn: torch.Tensor) -> torch.Tensor:
        """DM's distance between a real and the synthetic mean embedding: ‖·‖² (DM, Eq. 4)."""
        return ((real - syn) ** 2).sum()

    def real_target(self, statistics: list) -> list:
        """The statistics a class's synthetic side is matched against, one match each (summed): the terms' own
        (None/FairDD/KDE/oracle), or with :attr:`barycenter` their uniform mean — a list of one. A statistic is a
        tensor (DM) or a list of per-parameter tensors (DC/DSA's gradient)."""
        if not self.barycenter:
            return statistics
        import torch

        if isinstance(statistics[0], list):
            return [[torch.stack(layer).mean(0) for layer in zip(*statistics, strict=True)]]
        return [torch.stack(statistics).mean(0)]


class NoDebias(DebiasMode):
    name = "none"
    plain = True
    needs_attributes = False

    def dataset_weights(self, labels, attrs, meta, weights_path):
        return None, None


class FairDD(DebiasMode):
    """FairDD (zqhang/FairDD ``main_DM.py``: one ``torch.mean`` per colour present; ``main_DC.py``: one
    ``criterion(output_real[color == col], ...)`` per colour): every attribute group present in the batch is a
    term of its own."""

    name = "fairdd"
    style = ("--", "P")

    def real_terms(self, index, attrs, weights):
        import torch

        batch_attrs = attrs[index]
        return [RealTerm(mask=batch_attrs == group) for group in torch.unique(batch_attrs)]

    def batch_weighting(self, labels, attrs, weights):
        return lambda index: group_balanced_weights(labels[index], attrs[index])


class _PerSampleWeights(DebiasMode):
    """A mode with one weight per training sample: the class statistic is the weighted one."""

    def real_terms(self, index, attrs, weights):
        return [RealTerm(weights=weights[index.to(weights.device)])]

    def batch_weighting(self, labels, attrs, weights):
        import torch

        table = torch.as_tensor(weights, dtype=torch.float64)
        return lambda index: table[index.to(table.device)]


class Kde(_PerSampleWeights):
    """Cui et al. 2024: weights ∝ density^−β of the sample's embedding within its class (the artifact)."""

    name = "kde"
    reads_weights_file = True
    style = (":", "D")

    def dataset_weights(self, labels, attrs, meta, weights_path):
        weights, artifact = load_kde_weights(weights_path, dict(meta.sha256))
        return weights, {"mode": self.name, "kde": artifact["kde"], "weights_sha256": artifact["weights_sha256"]}


class Oracle(_PerSampleWeights):
    """Group-balanced weights of the whole training set from the true attributes."""

    name = "oracle"
    style = ("-.", "*")

    def dataset_weights(self, labels, attrs, meta, weights_path):
        return oracle_weights(labels, attrs), {"mode": self.name}


# COBRA's warm-up of the DM embedding network (train_dm.py): plain SGD at its lr_net, batches of its batch_train.
COBRA_WARMUP_LR = 0.01
COBRA_WARMUP_BATCH = 256


def cobra_warmup_epochs(ipc: int) -> int:
    """COBRA's K when ``--cobra_warmup_epochs`` is unset (−1): 50 at IPC 50, 100 at IPC 100, else 10."""
    return {50: 50, 100: 100}.get(ipc, 10)


class Cobra(FairDD):
    """COBRA (mhmoslemi/COBRA): FairDD's groups of the sampled batch (``for g in torch.unique(color)``), but their
    statistics' uniform mean is the one target — ``train_dm.py``: ``barycenter = torch.mean(torch.stack(
    group_means))``, ``loss += torch.sum((barycenter - torch.mean(output_syn, dim=0)).abs())``; ``train_dc.py``
    ``compute_real_grad_cobra``: the per-group gradients of ``criterion(output_real[mask], ...)`` averaged layer by
    layer, then ``match_loss``. With one group in a class's batch it is the plain target bit for bit (tested).
    Deviations in docs/deviations.md (C1–C4)."""

    name = "cobra"
    style = ("--", "X")
    acts_on = frozenset({"real batches"})
    barycenter = True
    warms_up = True

    def batch_weighting(self, labels, attrs, weights):
        raise DDStudyError("debias cobra acts on real batches only (COBRA has no expert-training counterpart)")

    def mean_distance(self, real, syn):
        return (real - syn).abs().sum()

    def warm_up(self, net, images, labels, epochs: int, seed: int, strategy: str, device) -> None:
        """``train_dm.py``'s warm-start: ``epochs`` passes of ``epoch2('train', ...)`` over a copy of the current
        synthetic set (shuffled, batches of 256, DSA per batch when DM uses it, cross-entropy, SGD lr 0.01 without
        momentum) — on the iteration's fresh network, before its parameters are frozen. Order and augmentation
        draws come from ``seed`` (COBRA's come from the global RNG)."""
        from ddstudy.augment import diff_augment
        from ddstudy.seeding import generator
        from ddstudy.sgd import Sgd
        from ddstudy.training import train_epoch

        if epochs == 0:
            return
        optimizer = Sgd(net.parameters(), lr=COBRA_WARMUP_LR)
        x, y = images.detach().clone(), labels.detach()
        draws = generator(seed, "augment")
        augment = None if strategy == "none" else (lambda b: diff_augment(b, strategy, draws, siamese=False))
        for epoch in range(epochs):
            train_epoch(net, optimizer, x, y, COBRA_WARMUP_BATCH, generator(seed, "order", epoch), device, augment)


def check_acts_on(mode: str, where: str | None, method: str) -> None:
    """A mode runs only where it can act (``MethodSpec.debias`` of the method), else one line before any work."""
    strategy = debias_mode(mode)
    if where is not None and where not in strategy.acts_on:
        places = " and ".join(sorted(strategy.acts_on))
        raise DDStudyError(
            f"debias {mode} acts on {places}; {method} takes its modes on {where}: choose another mode for {method}"
        )


# The registry: report order is this order.
DEBIAS: dict[str, DebiasMode] = {mode.name: mode for mode in (NoDebias(), FairDD(), Kde(), Oracle(), Cobra())}
DEBIAS_MODES = tuple(DEBIAS)


def debias_mode(name: str) -> DebiasMode:
    try:
        return DEBIAS[name]
    except KeyError:
        raise DDStudyError(f"unknown debias mode '{name}'; choose from {', '.join(DEBIAS_MODES)}") from None


def check_weights_flag(mode: str, weights_path: str | Path | None) -> None:
    """``--sample-weights`` goes with a mode that reads a weights file (``kde``) and nothing else: refused before
    any work, both ways."""
    reads = debias_mode(mode).reads_weights_file
    if weights_path is not None and not reads:
        raise DDStudyError(
            f"--sample-weights is read only with --debias kde (here: {mode}); drop it or add --debias kde"
        )
    if weights_path is None and reads:
        raise DDStudyError(f"debias {mode} needs --sample-weights (the `ddstudy debias weights` artifact)")
    if weights_path is not None:
        given = Path(weights_path)
        if given.is_dir():
            raise DDStudyError(
                f"--sample-weights {given} is a folder, not a KDE weights file (<name>.npz with its <name>.json, "
                "from `ddstudy debias weights`)"
            )
        if not given.with_suffix(".npz").is_file():
            raise DDStudyError(
                f"--sample-weights {given}: {given.with_suffix('.npz')} not found; make it with "
                "`ddstudy debias weights` (rule kde_weights)"
            )


def prepare(
    mode: str, labels: np.ndarray, attrs: np.ndarray, meta: DatasetMeta, weights_path: str | Path | None = None
) -> tuple[DebiasMode, np.ndarray | None, dict | None]:
    """(the mode, a dataset variant's per-sample weights for it, what a meta records about it); refused before
    any work when the mode cannot run. ``meta``: the variant's typed ``meta.json`` (its name and hashes)."""
    strategy = debias_mode(mode)
    check_weights_flag(mode, weights_path)
    if strategy.needs_attributes and not bool((np.asarray(attrs) >= 0).any()):
        raise DDStudyError(f"debias {mode} needs bias attributes; {meta.name} has none (a clean set)")
    weights, record = strategy.dataset_weights(labels, attrs, meta, weights_path)
    return strategy, weights, record
