"""Bias mitigation during distillation: what the real side of a matching step sees, per ``debias`` mode.

* ``none`` — the class's real batch as it is (the reference methods).
* ``fairdd`` — FairDD (Zhou et al., "FairDD: Fair Dataset Distillation via Synchronized Matching"; code
  zqhang/FairDD ``main_DM.py`` / ``main_DC.py``): the real batch of class c is split by attribute and every
  attribute group present contributes its own matching term against the *same* synthetic images of the class —
  DM: Σ_g ‖mean ψ(T_c,g) − mean ψ(S_c)‖²; DC/DSA: Σ_g D(∇θ L(S_c), ∇θ L(T_c,g)) — so the bias-aligned majority no
  longer dominates the class statistic. The groups are those present in the sampled batch, summed (not averaged),
  as the code does; the synthetic side is unchanged.
* ``kde`` — Cui, Wang, Xiong & Hsieh (ICML 2024, "Mitigating Bias in Dataset Distillation", arXiv 2406.06609):
  each real sample is weighted inversely to its kernel-density estimate in an embedding space, so rare
  (bias-conflicting) samples count more; the class statistics become weighted means (DM: Σ w ψ / Σ w; DC/DSA: the
  weighted cross-entropy Σ w CE / Σ w). The weights are an artifact computed once per dataset variant and
  embedding (:func:`compute_kde_weights`). Deviations (docs/deviations.md F1–F3): the embedding is a PTM of our zoo
  trained on the same biased set (the paper trains a supervised-contrastive model); features L2-normalised;
  bandwidth by the median heuristic unless set; β = 1 (inverse density) by default.
* ``oracle`` — group-balanced weights from the true attributes: within a class every attribute group present gets
  the same total weight. The upper bound ``kde`` aims at without attribute labels.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ddstudy.errors import DDStudyError
from ddstudy.io import read_json, save_npz, sha256_file, write_json
from ddstudy.knobs import knob

log = logging.getLogger(__name__)

DEBIAS_MODES = ("none", "fairdd", "kde", "oracle")
WEIGHTED = ("kde", "oracle")


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


def oracle_weights(labels: np.ndarray, attrs: np.ndarray, num_classes: int) -> np.ndarray:
    """Group-balanced weights: sample i of class c and attribute a gets n_c / (G_c · n_{c,a}), so every attribute
    group present in class c carries total weight n_c / G_c and the class's weights average 1."""
    weights = np.zeros(len(labels), dtype=np.float64)
    for c in range(num_classes):
        in_class = labels == c
        groups, counts = np.unique(attrs[in_class], return_counts=True)
        size = {int(g): int(n) for g, n in zip(groups, counts, strict=True)}
        index = np.flatnonzero(in_class)
        weights[index] = [in_class.sum() / (len(groups) * size[int(a)]) for a in attrs[index]]
    return weights


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


@torch.no_grad()
def embed_features(model: torch.nn.Module, images: torch.Tensor, device: torch.device, chunk: int = 500) -> np.ndarray:
    """L2-normalised ``embed`` features of every image (in chunks, eval mode)."""
    out = []
    for start in range(0, len(images), chunk):
        feats = model.embed(images[start : start + chunk].to(device)).float()
        out.append(torch.nn.functional.normalize(feats, dim=1).cpu())
    return torch.cat(out).numpy()


def compute_kde_weights(
    dataset_dir: str | Path, zoo_root: str | Path, config: KdeConfig, out: str | Path, device="cpu"
) -> dict:
    """The KDE weights of a dataset variant's training set (``<out>.npz`` + ``<out>.json``), from the embedding of
    its own zoo PTM ``config.arch``/init/epoch. Returns the JSON record."""
    from ddstudy.data.store import load_variant
    from ddstudy.data.tensors import Normalization, to_tensors
    from ddstudy.zoo.store import load_ptm

    out = Path(out)
    variant = load_variant(dataset_dir)
    dataset = variant.meta["name"]
    model, ptm = load_ptm(zoo_root, dataset, config.arch, config.init, config.epoch, device)
    ptm_norm = Normalization(tuple(ptm["normalization"]["mean"]), tuple(ptm["normalization"]["std"]))
    train = to_tensors(variant.train, ptm_norm)  # the PTM sees images as it was trained
    features = embed_features(model, train.images, torch.device(device))
    labels = variant.train.labels.astype(np.int64)
    weights, density, widths = kde_weights(features, labels, variant.meta["num_classes"], config.bandwidth, config.beta)
    digest = save_npz(out.with_suffix(".npz"), {"weights": weights, "density": density})
    aligned = variant.train.attrs == variant.train.labels
    record = {
        "dataset": dataset,
        "dataset_sha256": variant.meta["sha256"],
        "mode": "kde",
        "kde": asdict(config),
        "embedding": {"zoo": dataset, "weights_sha256": ptm["weights_sha256"], "test_acc": ptm["test"]["acc"]},
        "bandwidth_per_class": widths,
        "weights_sha256": digest,
        # How the weights treat the groups (a diagnostic the pipeline never uses): mean weight of each.
        "mean_weight_aligned": float(weights[aligned].mean()) if aligned.any() else None,
        "mean_weight_conflicting": float(weights[~aligned].mean()) if (~aligned).any() else None,
    }
    write_json(out.with_suffix(".json"), record)
    log.info(
        "%s: KDE weights (%s): mean weight aligned %.3f, conflicting %s",
        dataset,
        config.slug(),
        record["mean_weight_aligned"] or float("nan"),
        record["mean_weight_conflicting"],
    )
    return record


def load_kde_weights(path: str | Path, dataset_sha256: dict) -> tuple[np.ndarray, dict]:
    """(weights, record) of a weights artifact made for this dataset variant (checked by hash)."""
    from ddstudy.io import load_npz

    path = Path(path).with_suffix(".npz")
    record_path = path.with_suffix(".json")
    if not path.is_file() or not record_path.is_file():
        raise DDStudyError(f"{path}: KDE weights not found; make them with `ddstudy debias weights` (rule kde_weights)")
    record = read_json(record_path)
    if record["dataset_sha256"] != dataset_sha256:
        raise DDStudyError(f"{path}: weights of another dataset variant (sha256 differs); recompute them")
    if sha256_file(path) != record["weights_sha256"]:
        raise DDStudyError(f"{path}: sha256 differs from its JSON; recompute the weights")
    return load_npz(path, {"weights": ("float64", 1), "density": ("float64", 1)})["weights"], record


def class_statistic_weights(mode: str, weights: torch.Tensor | None, index: torch.Tensor) -> torch.Tensor | None:
    """The sampled batch's weights for a weighted mode (None otherwise)."""
    if mode not in WEIGHTED:
        return None
    return weights[index.to(weights.device)]


def dm_class_loss(
    embed_real: torch.Tensor, mean_syn: torch.Tensor, mode: str, attrs: torch.Tensor | None, w: torch.Tensor | None
) -> torch.Tensor:
    """DM's term of one class: ‖stat(ψ(T_c)) − mean ψ(S_c)‖² with stat = the mean (``none``), the weighted mean
    (``kde``/``oracle``), or FairDD's sum over the attribute groups present (``fairdd``)."""
    if mode == "none":
        return ((embed_real.mean(0) - mean_syn) ** 2).sum()
    if mode == "fairdd":
        loss = torch.zeros((), device=embed_real.device)
        for group in torch.unique(attrs):
            loss = loss + ((embed_real[attrs == group].mean(0) - mean_syn) ** 2).sum()
        return loss
    w = w.to(embed_real.dtype)
    return (((w[:, None] * embed_real).sum(0) / w.sum() - mean_syn) ** 2).sum()
