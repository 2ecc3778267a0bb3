"""Sample weights of bias mitigation — shared by distillation (the real side of a matching step) and zoo training
(MTT's expert trajectories), hence a base module that imports no stage.

The modes (``debias``) and what a weight means in each:

* ``none`` — every sample counts the same.
* ``fairdd`` — FairDD's synchronized matching (Zhou et al.; code zqhang/FairDD): every attribute group present in
  the *sampled batch* of a class gets its own, equal share of the class. The matching methods realise it as one
  term per group (:mod:`ddstudy.distill.debias`); a loss that is a sum over samples (an expert's cross-entropy)
  realises it with the batch's group-balanced weights (:func:`group_balanced_weights` of the batch).
* ``kde`` — Cui, Wang, Xiong & Hsieh (ICML 2024, arXiv 2406.06609): weight ∝ (kernel density of the sample's
  embedding within its class)^−β, so rare (bias-conflicting) samples count more (:func:`kde_weights`; the
  artifact per dataset variant and embedding is made by :func:`ddstudy.distill.debias.compute_kde_weights`).
* ``oracle`` — group-balanced weights of the whole training set from the true attributes: the upper bound ``kde``
  aims at without attribute labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ddstudy.errors import DDStudyError
from ddstudy.io import load_npz, read_json, sha256_file
from ddstudy.knobs import knob

DEBIAS_MODES = ("none", "fairdd", "kde", "oracle")
WEIGHTED = ("kde", "oracle")  # modes with one weight per training sample (an artifact or the attributes)


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


def group_balanced_weights(labels: torch.Tensor, attrs: torch.Tensor) -> torch.Tensor:
    """Sample i of class c and attribute a gets n_c / (G_c · n_{c,a}) (float64): every attribute group present in
    class c carries total weight n_c / G_c, so the class keeps its mass and its weights average 1. Over the whole
    training set these are the ``oracle`` weights; over a sampled batch, FairDD's equal share per group present."""
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


def check_weights_flag(mode: str, weights_path: str | Path | None) -> None:
    """``--sample-weights`` goes with ``--debias kde`` and nothing else: refused before any work, both ways."""
    if mode not in DEBIAS_MODES:
        raise DDStudyError(f"unknown debias mode '{mode}'; choose from {', '.join(DEBIAS_MODES)}")
    if weights_path is not None and mode != "kde":
        raise DDStudyError(
            f"--sample-weights is read only with --debias kde (here: {mode}); drop it or add --debias kde"
        )
    if weights_path is None and mode == "kde":
        raise DDStudyError("debias kde needs --sample-weights (the `ddstudy debias weights` artifact)")
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


def sample_weights(
    mode: str, labels: np.ndarray, attrs: np.ndarray, meta: dict, weights_path: str | Path | None = None
) -> tuple[np.ndarray | None, dict | None]:
    """A dataset variant's per-sample weights for ``mode`` (None for ``none``/``fairdd``, whose shares depend on
    the sampled batch) and what a meta records about them; refused before any work when the mode cannot run.
    ``meta``: the variant's ``meta.json`` (its name and hashes)."""
    check_weights_flag(mode, weights_path)
    if mode == "none":
        return None, None
    if not bool((np.asarray(attrs) >= 0).any()):
        raise DDStudyError(f"debias {mode} needs bias attributes; {meta['name']} has none (a clean set)")
    if mode == "kde":
        weights, record = load_kde_weights(weights_path, meta["sha256"])
        return weights, {"mode": mode, "kde": record["kde"], "weights_sha256": record["weights_sha256"]}
    if mode == "oracle":
        return oracle_weights(labels, attrs), {"mode": mode}
    return None, {"mode": mode}


def loss_weighting(
    mode: str, labels: torch.Tensor, attrs: torch.Tensor, weights: np.ndarray | None
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """For a loss summed over a sampled batch (training a network): training-set indices → the batch's weights,
    used as Σ w·CE / Σ w. None for ``none`` (the plain mean). ``fairdd``: the batch's group-balanced weights;
    ``kde``/``oracle``: the per-sample ``weights`` (:func:`sample_weights`)."""
    if mode == "none":
        return None
    if mode == "fairdd":
        return lambda index: group_balanced_weights(labels[index], attrs[index])
    table = torch.as_tensor(weights, dtype=torch.float64)
    return lambda index: table[index.to(table.device)]
